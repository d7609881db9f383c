"""What an attacker holding a real federation key can make: a well-formed envelope claiming someone else."""

from __future__ import annotations

import hashlib
import os

import msgpack
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from fate.federation.signing import MAGIC, statement
from fatectl.pki import SecretsLayout


def forge(secrets: SecretsLayout, signer: int, src: int, dst: int, job: str, tag: str, payload: bytes) -> bytes:
    """A well-formed envelope claiming `src`, signed with `signer`'s real key and certificate."""
    files = secrets.party(signer)
    key = serialization.load_pem_private_key(files.key_file.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    cert = x509.load_pem_x509_certificate(files.cert_file.read_bytes()).public_bytes(serialization.Encoding.DER)
    session, digest = os.urandom(16), hashlib.sha256(payload).digest()
    sig = key.sign(statement(job, tag, src, dst, session, 0, digest), ec.ECDSA(hashes.SHA256()))
    header = msgpack.packb({"job": job, "tag": tag, "src": src, "dst": dst, "session": session, "seq": 0,
                            "sha256": digest, "cert": cert, "sig": sig})
    return MAGIC + len(header).to_bytes(4, "big") + header + payload
