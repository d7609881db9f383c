"""Fixtures for bundle tests: a small real spec, real secrets, and a fake image store.

The image store is the one faked boundary (the Docker engine); tests/bundle/test_e2e.py
runs the same code against the real engine.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from fatectl.bundle import create_bundle
from fatectl.imagestore import SavedImage, saved_image_id
from fatectl.manifest import Manifest
from fatectl.signing import generate_keypair
from fatectl.spec.loader import load_federation
from fatectl.spec.model import Federation

SPEC = """\
apiVersion: fatectl/v1
name: tiny-fed
engine: {image: fatectl-test-engine, tag: "1"}
security: {tls: mutual}
exchange: {enabled: false}
parties:
  - {id: 9999, name: bank-a, address: a.example, modules: [router, flow]}
  - {id: 10000, name: bank-b, address: b.example, modules: [router, flow]}
"""


def _config(ref: str) -> bytes:
    return json.dumps({"config": {"Cmd": ["true"], "Labels": {"ref": ref}}, "rootfs": {"type": "layers"}}).encode()


def _saved_archive(ref: str) -> bytes:
    """A small archive shaped like `docker save` output, identical on every call."""
    config = _config(ref)
    config_hex = hashlib.sha256(config).hexdigest()
    files = {
        f"{config_hex}.json": config,
        "manifest.json": json.dumps([{"Config": f"{config_hex}.json", "RepoTags": [ref], "Layers": []}]).encode(),
        "layer.bin": bytes(range(256)) * 64,  # 16 KiB of payload to tamper with
    }
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class FakeImages:
    """ImageStore stand-in: deterministic saves, recorded loads and pushes."""

    def __init__(self) -> None:
        self.loaded: list[bytes] = []
        self.pushed: list[tuple[str, str]] = []
        self.saves = 0

    def check(self) -> None:
        return None

    @staticmethod
    def image_id(ref: str) -> str:
        return "sha256:" + hashlib.sha256(_config(ref)).hexdigest()

    def describe(self, ref: str) -> SavedImage:
        return SavedImage(self.image_id(ref), (ref,), len(_saved_archive(ref)))

    def save(self, ref: str, dest: Path, advance=None) -> None:  # type: ignore[no-untyped-def]
        self.saves += 1
        data = _saved_archive(ref)
        dest.write_bytes(data)
        if advance is not None:
            advance(len(data))

    def load(self, archive: Path) -> tuple[str, ...]:
        self.loaded.append(archive.read_bytes())
        return (saved_image_id(archive),)

    def push(self, image_id: str, target: str) -> None:
        self.pushed.append((image_id, target))


@pytest.fixture(scope="session")
def spec_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("spec") / "federation.yaml"
    path.write_text(SPEC)
    return path


@pytest.fixture(scope="session")
def fed(spec_file: Path) -> Federation:
    return load_federation(spec_file)


@pytest.fixture(scope="session")
def wheels_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("wheels")
    # Contents are opaque to the bundle; only names and bytes matter here.
    (d / "fatectl-0.1.0-py3-none-any.whl").write_bytes(b"PK\x05\x06" + b"\x00" * 18)
    (d / "msgpack-1.0.8-cp311-cp311-manylinux_2_17_x86_64.whl").write_bytes(b"PK\x05\x06" + b"\x00" * 18)
    return d


@pytest.fixture(scope="session")
def secrets_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("secrets") / "secrets"


@pytest.fixture(scope="session")
def keypair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    pair = generate_keypair(tmp_path_factory.mktemp("keys") / "signing.key")
    return pair.private_path, pair.public_path


@pytest.fixture(scope="session")
def other_keypair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    pair = generate_keypair(tmp_path_factory.mktemp("keys2") / "other.key")
    return pair.private_path, pair.public_path


@pytest.fixture(scope="session")
def signed_bundle(
    tmp_path_factory: pytest.TempPathFactory, fed: Federation, wheels_dir: Path, keypair: tuple[Path, Path]
) -> tuple[Path, Manifest]:
    out = tmp_path_factory.mktemp("bundle") / "tiny-fed.tar"
    manifest = create_bundle(fed, out, sign_key=keypair[0], wheels_dir=wheels_dir, images=FakeImages(), compress=False)
    return out, manifest


@pytest.fixture(scope="session")
def party_bundle(
    tmp_path_factory: pytest.TempPathFactory, fed: Federation, wheels_dir: Path, secrets_dir: Path
) -> tuple[Path, Manifest]:
    out = tmp_path_factory.mktemp("party") / "bank-a.tar"
    manifest = create_bundle(
        fed, out, party=9999, secrets_dir=secrets_dir, wheels_dir=wheels_dir, images=FakeImages(), compress=False
    )
    return out, manifest
