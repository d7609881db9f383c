"""End-to-end message signatures: nobody but a party can speak for it, not even the exchange.

Routers authenticate the hop they talk to, and an exchange relays every party's
messages, so a router cannot tell who wrote a message it is handed. Each message
therefore carries its sender's certificate and an ECDSA (SHA-256) signature made
with the sender's own party key over

    (job_id, tag, src, dst, session, sequence, sha256(payload))

and the receiver checks the certificate chains to the federation CA and names
`party-<src>`, and that what was signed is exactly what it asked for. The
sequence number (per sender session and job) lets the receiver refuse replays
(fate.federation.signed).

Wire format: MAGIC, a 4-byte header length, a msgpack header, then the payload.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from fate.federation.errors import ConfigError
from fate.federation.transport import TransportError

MAGIC = b"FATE-SIG1"
HEADER_MAX = 64 * 1024
_DOMAIN = b"fate.federation signed message v1"
_IDENTITY = re.compile(r"party-(\d+)")
_CACHE = 256  # verified certificates remembered (by fingerprint)
_FIELDS = {"job": str, "tag": str, "src": int, "dst": int, "session": bytes, "seq": int, "sha256": bytes,
           "cert": bytes, "sig": bytes}


class AuthenticationError(TransportError):
    """A received message is not what its claimed sender signed for this receiver: it is refused."""


@dataclass(frozen=True)
class Envelope:
    job: str
    tag: str
    src: int
    dst: int
    session: bytes
    seq: int
    sha256: bytes
    cert: bytes
    sig: bytes


def statement(job: str, tag: str, src: int, dst: int, session: bytes, seq: int, digest: bytes) -> bytes:
    """The bytes a signature covers: every field length-prefixed, so no two messages share them."""
    parts = [_DOMAIN, job.encode(), tag.encode(), _u64(src), _u64(dst), session, _u64(seq), digest]
    return b"".join(len(p).to_bytes(4, "big") + p for p in parts)


def _u64(value: int) -> bytes:
    if not 0 <= value < 2**64:
        raise TransportError(f"{value} is not a party id or sequence number")
    return value.to_bytes(8, "big")


def party_of(cert: x509.Certificate) -> int | None:
    for attr in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME):
        match = _IDENTITY.fullmatch(str(attr.value))
        if match:
            return int(match.group(1))
    return None


class Signer:
    """Signs as one party, with the key of its TLS certificate."""

    def __init__(self, party_id: int, cert_file: str, key_file: str) -> None:
        try:
            cert = x509.load_pem_x509_certificate(Path(cert_file).read_bytes())
            key = serialization.load_pem_private_key(Path(key_file).read_bytes(), password=None)
        except (OSError, ValueError, TypeError) as err:
            raise ConfigError(f"cannot load the party key ({cert_file}, {key_file}): {err}") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ConfigError(f"{key_file}: the party key must be an EC key (ECDSA P-256)")
        if party_of(cert) != party_id:
            raise ConfigError(f"{cert_file} is not the certificate of party-{party_id}")
        if cert.public_key() != key.public_key():
            raise ConfigError(f"{key_file} is not the key of {cert_file}")
        self.party_id = party_id
        self._key = key
        self._cert = cert.public_bytes(serialization.Encoding.DER)

    def seal(self, job: str, tag: str, dst: int, session: bytes, seq: int, payload: bytes) -> bytes:
        return self.prefix(job, tag, dst, session, seq, payload) + payload

    def prefix(self, job: str, tag: str, dst: int, session: bytes, seq: int, payload: bytes) -> bytes:
        """What goes before the payload on the wire (sent as its own part, so the payload is not copied)."""
        digest = hashlib.sha256(payload).digest()
        sig = self._key.sign(statement(job, tag, self.party_id, dst, session, seq, digest), ec.ECDSA(hashes.SHA256()))
        header = msgpack.packb({"job": job, "tag": tag, "src": self.party_id, "dst": dst, "session": session,
                                "seq": seq, "sha256": digest, "cert": self._cert, "sig": sig})
        return b"".join((MAGIC, len(header).to_bytes(4, "big"), header))


@dataclass(frozen=True)
class _Known:
    party_id: int
    key: ec.EllipticCurvePublicKey
    not_before: dt.datetime
    not_after: dt.datetime


class Verifier:
    """Checks messages received by party `me` against the federation CA."""

    def __init__(self, me: int, ca_file: str) -> None:
        try:
            self._cas = x509.load_pem_x509_certificates(Path(ca_file).read_bytes())
        except (OSError, ValueError) as err:
            raise ConfigError(f"cannot load the federation CA {ca_file}: {err}") from None
        self.me = me
        self._known: OrderedDict[bytes, _Known] = OrderedDict()
        self._lock = threading.Lock()

    def open(self, raw: bytes | bytearray, job: str, tag: str, src: int) -> tuple[Envelope, bytes]:
        """The payload of a message (job, tag) claimed to come from `src`, if it proves it; else AuthenticationError."""
        what = f"rejected {tag!r} of job {job} from party {src}"
        env, start = _parse(raw, what)
        signer = self._certificate(env.cert, what)
        try:
            signer.key.verify(env.sig, statement(env.job, env.tag, env.src, env.dst, env.session, env.seq,
                                                 env.sha256), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise AuthenticationError(f"{what}: the signature does not verify (the header was altered)") from None
        if signer.party_id != env.src:
            raise AuthenticationError(
                f"{what}: it is signed with the certificate of party-{signer.party_id}, "
                f"which cannot speak for party {env.src}")
        if env.src != src:
            raise AuthenticationError(f"{what}: it was signed by party {env.src} (a forged sender)")
        if env.dst != self.me:
            raise AuthenticationError(
                f"{what}: it was addressed to party {env.dst}, not to this party ({self.me}): redirected")
        if env.job != job:
            raise AuthenticationError(f"{what}: it was signed for job {env.job!r} (replayed from another job)")
        if env.tag != tag:
            raise AuthenticationError(f"{what}: it was signed for tag {env.tag!r} (replayed into another tag)")
        body = memoryview(raw)[start:]
        if hashlib.sha256(body).digest() != env.sha256:
            raise AuthenticationError(f"{what}: the payload was altered in transit (its SHA-256 is not the signed one)")
        return env, body.tobytes()

    def _certificate(self, der: bytes, what: str) -> _Known:
        fingerprint = hashlib.sha256(der).digest()
        with self._lock:
            known = self._known.get(fingerprint)
            if known is not None:
                self._known.move_to_end(fingerprint)
        if known is None:
            known = self._check_certificate(der, what)
            with self._lock:
                self._known[fingerprint] = known
                while len(self._known) > _CACHE:
                    self._known.popitem(last=False)
        now = dt.datetime.now(dt.UTC)
        if not known.not_before <= now <= known.not_after:
            raise AuthenticationError(f"{what}: the certificate of party-{known.party_id} is not valid now")
        return known

    def _check_certificate(self, der: bytes, what: str) -> _Known:
        try:
            cert = x509.load_der_x509_certificate(der)
        except ValueError:
            raise AuthenticationError(f"{what}: the signer's certificate is malformed") from None
        if not any(_issued_by(cert, ca) for ca in self._cas):
            raise AuthenticationError(f"{what}: the signer's certificate is not issued by the federation CA")
        key = cert.public_key()
        party = party_of(cert)
        if party is None or not isinstance(key, ec.EllipticCurvePublicKey):
            raise AuthenticationError(f"{what}: the signer's certificate names no party-<id> with an EC key")
        constraints = _extension(cert, x509.BasicConstraints)
        if constraints is not None and constraints.ca:
            raise AuthenticationError(f"{what}: the signer's certificate is a CA certificate")
        usage = _extension(cert, x509.KeyUsage)
        if usage is not None and not usage.digital_signature:
            raise AuthenticationError(f"{what}: the certificate of party-{party} may not sign")
        return _Known(party, key, cert.not_valid_before_utc, cert.not_valid_after_utc)


def _issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _extension(cert: x509.Certificate, kind: type[Any]) -> Any:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _parse(raw: bytes | bytearray, what: str) -> tuple[Envelope, int]:
    if not raw.startswith(MAGIC):
        raise AuthenticationError(f"{what}: it is not signed (sent without a party key, or forged on the way)")
    size = int.from_bytes(raw[len(MAGIC) : len(MAGIC) + 4], "big")
    start = len(MAGIC) + 4 + size
    if size > HEADER_MAX or start > len(raw):
        raise AuthenticationError(f"{what}: its signature header is malformed")
    try:
        header = msgpack.unpackb(raw[len(MAGIC) + 4 : start], raw=False, max_map_len=len(_FIELDS),
                                 max_array_len=0, max_ext_len=0)
    except (ValueError, msgpack.UnpackException):
        raise AuthenticationError(f"{what}: its signature header is malformed") from None
    if not isinstance(header, dict) or set(header) != set(_FIELDS) or not all(
        type(header[k]) is kind and (kind is not int or header[k] >= 0) for k, kind in _FIELDS.items()
    ):
        raise AuthenticationError(f"{what}: its signature header is malformed")
    return Envelope(**header), start
