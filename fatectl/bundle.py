"""Offline bundles for air-gapped sites: create, verify, load.

A bundle is one deterministic tar (see fatectl.tarball) holding

    charts/<party>/<chart>-<version>.tgz   each party's Helm chart, packaged by Helm
    compose/...                    the compose lab project (whole-federation bundles)
    images/<name>.tar              `docker save` of the engine image
    secrets/<party>/{ca.crt,tls.crt,tls.key}   party bundles only: that party's own TLS
    spec/federation.yaml           the spec, as written
    wheels/*.whl                   fatectl and engine wheels, for `pip install --no-index`
    manifest.json, manifest.sig    written last: checksums, image ids, versions, scope

A whole-federation bundle carries no secrets at all (its compose lab generates its own);
a party bundle carries only that party's certificate and key, never another party's and
never the CA key. Nothing from a bundle reaches its destination before every checksum
(and the signature, when a key is given) has been checked in a first streaming pass.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import IO

import fate
from fatectl import __version__, signing
from fatectl.bundlecheck import SECRET_PREFIX, no_progress, read_small, verify_bundle, verify_with_body
from fatectl.bundlefiles import (
    Member,
    Progress,
    stage_charts,
    stage_compose,
    stage_party_secrets,
    stage_wheels,
)
from fatectl.bundlesite import SPEC_MEMBER, retarget, site_commands
from fatectl.errors import BundleError
from fatectl.imagestore import DockerImages, ImageStore, saved_image_id
from fatectl.manifest import (
    MANIFEST,
    SIGNATURE,
    FileEntry,
    ImageEntry,
    Manifest,
)
from fatectl.spec.model import Federation
from fatectl.tarball import TarWriter, hash_stream, scan

__all__ = ["LoadResult", "create_bundle", "create_spec_bundle", "load_bundle", "verify_bundle"]


@contextmanager
def _io_errors(what: str) -> Iterator[None]:
    """Disk trouble (permissions, a full disk) becomes a message, not a traceback."""
    try:
        yield
    except OSError as err:
        raise BundleError(f"{what}: {err.strerror or err}") from None


def image_member(ref: str) -> str:
    """Bundle member name for an image reference, e.g. images/fate-engine_0.1.0.tar."""
    flat = ref.rsplit("/", 1)[-1].replace(":", "_").replace("@", "_")
    return f"images/{flat}.tar"


def create_bundle(
    fed: Federation,
    out: Path,
    *,
    party: int | None = None,
    sign_key: Path | None = None,
    secrets_dir: Path | None = None,
    wheels_dir: Path | None = None,
    images: ImageStore | None = None,
    compress: bool = True,
    progress: Progress = no_progress,
) -> Manifest:
    """Write the bundle for `fed` (or only `party`) to `out`; return its manifest.

    Two calls with the same inputs write identical bytes.
    """
    out = Path(out)
    if party is not None and not (fed.exchange.enabled and party == fed.exchange.id):
        fed.party(party)  # unknown ids fail here, before anything slow
    spec_file = Path(fed.source) if fed.source else None
    if spec_file is None or not spec_file.is_file():
        raise BundleError("the bundle needs the spec file itself; load the federation from a file")
    # Cheap checks first: a bad key or a missing image must not cost a multi-minute save.
    if party is not None and secrets_dir is None:
        raise BundleError("a party bundle carries the party's TLS key: pass the federation's secrets directory")
    private = signing.load_private_key(sign_key) if sign_key is not None else None
    store = images if images is not None else DockerImages()
    image = store.describe(fed.engine.ref)
    with _io_errors(f"cannot write the bundle {out}"):
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=out.parent, prefix=".bundle-stage-") as tmp:
            stage = Path(tmp)
            members = [Member(SPEC_MEMBER, spec_file)]
            members += stage_charts(fed, party, stage / "charts", progress)
            if party is None:
                members += stage_compose(fed, stage / "compose")
            elif secrets_dir is not None:
                members += stage_party_secrets(fed, party, secrets_dir)
            if wheels_dir is not None:
                members += stage_wheels(wheels_dir)
            image_file = stage / "image.tar"
            store.save(fed.engine.ref, image_file, lambda n: progress(f"docker save {fed.engine.ref}", n, image.approx_size))
            if saved_image_id(image_file) != image.id:
                raise BundleError(f"image {fed.engine.ref} changed while it was being saved (rebuilt?); run again")
            member_name = image_member(fed.engine.ref)
            members.append(Member(member_name, image_file))
            manifest = _write(
                out,
                sorted(members, key=lambda m: m.name),
                compress,
                private,
                lambda files: Manifest(
                    federation=fed.name,
                    party=party,
                    fatectl_version=__version__,
                    engine_version=f"{fate.__version__} ({fed.engine.ref})",
                    files=files,
                    images=(ImageEntry(member_name, image.id, (fed.engine.ref,)),),
                ),
                progress,
            )
        return manifest


def create_spec_bundle(
    spec: str | Path,
    out: str | Path,
    *,
    party: int | None = None,
    sign_key: str | Path | None = None,
    secrets_dir: str | Path | None = None,
    wheels_dir: str | Path | None = None,
    with_wheels: bool = True,
    compress: bool = True,
    progress: Progress = no_progress,
) -> Manifest:
    """`fatectl bundle create`: load and validate SPEC, then create its bundle."""
    from fatectl.spec.loader import load_federation

    wheels = None
    if with_wheels:
        wheels = Path(wheels_dir) if wheels_dir is not None else default_wheels_dir()
    return create_bundle(
        load_federation(spec),
        Path(out),
        party=party,
        sign_key=Path(sign_key) if sign_key is not None else None,
        secrets_dir=Path(secrets_dir) if secrets_dir is not None else None,
        wheels_dir=wheels,
        compress=compress,
        progress=progress,
    )


def default_wheels_dir() -> Path:
    """The wheel cache `fatectl images build` fills in the source tree."""
    return Path(__file__).resolve().parent.parent / ".cache" / "wheels"


def _write(
    out: Path,
    members: list[Member],
    compress: bool,
    private: signing.Ed25519PrivateKey | None,
    make_manifest: Callable[[MappingProxyType[str, FileEntry]], Manifest],
    progress: Progress,
) -> Manifest:
    names = [m.name for m in members]
    if len(set(names)) != len(names):
        raise BundleError(f"two bundle members share a name: {sorted(n for n in names if names.count(n) > 1)}")
    total = sum(m.source.stat().st_size for m in members)
    partial = out.with_name(out.name + ".partial")
    files: dict[str, FileEntry] = {}
    try:
        with TarWriter(partial, compress) as tar:
            for m in members:
                digest = tar.add_file(m.name, m.source, m.mode, lambda n: progress(f"writing {out.name}", n, total))
                files[m.name] = FileEntry(digest.sha256, digest.size)
            manifest = make_manifest(MappingProxyType(files))
            body = manifest.to_json()
            tar.add_bytes(MANIFEST, body)
            if private is not None:
                tar.add_bytes(SIGNATURE, signing.sign(private, body))
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return manifest


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
    dest: Path | None = None,
    images: ImageStore | None = None,
    progress: Progress = no_progress,
) -> LoadResult:
    """Verify, unpack into `dest`, `docker load` the images, optionally push them to `registry`."""
    path = Path(path)
    manifest, body = verify_with_body(path, pubkey, progress)
    dest = Path(dest) if dest is not None else Path.cwd() / default_directory(path)
    if dest.exists():
        raise BundleError(f"{dest} already exists; remove it or pass another destination")
    store = images if images is not None else DockerImages()
    store.check()  # before unpacking hundreds of MB that could not be loaded anyway
    with _io_errors(f"cannot unpack into {dest}"):
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.partial-"))
        try:
            _extract(path, manifest, body, staging, progress)
            os.replace(staging, dest)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    from fatectl.spec.loader import load_federation

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
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        with os.fdopen(os.open(target, flags, 0o600 if private else 0o644), "wb") as sink:
            got = hash_stream(stream, sink)
        if (got.sha256, got.size) != (want.sha256, want.size):
            raise BundleError(f"{name}: changed while the bundle was being unpacked")
        seen.add(name)

    scan(path, handle, lambda n: progress(f"unpacking {path.name}", n, total))
    missing = sorted(set(manifest.files) - seen)
    if missing:
        raise BundleError(f"files vanished while the bundle was being unpacked: {', '.join(missing)}")
