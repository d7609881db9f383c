"""Ed25519 keys and detached signatures for offline bundle manifests.

Keys are read from PEM (PKCS#8 private, SubjectPublicKeyInfo public) or from the raw
32-byte key in base64, so a key pasted from another tool works too. Signatures are
written as a small JSON document naming the key that made them, so a mismatch can be
reported as "signed by X, expected Y" instead of a bare "bad signature".
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from fatectl.errors import BundleError
from fatectl.files import create_file

ALGORITHM = "ed25519"


class SigningKeyError(BundleError):
    """A signing key file is missing, unreadable or not an Ed25519 key."""


@dataclass(frozen=True)
class KeyPair:
    private_path: Path
    public_path: Path
    key_id: str


def key_id(public: Ed25519PublicKey) -> str:
    """Short fingerprint of a public key: first 16 hex digits of sha256 over the raw key."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def generate_keypair(private_path: Path) -> KeyPair:
    """Write a new private key (0600) to `private_path` and its public key to `<path>.pub`.

    Refuses to overwrite either file: losing a signing key silently would orphan every
    bundle already signed with it.
    """
    private_path = Path(private_path)
    public_path = private_path.with_name(private_path.name + ".pub")
    for path in (private_path, public_path):
        if path.exists():
            raise SigningKeyError(f"{path} already exists; refusing to overwrite a key")
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    private_path.parent.mkdir(parents=True, exist_ok=True)
    create_file(private_path, pem, 0o600)
    public = private.public_key()
    create_file(
        public_path,
        public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
        0o644,
    )
    return KeyPair(private_path, public_path, key_id(public))


def _read_key_text(path: Path) -> bytes:
    try:
        return Path(path).read_bytes().strip()
    except OSError as err:
        raise SigningKeyError(f"cannot read key {path}: {err.strerror or err}") from None


def _raw_base64(data: bytes) -> bytes | None:
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 32 else None


def load_private_key(path: Path) -> Ed25519PrivateKey:
    key = _load_key(Path(path), private=True)
    assert isinstance(key, Ed25519PrivateKey)
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    key = _load_key(Path(path), private=False)
    assert isinstance(key, Ed25519PublicKey)
    return key


def _load_key(path: Path, private: bool) -> Ed25519PrivateKey | Ed25519PublicKey:
    kind, expected = ("private", Ed25519PrivateKey) if private else ("public", Ed25519PublicKey)
    data = _read_key_text(path)
    if not private and b"PRIVATE KEY" in data:
        raise SigningKeyError(f"{path}: is a private key; pass the public key (.pub) to verify")
    if data.startswith(b"-----BEGIN"):
        try:
            key: object = (
                serialization.load_pem_private_key(data, password=None)
                if private
                else serialization.load_pem_public_key(data)
            )
        except (ValueError, TypeError) as err:
            raise SigningKeyError(f"{path}: not a readable unencrypted PEM {kind} key ({err})") from None
        if not isinstance(key, expected):
            raise SigningKeyError(f"{path}: is a {type(key).__name__}, expected an Ed25519 {kind} key")
        return key
    raw = _raw_base64(data)
    if raw is None:
        raise SigningKeyError(f"{path}: expected an Ed25519 {kind} key (PEM, or 32 raw bytes in base64)")
    return Ed25519PrivateKey.from_private_bytes(raw) if private else Ed25519PublicKey.from_public_bytes(raw)


def sign(private: Ed25519PrivateKey, message: bytes) -> bytes:
    """Detached signature document (JSON bytes, deterministic: Ed25519 signing is)."""
    doc = {
        "algorithm": ALGORITHM,
        "key_id": key_id(private.public_key()),
        "signature": base64.b64encode(private.sign(message)).decode("ascii"),
    }
    return (json.dumps(doc, sort_keys=True, indent=2) + "\n").encode("utf-8")


def signer_id(signature_doc: bytes) -> str:
    """The key id a signature document claims, for messages; raises BundleError if unreadable."""
    return _parse(signature_doc)[0]


def verify(public: Ed25519PublicKey, message: bytes, signature_doc: bytes) -> None:
    """Raise BundleError naming both keys unless `signature_doc` is `public`'s signature of `message`."""
    claimed, signature = _parse(signature_doc)
    expected = key_id(public)
    if claimed != expected:
        raise BundleError(f"manifest.sig: signed by key {claimed}, but the trusted key is {expected}")
    try:
        public.verify(signature, message)
    except InvalidSignature:
        raise BundleError(
            f"manifest.sig: signature does not match manifest.json (key {expected}); "
            "the manifest was changed after signing"
        ) from None


def _parse(signature_doc: bytes) -> tuple[str, bytes]:
    try:
        doc = json.loads(signature_doc)
        if not isinstance(doc, dict):
            raise ValueError("not an object")
        algorithm, claimed, sig_b64 = doc["algorithm"], doc["key_id"], doc["signature"]
        if algorithm != ALGORITHM:
            raise ValueError(f"algorithm {algorithm!r}, expected {ALGORITHM!r}")
        if not isinstance(claimed, str) or not isinstance(sig_b64, str):
            raise ValueError("key_id and signature must be strings")
        signature = base64.b64decode(sig_b64, validate=True)
    except (ValueError, KeyError, TypeError, binascii.Error) as err:
        raise BundleError(f"manifest.sig: not a valid signature document ({err})") from None
    return claimed, signature
