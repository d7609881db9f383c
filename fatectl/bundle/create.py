"""`fatectl bundle create`: one deterministic, optionally signed file for air-gapped sites.

A bundle is one deterministic tar (see fatectl.bundle.tarball) holding

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
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import fate
from fatectl import __version__
from fatectl.bundle import signing
from fatectl.bundle.contents import (
    Member,
    Progress,
    io_errors,
    stage_charts,
    stage_compose,
    stage_party_secrets,
    stage_wheels,
)
from fatectl.bundle.manifest import MANIFEST, SIGNATURE, FileEntry, ImageEntry, Manifest
from fatectl.bundle.site import SPEC_MEMBER
from fatectl.bundle.tarball import TarWriter
from fatectl.bundle.verify import no_progress
from fatectl.docker.store import DockerImages, ImageStore, saved_image_id
from fatectl.errors import BundleError
from fatectl.spec.model import Federation


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
    if party is not None:
        fed.node(party)  # unknown ids fail here, before anything slow
    spec_file = Path(fed.source) if fed.source else None
    if spec_file is None or not spec_file.is_file():
        raise BundleError("the bundle needs the spec file itself; load the federation from a file")
    # Cheap checks first: a bad key or a missing image must not cost a multi-minute save.
    if party is not None and secrets_dir is None:
        raise BundleError("a party bundle carries the party's TLS key: pass the federation's secrets directory")
    private = signing.load_private_key(sign_key) if sign_key is not None else None
    store = images if images is not None else DockerImages()
    image = store.describe(fed.engine.ref)
    with io_errors(f"cannot write the bundle {out}"):
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


def _write(
    out: Path,
    members: list[Member],
    compress: bool,
    private: Ed25519PrivateKey | None,
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


