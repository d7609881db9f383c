"""Federation secrets: one CA, a certificate + key per party (and exchange), flow tokens.

Created only when absent and never overwritten, so re-running is safe and a
rotated file is always a deliberate act (delete it, run again). Private keys
and tokens are written 0600 in 0700 directories, at creation, never chmod-ed
afterwards, so they are never readable by others even for an instant.

A certificate's identity is `party-<id>`, both as subject CN and as a DNS SAN:
routers authenticate peers by it, and clients verify a router by asking TLS to
check the hostname `party-<id>`.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fatectl.errors import FatectlError
from fatectl.files import create_file, make_private_dir
from fatectl.spec.model import Federation

CA_DAYS = 3650
LEAF_DAYS = 365
# Tolerate clocks of peers that run a little behind ours.
_BACKDATE = dt.timedelta(minutes=5)


class SecretsError(FatectlError):
    """Existing secret files are unusable (unreadable, or from another CA or party)."""


def identity(party_id: int) -> str:
    """The certificate identity of a party (or exchange): subject CN and DNS SAN."""
    return f"party-{party_id}"


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


def _subjects(fed: Federation) -> list[_Subject]:
    subjects = []
    for p in fed.parties:
        hosts = (p.name, f"{p.name}-router", f"{p.name}-flow", p.address)
        subjects.append(_Subject(p.name, p.id, hosts, "flow" in p.module_names, "board" in p.module_names))
    ex = fed.exchange
    if ex.enabled:
        subjects.append(_Subject(ex.name, ex.id, (ex.name, f"{ex.name}-router", ex.address), False))
    return subjects


def create_ca(common_name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def issue_certificate(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    party_id: int,
    hosts: Iterable[str] = (),
    days: int = LEAF_DAYS,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A server+client certificate for `party-<id>`, also valid for the given host names / IPs."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, identity(party_id))]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .add_extension(x509.SubjectAlternativeName(_alt_names(party_id, hosts)), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def _key_usage(cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _alt_names(party_id: int, hosts: Iterable[str]) -> list[x509.GeneralName]:
    # Loopback names let the local lab and in-pod probes verify the router too.
    names: list[x509.GeneralName] = [x509.DNSName(identity(party_id)), x509.DNSName("localhost")]
    ips: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    for host in dict.fromkeys(h for h in hosts if h):
        try:
            ips.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    unique_ips = list({str(n.value): n for n in ips}.values())
    unique_names = list({str(n.value): n for n in names}.values())
    return unique_names + unique_ips


def ensure_secrets(fed: Federation, directory: Path) -> SecretsLayout:
    """Create whatever secret files of `fed` are missing under `directory`; return their paths."""
    directory = Path(directory)
    _make_private_dir(directory)
    ca_file, ca_key_file = directory / "ca.crt", directory / "ca.key"
    ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate] | None = None
    if ca_file.exists() or ca_key_file.exists():
        ca = _load_ca(ca_file, ca_key_file)
    else:
        ca = create_ca(f"{fed.name} federation CA")
        create_file(ca_key_file, _key_pem(ca[0]), 0o600)
        create_file(ca_file, _cert_pem(ca[1]), 0o644)
    ca_pem = ca_file.read_bytes()
    parties: dict[int, PartySecrets] = {}
    for subject in _subjects(fed):
        parties[subject.party_id] = _ensure_party(subject, directory / subject.name, ca, ca_pem)
    return SecretsLayout(directory, ca_file, ca_key_file, MappingProxyType(parties))


def _ensure_party(
    subject: _Subject,
    directory: Path,
    ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate],
    ca_pem: bytes,
) -> PartySecrets:
    _make_private_dir(directory)
    paths = PartySecrets(
        name=subject.name,
        party_id=subject.party_id,
        directory=directory,
        ca_file=directory / "ca.crt",
        cert_file=directory / "tls.crt",
        key_file=directory / "tls.key",
        token_file=directory / "flow_token" if subject.has_flow else None,
        reader_token_file=directory / "flow_reader_token" if subject.has_flow else None,
        board_password_file=directory / "board_password" if subject.has_board else None,
    )
    if not paths.ca_file.exists():
        create_file(paths.ca_file, ca_pem, 0o644)
    if paths.cert_file.exists() != paths.key_file.exists():
        raise SecretsError(
            f"{directory} has only one of tls.crt / tls.key; delete the other to have both regenerated"
        )
    if paths.cert_file.exists():
        _check_party_cert(paths, ca[1])
    else:
        key, cert = issue_certificate(ca[0], ca[1], subject.party_id, subject.hosts)
        create_file(paths.key_file, _key_pem(key), 0o600)
        create_file(paths.cert_file, _cert_pem(cert), 0o644)
    for credential in (paths.token_file, paths.reader_token_file, paths.board_password_file):
        if credential is not None and not credential.exists():
            create_file(credential, (secrets.token_urlsafe(32) + "\n").encode(), 0o600)
    return paths


def _check_party_cert(paths: PartySecrets, ca_cert: x509.Certificate) -> None:
    cert = _read_cert(paths.cert_file)
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        raise SecretsError(
            f"{paths.cert_file} was not issued by this federation's CA; delete it and its key to reissue"
        ) from None
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    owner = str(names[0].value) if names else "nobody"
    if owner != identity(paths.party_id):
        raise SecretsError(
            f"{paths.cert_file} belongs to {owner}, "
            f"not {identity(paths.party_id)}; delete it and its key to reissue"
        )


def _load_ca(cert_file: Path, key_file: Path) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    if not (cert_file.exists() and key_file.exists()):
        raise SecretsError(f"found only one of {cert_file.name} / {key_file.name} in {cert_file.parent}")
    cert = _read_cert(cert_file)
    try:
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    except (ValueError, TypeError) as err:
        raise SecretsError(f"{key_file}: not a usable private key ({err})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != cert.public_key():
        raise SecretsError(f"{key_file} does not belong to {cert_file}")
    return key, cert


def _read_cert(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except ValueError as err:
        raise SecretsError(f"{path}: not a PEM certificate ({err})") from None


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


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
    create_file(key_file, _key_pem(key), 0o600)
    create_file(cert_file, _cert_pem(cert), 0o644)
    return cert_file, key_file
