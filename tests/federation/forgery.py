"""What an attacker holding a real federation key can make: a well-formed envelope claiming someone else."""

from __future__ import annotations

import hashlib
import os

import msgpack
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from fate.federation.signing import MAGIC, statement
from fatectl.pki import SecretsLayout

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


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


def envelope(key: PrivateKey, cert: bytes, src: int, dst: int, job: str, tag: str, payload: bytes,
             seq: int = 0, header_size: int | None = None) -> bytes:
    """An envelope signed with any key and carrying any certificate (DER), its certificate padded with
    zero bytes to make the header exactly `header_size` bytes when given."""
    session, digest = os.urandom(16), hashlib.sha256(payload).digest()
    signed = statement(job, tag, src, dst, session, seq, digest)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        sig = key.sign(signed, ec.ECDSA(hashes.SHA256()))
    else:
        sig = key.sign(signed, padding.PKCS1v15(), hashes.SHA256())
    pad = 0
    for _ in range(3):  # msgpack's length prefix of the certificate may grow with the padding
        header = msgpack.packb({"job": job, "tag": tag, "src": src, "dst": dst, "session": session, "seq": seq,
                                "sha256": digest, "cert": cert + b"\0" * pad, "sig": sig})
        pad += 0 if header_size is None else header_size - len(header)
    assert header_size is None or len(header) == header_size
    return MAGIC + len(header).to_bytes(4, "big") + header + payload
