"""Federation secrets: one CA, a certificate + key per party (and exchange), flow tokens.

Created only when absent and never overwritten, so re-running is safe and a
rotated file is always a deliberate act (`fatectl certs rotate`). Private keys
and tokens are written 0600 in 0700 directories, at creation, never chmod-ed
afterwards, so they are never readable by others even for an instant. The one
file kept up to date is each party's `ca.crt`, its trust bundle (CA certificates
and CRLs, fatectl.certs.authority): public, and rewritten when the CA state moves.

A party may hold its own key (`fatectl certs request|sign|import`): the CA's
directory then keeps only that party's certificate and an `external` marker, and
never makes a key or token for it.

X.509 building blocks live in fatectl.certs.issue; the names below are re-exported.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec

from fatectl.certs.authority import (
    CA_CERT,
    CA_KEY,
    Authority,
    load_authority,
    record_issued,
    trust_bundle,
    trusted_cas,
)
from fatectl.certs.issue import (
    CA_DAYS,
    LEAF_DAYS,
    SecretsError,
    cert_pem,
    create_ca,
    identity,
    issue_certificate,
    key_pem,
    owner_of,
    read_cert,
    read_key,
)
from fatectl.files import create_file, make_private_dir, write_file
from fatectl.spec.model import Federation

__all__ = [
    "CA_DAYS", "LEAF_DAYS", "PartySecrets", "SecretsError", "SecretsLayout", "create_ca", "ensure_secrets",
    "identity", "issue_certificate", "layout_of", "party_hosts", "write_pem_pair",
]
# In a party's directory of the CA's secrets: the party made its own key (certs sign wrote the cert).
EXTERNAL_MARKER = "external"
CSR_FILE = "tls.csr"


@dataclass(frozen=True)
class PartySecrets:
    name: str
    party_id: int
    directory: Path
    ca_file: Path
    cert_file: Path
    key_file: Path
    token_file: Path | None  # None for the exchange, which runs no flow
    # A read-only credential for the flow API (the board's): GET requests only.
    reader_token_file: Path | None = None
    # The board's own login password; never the flow token.
    board_password_file: Path | None = None
    # Ray's token of the party's own Ray cluster (compose lab), held by its flow and Ray nodes only.
    ray_token_file: Path | None = None

    @property
    def credentials(self) -> tuple[Path, ...]:
        """The random secrets (tokens, passwords) of this party that fatectl makes for it."""
        files = (self.token_file, self.reader_token_file, self.board_password_file, self.ray_token_file)
        return tuple(f for f in files if f is not None)

    @property
    def external(self) -> bool:
        """The party holds its own key elsewhere; this directory has only its certificate."""
        return (self.directory / EXTERNAL_MARKER).is_file()


@dataclass(frozen=True)
class SecretsLayout:
    directory: Path
    ca_file: Path
    ca_key_file: Path
    parties: Mapping[int, PartySecrets]  # by party id, exchange included

    def party(self, party_id: int) -> PartySecrets:
        try:
            return self.parties[party_id]
        except KeyError:
            raise SecretsError(f"no secrets for party {party_id} in {self.directory}") from None


@dataclass(frozen=True)
class _Subject:
    name: str
    party_id: int
    hosts: tuple[str, ...]
    has_flow: bool
    has_board: bool = False
    has_ray: bool = False


def _subjects(fed: Federation) -> list[_Subject]:
    subjects = []
    for p in fed.parties:
        hosts = (p.name, f"{p.name}-router", f"{p.name}-flow", p.address)
        subjects.append(_Subject(p.name, p.id, hosts, "flow" in p.module_names, "board" in p.module_names,
                                 p.compute.starts_ray))
    ex = fed.exchange
    if ex.enabled:
        subjects.append(_Subject(ex.name, ex.id, (ex.name, f"{ex.name}-router", ex.address), False))
    return subjects


def party_hosts(fed: Federation, party_id: int) -> tuple[str, ...]:
    """The host names a party's certificate is valid for (besides party-<id> and loopback)."""
    for subject in _subjects(fed):
        if subject.party_id == party_id:
            return subject.hosts
    fed.node(party_id)  # raises the error naming the parties
    raise AssertionError("unreachable")


def layout_of(fed: Federation, directory: Path) -> SecretsLayout:
    """Where every secret of fed lives under directory; reads and creates nothing."""
    directory = Path(directory)
    parties = {s.party_id: _paths(s, directory / s.name) for s in _subjects(fed)}
    return SecretsLayout(directory, directory / CA_CERT, directory / CA_KEY, MappingProxyType(parties))


def _paths(subject: _Subject, directory: Path) -> PartySecrets:
    return PartySecrets(
        name=subject.name,
        party_id=subject.party_id,
        directory=directory,
        ca_file=directory / "ca.crt",
        cert_file=directory / "tls.crt",
        key_file=directory / "tls.key",
        token_file=directory / "flow_token" if subject.has_flow else None,
        reader_token_file=directory / "flow_reader_token" if subject.has_flow else None,
        board_password_file=directory / "board_password" if subject.has_board else None,
        ray_token_file=directory / "ray_token" if subject.has_ray else None,
    )


