"""Bundle verification: one streaming pass, nothing written, every failure named.

Member names and types are checked before their data is read (fatectl.bundle.tarball.scan);
every member is hashed as it streams by; then the signature is checked over the exact
manifest bytes, and the manifest is compared with what was actually in the file.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import IO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from fatectl.bundle import signing
from fatectl.bundle.contents import Progress
from fatectl.bundle.manifest import MANIFEST, MAX_MANIFEST_BYTES, SIGNATURE, Manifest, parse_manifest
from fatectl.bundle.tarball import Digest, hash_stream, scan
from fatectl.errors import BundleError, Problem

SECRET_PREFIX = "secrets/"


def no_progress(label: str, advance: int, total: int) -> None:
    return None


def verify_bundle(path: Path, pubkey: Path | None = None, progress: Progress = no_progress) -> Manifest:
    """Check every member name, checksum and size, and the signature; nothing is written.

    With `pubkey` the bundle must be signed by that key. Raises BundleError naming
    every failed check.
    """
    return verify_with_body(Path(path), pubkey, progress)[0]


def verify_with_body(path: Path, pubkey: Path | None, progress: Progress) -> tuple[Manifest, bytes]:
    """verify_bundle, also returning the exact manifest bytes so a later pass can insist on them."""
    public = signing.load_public_key(pubkey) if pubkey is not None else None
    total = path.stat().st_size if path.exists() else 0
    digests: dict[str, Digest] = {}
    meta: dict[str, bytes] = {}

    def handle(name: str, size: int, stream: IO[bytes]) -> None:
        if name in (MANIFEST, SIGNATURE):
            meta[name] = read_small(name, stream)
        else:
            digests[name] = hash_stream(stream)

    scan(path, handle, lambda n: progress(f"verifying {path.name}", n, total))
    return _judge(meta, digests, public), meta[MANIFEST]


def read_small(name: str, stream: IO[bytes]) -> bytes:
    data = stream.read(MAX_MANIFEST_BYTES + 1)
    if len(data) > MAX_MANIFEST_BYTES:
        raise BundleError(f"{name} is larger than {MAX_MANIFEST_BYTES} bytes; not a fatectl manifest")
    return data


def _judge(meta: dict[str, bytes], digests: dict[str, Digest], public: Ed25519PublicKey | None) -> Manifest:
    body = meta.get(MANIFEST)
    if body is None:
        raise BundleError(f"{MANIFEST} is missing: the bundle is truncated or was not made by fatectl")
    signature = meta.get(SIGNATURE)
    if public is not None:
        if signature is None:
            raise BundleError(f"the bundle is not signed ({SIGNATURE} missing), but a trusted public key was given")
        signing.verify(public, body, signature)
    manifest = parse_manifest(body)
    problems: list[Problem] = []
    for name in sorted(set(manifest.files) - set(digests)):
        problems.append(Problem("listed in the manifest but missing from the bundle", path=name))
    for name in sorted(set(digests) - set(manifest.files)):
        problems.append(Problem("extra file not listed in the manifest", path=name))
    for name in sorted(set(digests) & set(manifest.files)):
        want, got = manifest.files[name], digests[name]
        if want.size != got.size:
            problems.append(Problem(f"size {got.size} bytes, manifest says {want.size}", path=name))
        elif want.sha256 != got.sha256:
            problems.append(Problem(f"sha256 {got.sha256[:16]}..., manifest says {want.sha256[:16]}...", path=name))
    problems += _policy_problems(manifest)
    if problems:
        raise BundleError("bundle failed verification", problems)
    return _with_signed(manifest, public is not None)


def _policy_problems(manifest: Manifest) -> list[Problem]:
    """A bundle must never carry a CA key, and a party bundle only one party's secrets."""
    problems = [
        Problem("a CA private key must never travel in a bundle", path=name)
        for name in manifest.files
        if name.rsplit("/", 1)[-1] == "ca.key"
    ]
    owners = {name.split("/")[1] for name in manifest.files if name.startswith(SECRET_PREFIX) and name.count("/") >= 2}
    if manifest.party is None and owners:
        problems.append(Problem(f"a whole-federation bundle carries secrets of {sorted(owners)}", path=SECRET_PREFIX))
    elif len(owners) > 1:
        problems.append(Problem(f"a party bundle carries secrets of several parties: {sorted(owners)}", path=SECRET_PREFIX))
    return problems


def _with_signed(manifest: Manifest, signed: bool) -> Manifest:
    return replace(manifest, signed=signed)
