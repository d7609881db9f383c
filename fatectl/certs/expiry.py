"""How long each party's certificate (and the CA) stays valid: `fatectl status` shows it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from fatectl.certs.authority import revoked_serials
from fatectl.certs.issue import now
from fatectl.pki import layout_of
from fatectl.spec.model import Federation

WARN_DAYS = 30


@dataclass(frozen=True)
class CertificateState:
    party_id: int | None  # None for the CA
    name: str
    state: str  # valid | expiring | expired | revoked | missing
    not_after: dt.datetime | None = None
    days_left: int | None = None
    detail: str = ""

    @property
    def warning(self) -> bool:
        return self.state in ("expiring", "expired", "revoked", "missing")


def _state(party_id: int | None, name: str, path: Path, revoked: set[int], at: dt.datetime) -> CertificateState:
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return CertificateState(party_id, name, "missing", detail=f"no certificate at {path}")
    not_after = cert.not_valid_after_utc
    days = (not_after - at).days
    renew = "fatectl certs rotate SPEC" + (" --ca" if party_id is None else f" --party {party_id}")
    if cert.serial_number in revoked:
        return CertificateState(party_id, name, "revoked", not_after, days, f"serial {cert.serial_number:x} is on the CRL")
    if not_after <= at:
        return CertificateState(party_id, name, "expired", not_after, days, f"expired {not_after:%Y-%m-%d}; {renew}")
    if days < WARN_DAYS:
        return CertificateState(party_id, name, "expiring", not_after, days,
                                f"expires {not_after:%Y-%m-%d} ({days} days): {renew}")
    return CertificateState(party_id, name, "valid", not_after, days, f"expires {not_after:%Y-%m-%d} ({days} days)")


def certificate_states(fed: Federation, secrets_dir: Path, at: dt.datetime | None = None) -> tuple[CertificateState, ...]:
    """The CA's and every party's (and the exchange's) certificate; nothing when TLS is off."""
    if fed.security.tls == "none":
        return ()
    at = at or now()
    layout = layout_of(fed, secrets_dir)
    if not layout.ca_file.exists():
        return ()
    revoked = revoked_serials(layout.directory) if layout.ca_key_file.exists() else set()
    states = [_state(None, "federation CA", layout.ca_file, revoked, at)]
    for node in fed.nodes():
        states.append(_state(node.id, node.name, layout.party(node.id).cert_file, revoked, at))
    return tuple(states)
