"""Distributed provisioning: each party makes its own key, the federation CA only signs.

    certs request  (the party)  -> DIR/<name>/request.key (0600, never leaves DIR) + tls.csr
    certs sign     (the CA)     -> CERT: the certificate, then the trust bundle; the CA's
                                   directory keeps the certificate and an `external` marker
    certs import   (the party)  -> DIR/<name>/tls.crt, tls.key (renamed from request.key in DIR),
                                   DIR/<name>/ca.crt and DIR/ca.crt (the bundle)

The CA checks a request against the spec: its identity is a party (or the exchange) of the
spec, it asks for no name the spec does not give that party, and it is signed by its key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from fatectl.certs.authority import (
    CA_CERT,
    CA_KEY,
    certificates_in,
    load_authority,
    pem_blocks,
    record_issued,
    trust_bundle,
)
from fatectl.certs.issue import (
    SecretsError,
    alt_names,
    cert_pem,
    create_ca,
    identity,
    key_pem,
    owner_of,
    read_key,
    sign_leaf,
)
from fatectl.errors import Problem, SpecError
from fatectl.files import create_file, make_private_dir, write_file
from fatectl.pki import CSR_FILE, EXTERNAL_MARKER, layout_of, party_hosts
from fatectl.spec.model import Federation

REQUEST_KEY = "request.key"
_CURVES = (ec.SECP256R1, ec.SECP384R1)


@dataclass(frozen=True)
class Request:
    key_file: Path
    csr_file: Path


def request_certificate(fed: Federation, party_id: int, directory: Path) -> Request:
    """A new key (0600) and its signing request for `party-<id>` under directory/<name>/."""
    node = fed.node(party_id)
    party_dir = layout_of(fed, directory).party(party_id).directory
    try:
        make_private_dir(party_dir)
    except OSError as err:
        raise SecretsError(f"cannot create {party_dir}: {err.strerror or err}") from None
    key_file, csr_file = party_dir / REQUEST_KEY, party_dir / CSR_FILE
    if key_file.exists():
        raise SecretsError(f"{key_file} exists: a request is pending; import its certificate, or delete it to start over")
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, identity(node.id))]))
        .add_extension(x509.SubjectAlternativeName(alt_names(node.id, party_hosts(fed, node.id))), critical=False)
        .sign(key, hashes.SHA256())
    )
    create_file(key_file, key_pem(key), 0o600)
    write_file(csr_file, csr.public_bytes(serialization.Encoding.PEM), 0o644)
    return Request(key_file, csr_file)


def _load_csr(path: Path) -> x509.CertificateSigningRequest:
    try:
        data = path.read_bytes()
    except OSError as err:
        raise SpecError(f"{path}: cannot read the request", [Problem(err.strerror or str(err), str(path))]) from None
    try:
        csr = x509.load_pem_x509_csr(data) if b"-----BEGIN" in data else x509.load_der_x509_csr(data)
    except ValueError:
        raise SpecError(f"{path}: not a certificate signing request (PEM or DER)",
                        [Problem("not a certificate signing request", str(path))]) from None
    if not csr.is_signature_valid:
        raise SpecError(f"{path}: the request's signature does not match its key",
                        [Problem("bad signature: the request was altered or not made with its key", str(path))])
    return csr


def _check_csr(fed: Federation, csr: x509.CertificateSigningRequest, path: Path, party_id: int | None) -> int:
    """The party id the request is for, after every check against the spec; every problem at once."""
    where = str(path)
    names = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    who = str(names[0].value) if names else ""
    ids = {identity(n.id): n.id for n in fed.nodes()}
    if who not in ids:
        known = ", ".join(sorted(ids, key=lambda k: ids[k]))
        raise SpecError(f"{where}: the request is for {who or 'no identity'}, which is not a party of "
                        f"{fed.source or 'the spec'}", [Problem(f"subject CN {who!r}; the spec has {known}", where)])
    requested = ids[who]
    problems = []
    if party_id is not None and requested != party_id:
        problems.append(Problem(f"the request is for {who}, not {identity(party_id)} (--party)", where))
    key = csr.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, _CURVES):
        problems.append(Problem("the key must be ECDSA P-256 or P-384", where))
    try:
        asked = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        asked = x509.SubjectAlternativeName([])
    allowed = {str(n.value) for n in alt_names(requested, party_hosts(fed, requested))}
    extra = sorted(str(n.value) for n in asked if str(n.value) not in allowed)
    if extra:
        problems.append(Problem(f"names the spec does not give {who}: {', '.join(extra)} "
                                f"(allowed: {', '.join(sorted(allowed))})", where))
    if problems:
        raise SpecError(f"{where}: refused to sign", problems)
    return requested


def sign_request(fed: Federation, ca_dir: Path, csr_path: Path, out: Path, party_id: int | None = None) -> x509.Certificate:
    """Sign a party's request with the federation CA in ca_dir; write CERT (leaf, then trust bundle)."""
    csr = _load_csr(csr_path)
    requested = _check_csr(fed, csr, csr_path, party_id)
    if not (ca_dir / CA_KEY).exists() and not (ca_dir / CA_CERT).exists():
        make_private_dir(ca_dir)
        key, ca_cert = create_ca(f"{fed.name} federation CA")
        create_file(ca_dir / CA_KEY, key_pem(key), 0o600)
        create_file(ca_dir / CA_CERT, cert_pem(ca_cert), 0o644)
    authority = load_authority(ca_dir)
    public = csr.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    paths = layout_of(fed, ca_dir).party(requested)
    if paths.key_file.exists() and not _same_key(paths.key_file, public):
        raise SecretsError(
            f"{paths.key_file} holds a key the CA made for {identity(requested)}; so that only the party holds "
            f"its key, delete {paths.key_file} and {paths.cert_file} first, then sign again"
        )
    cert = sign_leaf(authority.key, authority.cert, public, requested, party_hosts(fed, requested))
    write_file(out, cert_pem(cert) + trust_bundle(ca_dir), 0o644)
    make_private_dir(paths.directory)
    write_file(paths.cert_file, cert_pem(cert), 0o644)  # for status, revoke and the trust checks
    if not paths.key_file.exists():
        write_file(paths.directory / EXTERNAL_MARKER, f"{identity(requested)} holds its own key\n", 0o644)
    record_issued(ca_dir, cert, requested, paths.name)
    return cert


