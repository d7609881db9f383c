"""Distributed provisioning: a party's key is made in its own directory and never leaves it."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from fatectl.certs.request import import_certificate, request_certificate, sign_request
from fatectl.cli import main
from fatectl.errors import FatectlError, SpecError
from fatectl.pki import ensure_secrets
from fatectl.project import write_helm
from fatectl.spec.loader import load_federation

TWO = Path(__file__).resolve().parents[2] / "examples" / "two-party.yaml"


def _key_forms(key_file: Path) -> list[bytes]:
    """The private key as PEM, DER and base64 (the forms it could leak in)."""
    key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    pem = key_file.read_bytes()
    body = b"".join(pem.splitlines()[1:-1])
    secret = key.private_numbers().private_value.to_bytes(32, "big")  # type: ignore[union-attr]
    return [pem, der, body, base64.b64encode(pem), secret]


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_a_party_provisioned_by_request_never_had_its_key_outside_its_directory(tmp_path: Path) -> None:
    fed = load_federation(TWO)
    party_dir, ca_dir, out = tmp_path / "bank-b-secrets", tmp_path / "ca", tmp_path / "ca-render"
    made = request_certificate(fed, 10000, party_dir)
    assert oct(made.key_file.stat().st_mode & 0o777) == "0o600"
    ensure_secrets(fed, ca_dir, only=9999)  # the CA holder's own party
    signed = tmp_path / "bank-b.pem"
    cert = sign_request(fed, ca_dir, made.csr_file, signed, party_id=10000)
    assert cert.subject.rfc4514_string() == "CN=party-10000"
    key_file = import_certificate(fed, 10000, signed, party_dir).with_name("tls.key")
    assert not made.key_file.exists() and key_file.is_file()
    # The party renders its own chart from its own directory (no CA key there) ...
    own = write_helm(fed, tmp_path / "bank-b-render", party_id=10000, secrets_dir=party_dir)
    assert own.targets == ("bank-b",) and (tmp_path / "bank-b-render/bank-b/secret-values.yaml").is_file()
    # ... and the CA holder renders every chart without ever making bank-b a key.
    result = write_helm(fed, out, secrets_dir=ca_dir)
    assert result.held_elsewhere == ("bank-b",) and not (out / "bank-b" / "secret-values.yaml").exists()
    assert not (ca_dir / "bank-b" / "tls.key").exists() and (ca_dir / "bank-b" / "tls.crt").is_file()
    ca_side = [*_files(ca_dir), *_files(out), signed]
    forms = _key_forms(key_file)
    leaks = [str(p) for p in ca_side for form in forms if form in p.read_bytes()]
    assert leaks == []
    inside = [p for p in _files(tmp_path) if any(form in p.read_bytes() for form in forms[:1])]
    assert {p.parent for p in inside} <= {party_dir / "bank-b", tmp_path / "bank-b-render" / "bank-b"}


def test_csr_checks_refuse_wrong_identity_names_and_garbage(tmp_path: Path) -> None:
    fed = load_federation(TWO)
    ca_dir = tmp_path / "ca"
    made = request_certificate(fed, 10000, tmp_path / "p")
    with pytest.raises(SpecError, match="the request is for party-10000, not party-9999"):
        sign_request(fed, ca_dir, made.csr_file, tmp_path / "x.pem", party_id=9999)
    garbage = tmp_path / "garbage.csr"
    garbage.write_text("not a request\n")
    with pytest.raises(SpecError, match="not a certificate signing request"):
        sign_request(fed, ca_dir, garbage, tmp_path / "x.pem")
    key = ec.generate_private_key(ec.SECP256R1())

    def csr(cn: str, names: list[str]) -> Path:
        built = (x509.CertificateSigningRequestBuilder()
                 .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
                 .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
                 .sign(key, hashes.SHA256()))
        path = tmp_path / f"{cn}.csr"
        path.write_bytes(built.public_bytes(serialization.Encoding.PEM))
        return path

    with pytest.raises(SpecError, match=r"party-42, which is not a party"):
        sign_request(fed, ca_dir, csr("party-42", ["party-42"]), tmp_path / "x.pem")
    with pytest.raises(SpecError) as err:
        sign_request(fed, ca_dir, csr("party-10000", ["party-10000", "bank.evil.example"]), tmp_path / "x.pem")
    assert "names the spec does not give party-10000: bank.evil.example" in str(err.value)
    tampered = tmp_path / "tampered.csr"
    der = bytearray(x509.load_pem_x509_csr(made.csr_file.read_bytes()).public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0x01  # inside the signature
    tampered.write_bytes(bytes(der))
    with pytest.raises(SpecError, match="signature"):
        sign_request(fed, ca_dir, tampered, tmp_path / "x.pem")
    assert not (tmp_path / "x.pem").exists()


def test_import_refuses_a_certificate_not_made_from_the_request(tmp_path: Path) -> None:
    fed = load_federation(TWO)
    ca_dir = tmp_path / "ca"
    mine, theirs = request_certificate(fed, 10000, tmp_path / "mine"), request_certificate(fed, 10000, tmp_path / "theirs")
    sign_request(fed, ca_dir, theirs.csr_file, tmp_path / "theirs.pem")
    with pytest.raises(SpecError, match="not made from the request"):
        import_certificate(fed, 10000, tmp_path / "theirs.pem", tmp_path / "mine")
    assert mine.key_file.is_file()  # nothing moved
    with pytest.raises(FatectlError, match="no pending request"):
        import_certificate(fed, 9999, tmp_path / "theirs.pem", tmp_path / "mine")
    with pytest.raises(FatectlError, match="not signed yet"):
        ensure_secrets(fed, tmp_path / "mine", only=10000)  # a render before the import: clear, and no new CA


def test_the_ca_refuses_to_sign_over_a_key_it_made_itself(tmp_path: Path) -> None:
    fed = load_federation(TWO)
    ca_dir = tmp_path / "ca"
    ensure_secrets(fed, ca_dir)
    made = request_certificate(fed, 10000, tmp_path / "p")
    with pytest.raises(FatectlError, match="holds a key the CA made for party-10000"):
        sign_request(fed, ca_dir, made.csr_file, tmp_path / "x.pem")


def test_cli_errors_are_clear_and_exit_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csr"
    bad.write_text("nope")
    runner = CliRunner()
    result = runner.invoke(main, ["certs", "sign", str(TWO), str(bad), "-o", str(tmp_path / "o"), "--ca-dir", str(tmp_path / "ca")])
    assert result.exit_code == 1 and "not a certificate signing request" in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(main, ["certs", "revoke", str(TWO), "--secrets-dir", str(tmp_path / "ca"), "--party", "77"])
    assert result.exit_code == 1 and "no party with id 77" in result.output
    result = runner.invoke(main, ["certs", "rotate", str(TWO)])
    assert result.exit_code == 1 and "either --secrets-dir DIR" in result.output
    result = runner.invoke(main, ["certs", "request", str(TWO), "--party", "10000", "-o", str(tmp_path / "r")])
    assert result.exit_code == 0 and "stays here" in result.output
