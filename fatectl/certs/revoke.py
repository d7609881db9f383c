"""Revoking a party: every certificate the CA issued to it goes on a CRL every router checks.

The CRL travels inside each party's `ca.crt` (fatectl.certs.authority), so wherever the CA
file goes the revocation goes: routers reload it without a restart and refuse the revoked
party at the TLS handshake, and on connections it opened before.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from fatectl.certs.authority import (
    issued_entries,
    load_authority,
    record_revoked,
    revoked_entries,
    write_crls,
)
from fatectl.certs.issue import SecretsError, now
from fatectl.errors import SpecError
from fatectl.pki import ensure_secrets, layout_of
from fatectl.spec.model import Federation


@dataclass(frozen=True)
class Revocation:
    party_id: int
    name: str
    serials: tuple[str, ...]  # newly revoked, hex
    already: int  # serials of the party that were revoked before


def revoke_party(fed: Federation, directory: Path, party_id: int) -> Revocation:
    if fed.security.tls == "none":
        raise SpecError(f"{fed.source or 'the spec'}: security.tls is none; there are no certificates to revoke")
    node = fed.node(party_id)  # an unknown id is bad input, named with the known ones
    load_authority(directory)
    serials = {str(e["serial"]) for e in issued_entries(directory) if e.get("party_id") == party_id}
    current = layout_of(fed, directory).party(party_id).cert_file
    if current.is_file():
        serials.add(f"{x509.load_pem_x509_certificate(current.read_bytes()).serial_number:x}")
    if not serials:
        raise SecretsError(f"no certificate of party {party_id} ({node.name}) was issued from {directory}")
    entries = revoked_entries(directory)
    done = {str(e["serial"]) for e in entries}
    fresh = sorted(serials - done)
    stamp = now().isoformat()
    entries += [{"serial": s, "party_id": party_id, "name": node.name, "revoked_at": stamp} for s in fresh]
    record_revoked(directory, entries)
    write_crls(directory)
    ensure_secrets(fed, directory)  # every party's ca.crt now carries the CRL
    return Revocation(party_id, node.name, tuple(fresh), len(serials) - len(fresh))
