"""Ed25519 key files and manifest signatures."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from fatectl.bundle import signing
from fatectl.errors import BundleError


def test_keygen_writes_a_private_key_only_its_owner_can_read(tmp_path: Path) -> None:
    pair = signing.generate_keypair(tmp_path / "keys" / "site.key")
    assert stat.S_IMODE(pair.private_path.stat().st_mode) == 0o600
    assert pair.public_path == tmp_path / "keys" / "site.key.pub"
    assert pair.public_path.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    public = signing.load_public_key(pair.public_path)
    assert signing.key_id(public) == pair.key_id == signing.key_id(signing.load_private_key(pair.private_path).public_key())


def test_keygen_never_overwrites(tmp_path: Path) -> None:
    first = signing.generate_keypair(tmp_path / "k")
    before = first.private_path.read_bytes()
    with pytest.raises(signing.SigningKeyError, match="refusing to overwrite"):
        signing.generate_keypair(tmp_path / "k")
    assert first.private_path.read_bytes() == before


def test_sign_and_verify_round_trip_and_raw_base64_keys(tmp_path: Path) -> None:
    pair = signing.generate_keypair(tmp_path / "k")
    private = signing.load_private_key(pair.private_path)
    raw_private = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    raw_public = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    (tmp_path / "raw.key").write_text(base64.b64encode(raw_private).decode() + "\n")
    (tmp_path / "raw.pub").write_text(base64.b64encode(raw_public).decode())
    doc = signing.sign(signing.load_private_key(tmp_path / "raw.key"), b"manifest")
    assert doc == signing.sign(private, b"manifest"), "Ed25519 signatures are deterministic"
    signing.verify(signing.load_public_key(tmp_path / "raw.pub"), b"manifest", doc)
    assert signing.signer_id(doc) == pair.key_id
    with pytest.raises(BundleError, match="signature does not match"):
        signing.verify(signing.load_public_key(pair.public_path), b"manifest!", doc)


def test_forged_key_id_still_fails_on_the_signature(tmp_path: Path) -> None:
    mine = signing.generate_keypair(tmp_path / "mine")
    theirs = signing.generate_keypair(tmp_path / "theirs")
    doc = json.loads(signing.sign(signing.load_private_key(theirs.private_path), b"m"))
    doc["key_id"] = mine.key_id  # claim to be the trusted key
    with pytest.raises(BundleError, match="signature does not match"):
        signing.verify(signing.load_public_key(mine.public_path), b"m", json.dumps(doc).encode())


def test_unusable_key_files_are_named(tmp_path: Path) -> None:
    pair = signing.generate_keypair(tmp_path / "k")
    ec_key = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "ec.pem").write_bytes(
        ec_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    (tmp_path / "junk").write_text("hello")
    with pytest.raises(signing.SigningKeyError, match="expected an Ed25519 private key"):
        signing.load_private_key(tmp_path / "ec.pem")
    with pytest.raises(signing.SigningKeyError, match="is a private key; pass the public key"):
        signing.load_public_key(pair.private_path)
    with pytest.raises(signing.SigningKeyError, match="junk: expected an Ed25519 public key"):
        signing.load_public_key(tmp_path / "junk")
    with pytest.raises(signing.SigningKeyError, match="cannot read key"):
        signing.load_public_key(tmp_path / "absent.pub")


def test_keygen_creates_missing_directories_and_a_world_readable_public_key(tmp_path: Path) -> None:
    pair = signing.generate_keypair(tmp_path / "vendor" / "keys" / "site.key")
    assert stat.S_IMODE(pair.private_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(pair.public_path.stat().st_mode) == 0o644


def test_a_raw_key_must_be_exactly_32_bytes_of_strict_base64(tmp_path: Path) -> None:
    good = signing.generate_keypair(tmp_path / "k").public_path
    raw = signing.load_public_key(good).public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    for name, text in (("short", base64.b64encode(raw[:31])), ("long", base64.b64encode(raw + b"\0")),
                       ("stray", base64.b64encode(raw)[:20] + b"!" + base64.b64encode(raw)[20:])):
        (tmp_path / name).write_bytes(text)
        with pytest.raises(signing.SigningKeyError, match="expected an Ed25519 public key"):
            signing.load_public_key(tmp_path / name)
