"""`fatectl bundle load`: verify, unpack while re-hashing, docker load, optionally push.

Nothing from a bundle reaches its destination before every checksum (and the signature,
when a key is given) has been checked in a first streaming pass; the unpacking pass
checks every member again, because the file may change between the two.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from fatectl.bundle.contents import Progress, io_errors
from fatectl.bundle.manifest import MANIFEST, SIGNATURE, Manifest
from fatectl.bundle.site import SPEC_MEMBER, retarget, site_commands
from fatectl.bundle.tarball import hash_stream, scan
from fatectl.bundle.verify import SECRET_PREFIX, no_progress, read_small, verify_with_body
from fatectl.docker.store import DockerImages, ImageStore
from fatectl.errors import BundleError
from fatectl.files import open_new
from fatectl.spec.loader import load_federation


@dataclass(frozen=True)
class LoadResult:
    manifest: Manifest
    directory: Path  # where the bundle was unpacked, after verification
    images: tuple[str, ...]  # references now in the local engine (and pushed, with a registry)
    commands: tuple[str, ...]  # what to run next at this site, exactly


def load_bundle(
    path: Path,
    pubkey: Path | None = None,
    registry: str | None = None,
    *,
    allow_unsigned: bool = False,
    dest: Path | None = None,
    images: ImageStore | None = None,
    progress: Progress = no_progress,
) -> LoadResult:
    """Verify, unpack into `dest`, `docker load` the images, optionally push them to `registry`.

    A site installs what it loads, so the bundle's origin is checked by default: without
    `pubkey` the caller must say `allow_unsigned` (the result then says it was not checked).
    """
    path = Path(path)
    if pubkey is None and not allow_unsigned:
        raise BundleError(
            f"{path}: give the publisher's public key (--pubkey KEY.pub) so its signature is checked, "
            "or --allow-unsigned to load a bundle whose origin you checked another way"
        )
    manifest, body = verify_with_body(path, pubkey, progress)
    dest = Path(dest) if dest is not None else Path.cwd() / default_directory(path)
    if dest.exists():
        raise BundleError(f"{dest} already exists; remove it or pass another destination")
    store = images if images is not None else DockerImages()
    store.check()  # before unpacking hundreds of MB that could not be loaded anyway
    with io_errors(f"cannot unpack into {dest}"):
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.partial-"))
        try:
            _extract(path, manifest, body, staging, progress)
            os.replace(staging, dest)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    fed = load_federation(dest / SPEC_MEMBER)
    refs: list[str] = []
    for entry in manifest.images:
        loaded = store.load(dest / entry.file)
        if entry.id not in loaded:
            raise BundleError(f"{entry.file}: docker loaded {', '.join(loaded) or 'nothing'}, manifest says {entry.id}")
        refs += entry.tags
        for tag in entry.tags if registry else ():
            target = retarget(fed, tag, registry or "")
            store.push(entry.id, target)
            refs.append(target)
    return LoadResult(manifest, dest, tuple(refs), site_commands(dest, fed, manifest, registry))


def default_directory(bundle: Path) -> str:
    name = bundle.name
    for suffix in (".tar.gz", ".tgz", ".tar"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name + ".d"


def _extract(path: Path, manifest: Manifest, body: bytes, staging: Path, progress: Progress) -> None:
    """Second pass: write members under `staging`, re-checking each against the verified manifest.

    The file may have changed since the first pass, so nothing is trusted twice.
    """
    seen: set[str] = set()
    total = path.stat().st_size

    def handle(name: str, size: int, stream: IO[bytes]) -> None:
        if name == MANIFEST:
            if read_small(name, stream) != body:
                raise BundleError(f"{MANIFEST} changed while the bundle was being unpacked")
            data_target = staging / MANIFEST
            data_target.write_bytes(body)
            return
        if name == SIGNATURE:
            (staging / SIGNATURE).write_bytes(read_small(name, stream))
            return
        want = manifest.files.get(name)
        if want is None or want.size != size:
            raise BundleError(f"{name}: does not match the verified manifest (the bundle changed while being unpacked)")
        target = staging / name
        private = name.startswith(SECRET_PREFIX)
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700 if private else 0o755)
        with open_new(target, 0o600 if private else 0o644) as sink:
            got = hash_stream(stream, sink)
        if (got.sha256, got.size) != (want.sha256, want.size):
            raise BundleError(
                f"{name}: sha256 {got.sha256[:16]}... on the unpacking pass, the verified manifest says "
                f"{want.sha256[:16]}... (the file changed after it was verified); nothing was loaded"
            )
        seen.add(name)

    scan(path, handle, lambda n: progress(f"unpacking {path.name}", n, total))
    missing = sorted(set(manifest.files) - seen)
    if missing:
        raise BundleError(f"files vanished while the bundle was being unpacked: {', '.join(missing)}")