def ensure_secrets(fed: Federation, directory: Path, only: int | None = None) -> SecretsLayout:
    """Create whatever secret files of `fed` (or of party `only`) are missing under `directory`.

    A directory with `ca.crt` but no `ca.key` is a party's own: it can be completed (tokens,
    trust bundle) but issues nothing.
    """
    layout = layout_of(fed, directory)
    _make_private_dir(layout.directory)
    subjects = [s for s in _subjects(fed) if only is None or s.party_id == only]
    for subject in subjects:  # before a CA could be made next to a key that waits for its certificate
        _refuse_pending(layout.party(subject.party_id))
    if not layout.ca_file.exists() and not layout.ca_key_file.exists():
        key, cert = create_ca(f"{fed.name} federation CA")
        create_file(layout.ca_key_file, key_pem(key), 0o600)
        create_file(layout.ca_file, cert_pem(cert), 0o644)
    elif not layout.ca_file.exists():
        raise SecretsError(f"found only one of {CA_CERT} / {CA_KEY} in {layout.directory}")
    bundle, issuers = trust_bundle(layout.directory), trusted_cas(layout.directory)
    authorities: list[Authority] = []

    def authority() -> Authority:
        if not authorities:
            authorities.append(load_authority(layout.directory))
        return authorities[0]

    for subject in subjects:
        _ensure_party(subject, layout.party(subject.party_id), bundle, issuers, authority)
    return layout


def pending_secrets(fed: Federation, directory: Path, only: int | None = None) -> list[tuple[Path, str]]:
    """(file, "added" | "changed") for what ensure_secrets would write now; writes nothing."""
    layout = layout_of(fed, directory)
    out: list[tuple[Path, str]] = []
    has_ca = layout.ca_file.exists()
    if not has_ca and not layout.ca_key_file.exists():
        out += [(layout.ca_key_file, "added"), (layout.ca_file, "added")]
    bundle = trust_bundle(layout.directory) if has_ca else None
    for subject in _subjects(fed):
        if only is not None and subject.party_id != only:
            continue
        paths = layout.party(subject.party_id)
        if not paths.ca_file.exists():
            out.append((paths.ca_file, "added"))
        elif bundle is not None and paths.ca_file.read_bytes() != bundle:
            out.append((paths.ca_file, "changed"))
        if not paths.cert_file.exists():
            out += [(paths.key_file, "added"), (paths.cert_file, "added")]
        if paths.external:
            continue
        for credential in paths.credentials:
            if not credential.exists():
                out.append((credential, "added"))
    return out


def _refuse_pending(paths: PartySecrets) -> None:
    if (paths.directory / CSR_FILE).exists() and not paths.cert_file.exists():
        raise SecretsError(
            f"{paths.directory} holds a certificate request ({CSR_FILE}) that is not signed yet: "
            f"have the federation CA run `fatectl certs sign`, then `fatectl certs import` it here"
        )
    if paths.key_file.exists() and not paths.cert_file.exists():
        raise SecretsError(
            f"{paths.directory} has only one of tls.crt / tls.key; delete the other to have both regenerated"
        )


def _ensure_party(
    subject: _Subject,
    paths: PartySecrets,
    bundle: bytes,
    issuers: list[x509.Certificate],
    authority: Callable[[], Authority],
) -> None:
    _make_private_dir(paths.directory)
    write_file(paths.ca_file, bundle, 0o644)  # the trust file follows the CA: rotations, CRLs
    if paths.cert_file.exists():
        if not paths.key_file.exists() and not paths.external:
            raise SecretsError(
                f"{paths.directory} has only one of tls.crt / tls.key; delete the other to have both regenerated"
            )
        _check_party_cert(paths, issuers)
    else:
        ca = authority()
        key, cert = issue_certificate(ca.key, ca.cert, subject.party_id, subject.hosts)
        create_file(paths.key_file, key_pem(key), 0o600)
        create_file(paths.cert_file, cert_pem(cert), 0o644)
        record_issued(paths.directory.parent, cert, subject.party_id, subject.name)
    if paths.external:
        return  # the party's flow tokens are the party's own, made where its key is
    for credential in paths.credentials:
        if not credential.exists():
            create_file(credential, (secrets.token_urlsafe(32) + "\n").encode(), 0o600)


def _check_party_cert(paths: PartySecrets, issuers: list[x509.Certificate]) -> None:
    cert = read_cert(paths.cert_file)
    if not any(_issued_by(cert, ca) for ca in issuers):
        raise SecretsError(
            f"{paths.cert_file} was not issued by this federation's CA; delete it and its key to reissue"
        )
    owner = owner_of(cert)
    if owner != identity(paths.party_id):
        raise SecretsError(
            f"{paths.cert_file} belongs to {owner}, "
            f"not {identity(paths.party_id)}; delete it and its key to reissue"
        )
    if paths.key_file.exists() and read_key(paths.key_file).public_key() != cert.public_key():
        raise SecretsError(f"{paths.key_file} does not belong to {paths.cert_file}; delete both to reissue")


def _issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _make_private_dir(path: Path) -> None:
    try:
        make_private_dir(path)
    except OSError as err:
        raise SecretsError(f"cannot create secrets directory {path}: {err.strerror or err}") from None


def write_pem_pair(
    directory: Path, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate, stem: str = "tls"
) -> tuple[Path, Path]:
    """Write `<stem>.crt` and `<stem>.key` (0600) into directory; for tools and tests."""
    _make_private_dir(directory)
    cert_file, key_file = directory / f"{stem}.crt", directory / f"{stem}.key"
    create_file(key_file, key_pem(key), 0o600)
    create_file(cert_file, cert_pem(cert), 0o644)
    return cert_file, key_file
