"""Fixtures for bundle tests: a small real spec, real secrets, real Helm, a fake image store."""

from __future__ import annotations

from pathlib import Path

import pytest

from fatectl.bundle.create import create_bundle
from fatectl.bundle.manifest import Manifest
from fatectl.bundle.signing import generate_keypair
from fatectl.spec.loader import load_federation
from fatectl.spec.model import Federation

from .fakes import FakeImages

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
