"""The federation CA on disk, and the trust file every party gets.

A secrets directory holding `ca.key` is the CA's: it may issue, rotate and revoke. Beside
it, during a CA rotation, `ca-previous.{crt,key}` with `ca-previous.json` (how long the old
CA stays trusted) and, once anything was revoked, `revoked.json` and `crl.pem` (one CRL
per trusted CA, signed by it).

What a party trusts is one file, its `ca.crt`: the current CA, the previous one while the
overlap lasts, and the CRLs. OpenSSL reads certificates and CRLs from the same file, so
revocation travels exactly like the CA certificate (Helm secret, compose secret, lab file)
and needs no new config key; a router sees a CRL in the file and turns CRL checks on.
A directory without `ca.key` (a party's own) holds that bundle as its `ca.crt`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from fatectl.certs.issue import BACKDATE, SecretsError, now, read_cert, read_key
from fatectl.files import write_file

CA_CERT, CA_KEY = "ca.crt", "ca.key"
PREVIOUS_CERT, PREVIOUS_KEY, PREVIOUS_META = "ca-previous.crt", "ca-previous.key", "ca-previous.json"
REVOKED, CRL, ISSUED = "revoked.json", "crl.pem", "issued.json"
_PEM = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----.*?-----END \1-----\n?", re.DOTALL)


def pem_blocks(data: bytes) -> list[bytes]:
    """Every PEM block of data, each ending in one newline."""
    return [m.group(0).rstrip(b"\n") + b"\n" for m in _PEM.finditer(data)]


def certificates_in(data: bytes) -> list[x509.Certificate]:
    return [x509.load_pem_x509_certificate(b) for b in pem_blocks(data) if b.startswith(b"-----BEGIN CERTIFICATE")]


@dataclass(frozen=True)
class Authority:
    """A CA that can sign: its key and certificate."""

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate


def has_ca_key(directory: Path) -> bool:
    return (directory / CA_KEY).is_file()


def load_authority(directory: Path) -> Authority:
    """The current CA of directory; SecretsError when the directory is not the CA's."""
    cert_file, key_file = directory / CA_CERT, directory / CA_KEY
    if not key_file.exists():
        raise SecretsError(
            f"{directory} holds no federation CA key ({CA_KEY}): only the CA's directory can issue, "
            "rotate or revoke (a party's own directory gets its certificate from `fatectl certs sign`)"
        )
    if not cert_file.exists():
        raise SecretsError(f"found only one of {CA_CERT} / {CA_KEY} in {directory}")
    cert, key = read_cert(cert_file), read_key(key_file)
    if key.public_key() != cert.public_key():
        raise SecretsError(f"{key_file} does not belong to {cert_file}")
    return Authority(key, cert)


def previous_until(directory: Path) -> dt.datetime | None:
    """Until when the previous CA stays trusted; None when there is none (or it is unreadable)."""
    try:
        meta = json.loads((directory / PREVIOUS_META).read_text(encoding="utf-8"))
        return dt.datetime.fromisoformat(str(meta["trusted_until"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def previous_authority(directory: Path, at: dt.datetime | None = None) -> Authority | None:
    """The previous CA while its overlap lasts (and its key is still here), else None."""
    until = previous_until(directory)
    if until is None or until <= (at or now()) or not (directory / PREVIOUS_KEY).is_file():
        return None
    return Authority(read_key(directory / PREVIOUS_KEY), read_cert(directory / PREVIOUS_CERT))


def trusted_cas(directory: Path, at: dt.datetime | None = None) -> list[x509.Certificate]:
    """Every CA certificate a party of this directory trusts now, current first."""
    return [x509.load_pem_x509_certificate(b) for b in _bundle_blocks(directory, at)
            if b.startswith(b"-----BEGIN CERTIFICATE")]


def trust_bundle(directory: Path, at: dt.datetime | None = None) -> bytes:
    """A party's `ca.crt`: trusted CA certificates (current first), then the CRLs."""
    return b"".join(_bundle_blocks(directory, at))


def _bundle_blocks(directory: Path, at: dt.datetime | None) -> list[bytes]:
    blocks = pem_blocks((directory / CA_CERT).read_bytes())
    until = previous_until(directory)
    if until is not None and until > (at or now()) and (directory / PREVIOUS_CERT).is_file():
        blocks += pem_blocks((directory / PREVIOUS_CERT).read_bytes())
    if (directory / CRL).is_file():
        blocks += pem_blocks((directory / CRL).read_bytes())
    certs = [b for b in blocks if b.startswith(b"-----BEGIN CERTIFICATE")]
    crls = [b for b in blocks if b.startswith(b"-----BEGIN X509 CRL")]
    return list(dict.fromkeys(certs + crls))


def revoked_entries(directory: Path) -> list[dict[str, Any]]:
    try:
        entries = json.loads((directory / REVOKED).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as err:
        raise SecretsError(f"{directory / REVOKED} is unreadable: {err}") from None
    return [e for e in entries if isinstance(e, dict) and "serial" in e]


def record_revoked(directory: Path, entries: list[dict[str, Any]]) -> None:
    write_file(directory / REVOKED, json.dumps(entries, indent=2, sort_keys=True) + "\n", 0o644)


def write_crls(directory: Path) -> bool:
    """Sign one CRL per trusted CA listing every revoked serial; False when nothing was ever revoked.

    A CRL's nextUpdate is its CA's expiry: fatectl pushes CRLs with the CA file instead of
    serving them, and an expired CRL would make every router refuse every peer.
    """
    entries = revoked_entries(directory)
    if not entries:
        return False
    authorities = [load_authority(directory)]
    previous = previous_authority(directory)
    if previous is not None:
        authorities.append(previous)
    pems = b"".join(_crl(a, entries).public_bytes(serialization.Encoding.PEM) for a in authorities)
    write_file(directory / CRL, pems, 0o644)
    return True


def _crl(authority: Authority, entries: list[dict[str, Any]]) -> x509.CertificateRevocationList:
    start = now()
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(authority.cert.subject)
        .last_update(start - BACKDATE)
        .next_update(authority.cert.not_valid_after_utc)
    )
    for entry in entries:
        revoked_at = dt.datetime.fromisoformat(str(entry.get("revoked_at") or start.isoformat()))
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(int(str(entry["serial"]), 16))
            .revocation_date(min(revoked_at, start)).build()
        )
    return builder.sign(authority.key, hashes.SHA256())


def issued_entries(directory: Path) -> list[dict[str, Any]]:
    """Every leaf this CA issued (serial, party, expiry): what `revoke` revokes, beyond the current one."""
    try:
        entries = json.loads((directory / ISSUED).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as err:
        raise SecretsError(f"{directory / ISSUED} is unreadable: {err}") from None
    return [e for e in entries if isinstance(e, dict) and "serial" in e]


def record_issued(directory: Path, cert: x509.Certificate, party_id: int, name: str) -> None:
    entries = issued_entries(directory)
    entries.append({"serial": f"{cert.serial_number:x}", "party_id": party_id, "name": name,
                    "not_after": cert.not_valid_after_utc.isoformat()})
    write_file(directory / ISSUED, json.dumps(entries, indent=2, sort_keys=True) + "\n", 0o644)


def revoked_serials(directory: Path) -> set[int]:
    return {int(str(e["serial"]), 16) for e in revoked_entries(directory)}
