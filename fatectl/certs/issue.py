"""X.509 building blocks: the federation CA, party certificates, PEM reading and writing.

A certificate's identity is `party-<id>`, both as subject CN and as a DNS SAN: routers
authenticate peers by it, and clients verify a router by asking TLS to check the hostname
`party-<id>`. Leaves are issued for a given public key, so a CA can sign a party's own
request (CSR) without ever seeing the party's private key.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fatectl.errors import FatectlError

CA_DAYS = 3650
LEAF_DAYS = 365
# Tolerate clocks of peers that run a little behind ours.
BACKDATE = dt.timedelta(minutes=5)
CA_PRIVATE_KEY = ec.EllipticCurvePrivateKey


class SecretsError(FatectlError):
    """Existing secret files are unusable (unreadable, or from another CA or party)."""


def identity(party_id: int) -> str:
    """The certificate identity of a party (or exchange): subject CN and DNS SAN."""
    return f"party-{party_id}"


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def create_ca(common_name: str, days: int = CA_DAYS) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start = now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start - BACKDATE)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def sign_leaf(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    public_key: ec.EllipticCurvePublicKey,
    party_id: int,
    hosts: Iterable[str] = (),
    days: int = LEAF_DAYS,
) -> x509.Certificate:
    """A server+client certificate for `party-<id>` and `public_key`, also valid for the hosts."""
    start = now()
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, identity(party_id))]))
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start - BACKDATE)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(key_usage(cert_sign=False), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .add_extension(x509.SubjectAlternativeName(alt_names(party_id, hosts)), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )


def issue_certificate(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    party_id: int,
    hosts: Iterable[str] = (),
    days: int = LEAF_DAYS,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A new key and its certificate for `party-<id>` (the CA makes both: labs, single operators)."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key, sign_leaf(ca_key, ca_cert, key.public_key(), party_id, hosts, days)


def key_usage(cert_sign: bool) -> x509.KeyUsage:
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


def alt_names(party_id: int, hosts: Iterable[str]) -> list[x509.GeneralName]:
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


def owner_of(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else "nobody"


def read_cert(path: Path) -> x509.Certificate:
    """The first certificate of a PEM file (a trust bundle starts with the current CA)."""
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except ValueError as err:
        raise SecretsError(f"{path}: not a PEM certificate ({err})") from None
    except OSError as err:
        raise SecretsError(f"cannot read {path}: {err.strerror or err}") from None


def read_key(path: Path) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as err:
        raise SecretsError(f"{path}: not a usable private key ({err})") from None
    except OSError as err:
        raise SecretsError(f"cannot read {path}: {err.strerror or err}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise SecretsError(f"{path}: not an ECDSA private key")
    return key


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)
