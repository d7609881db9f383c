"""New certificates before the old ones expire, and a new CA without a flag day.

Leaf rotation: a party gets a new key and certificate from the same CA; peers accept it at
once (same trust), and its old certificate stays valid until it expires. CA rotation: the
old CA moves to `ca-previous.*` and stays in every party's trust bundle for the overlap,
the new CA signs from now on. Trust is distributed first (`settle` lets a lab reload it
everywhere), leaves second, so no peer ever sees a certificate it does not trust yet.
With `trust_only`, only the new CA is introduced: for sites (Helm) that roll out the
bundle everywhere before any new leaf (then `rotate` again, without --ca).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fatectl.certs.authority import (
    CA_CERT,
    CA_KEY,
    PREVIOUS_CERT,
    PREVIOUS_KEY,
    PREVIOUS_META,
    load_authority,
    record_issued,
    write_crls,
)
from fatectl.certs.issue import SecretsError, cert_pem, create_ca, issue_certificate, key_pem, now
from fatectl.errors import SpecError
from fatectl.files import write_file
from fatectl.pki import ensure_secrets, layout_of, party_hosts
from fatectl.spec.model import Federation

DEFAULT_OVERLAP_DAYS = 7


@dataclass(frozen=True)
class Rotation:
    directory: Path
    rotated: tuple[int, ...]  # parties (or the exchange) with a new certificate
    notes: tuple[str, ...]
    new_ca: bool
    previous_until: dt.datetime | None = None


def rotate_certificates(
    fed: Federation,
    directory: Path,
    party_id: int | None = None,
    new_ca: bool = False,
    overlap_days: int = DEFAULT_OVERLAP_DAYS,
    trust_only: bool = False,
    settle: Callable[[], object] = lambda: None,
) -> Rotation:
    """Rotate in the CA's secrets `directory`; `settle` runs once the new trust is in place."""
    if fed.security.tls == "none":
        raise SpecError(f"{fed.source or 'the spec'}: security.tls is none; there are no certificates to rotate")
    if trust_only and not new_ca:
        raise SpecError("--trust-only introduces a new CA: give it with --ca")
    if new_ca and overlap_days < 1:
        raise SpecError("--overlap-days must be at least 1 with --ca: peers would refuse every current certificate")
    targets = [fed.node(party_id)] if party_id is not None else list(fed.nodes())
    load_authority(directory)  # only the CA's directory rotates; says so otherwise
    ensure_secrets(fed, directory)  # whatever is missing exists before anything is replaced
    until = _new_ca(fed, directory, overlap_days) if new_ca else None
    if new_ca:
        write_crls(directory)  # revocations stay in force under the new CA too
        ensure_secrets(fed, directory)  # every party's ca.crt now trusts old and new
        settle()
    rotated, notes = [], []
    if trust_only:
        notes.append("only the trust bundles changed; roll them out everywhere, then `certs rotate` without --ca")
        return Rotation(directory, (), tuple(notes), new_ca, until)
    authority = load_authority(directory)
    layout = layout_of(fed, directory)
    for node in targets:
        paths = layout.party(node.id)
        if paths.external:
            message = (f"{node.name} holds its own key: it makes a new request (`fatectl certs request`) "
                       "and the CA signs it (`fatectl certs sign`)")
            if party_id is not None:
                raise SecretsError(message)
            notes.append(message)
            continue
        key, cert = issue_certificate(authority.key, authority.cert, node.id, party_hosts(fed, node.id))
        # Key first: a router that reads in between sees a mismatch, keeps its old files and retries.
        write_file(paths.key_file, key_pem(key), 0o600)
        write_file(paths.cert_file, cert_pem(cert), 0o644)
        record_issued(directory, cert, node.id, node.name)
        rotated.append(node.id)
    return Rotation(directory, tuple(rotated), tuple(notes), new_ca, until)


def _new_ca(fed: Federation, directory: Path, overlap_days: int) -> dt.datetime:
    current_cert, current_key = (directory / CA_CERT).read_bytes(), (directory / CA_KEY).read_bytes()
    until = now() + dt.timedelta(days=overlap_days)
    write_file(directory / PREVIOUS_KEY, current_key, 0o600)
    write_file(directory / PREVIOUS_CERT, current_cert, 0o644)
    write_file(directory / PREVIOUS_META, json.dumps({"trusted_until": until.isoformat()}) + "\n", 0o644)
    # A name of its own: OpenSSL finds issuers and CRLs by name, and two CAs are trusted at once.
    key, cert = create_ca(f"{fed.name} federation CA {now():%Y%m%d%H%M%S}")
    write_file(directory / CA_KEY, key_pem(key), 0o600)
    write_file(directory / CA_CERT, cert_pem(cert), 0o644)
    return until