def _same_key(key_file: Path, public: ec.EllipticCurvePublicKey) -> bool:
    return read_key(key_file).public_key() == public


def import_certificate(fed: Federation, party_id: int, cert_path: Path, directory: Path) -> Path:
    """Install a signed certificate next to the request's key in directory; returns tls.crt."""
    node = fed.node(party_id)
    paths = layout_of(fed, directory).party(party_id)
    pending = paths.directory / REQUEST_KEY
    if not pending.is_file():
        raise SecretsError(f"no pending request in {paths.directory} ({REQUEST_KEY}): run `fatectl certs request` there first")
    try:
        data = cert_path.read_bytes()
        certs = certificates_in(data)
    except (OSError, ValueError) as err:
        raise SpecError(f"{cert_path}: not a PEM certificate file ({err})") from None
    if len(certs) < 2:
        raise SpecError(f"{cert_path}: expected the certificate followed by the CA bundle (`fatectl certs sign` output)")
    leaf, cas = certs[0], certs[1:]
    key = read_key(pending)
    problems = []
    if owner_of(leaf) != identity(node.id):
        problems.append(f"it is for {owner_of(leaf)}, not {identity(node.id)}")
    if leaf.public_key() != key.public_key():
        problems.append(f"it was not made from the request whose key is {pending}")
    if not _issued_by_any(leaf, cas):
        problems.append("it was not issued by the CA certificates that follow it")
    if problems:
        raise SpecError(f"{cert_path}: refused", [Problem(p, str(cert_path)) for p in problems])
    bundle = b"".join(pem_blocks(data)[1:])
    write_file(paths.cert_file, cert_pem(leaf), 0o644)
    os.replace(pending, paths.key_file)  # a rename inside the party's own directory: the key never moves out
    (paths.directory / CSR_FILE).unlink(missing_ok=True)
    (paths.directory / EXTERNAL_MARKER).unlink(missing_ok=True)  # the key is here after all
    write_file(paths.ca_file, bundle, 0o644)
    if not (directory / CA_KEY).exists():
        write_file(directory / CA_CERT, bundle, 0o644)
    return paths.cert_file


def _issued_by_any(leaf: x509.Certificate, cas: list[x509.Certificate]) -> bool:
    for ca in cas:
        try:
            leaf.verify_directly_issued_by(ca)
            return True
        except (ValueError, TypeError, InvalidSignature):
            continue
    return False
