"""Federation CA, per-party certificates and tokens: created once, never overwritten."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from fatectl.errors import FatectlError
from fatectl.pki import create_ca, ensure_secrets, issue_certificate, write_pem_pair
from tests.federation.specs import federation


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_creates_ca_party_and_exchange_material_with_private_modes(tmp_path: Path) -> None:
    fed = federation((9999, 10000), exchange=True)
    layout = ensure_secrets(fed, tmp_path / "s")
    assert _mode(layout.ca_key_file) == 0o600
    assert _mode(layout.directory) == 0o700
    ca = _cert(layout.ca_file)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert set(layout.parties) == {9999, 10000, 1}
    for pid, party in layout.parties.items():
        assert _mode(party.key_file) == 0o600
        assert _mode(party.directory) == 0o700
        assert party.ca_file.read_bytes() == layout.ca_file.read_bytes()
        assert not (party.directory / "ca.key").exists()
        cert = _cert(party.cert_file)
        cert.verify_directly_issued_by(ca)
        assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == f"party-{pid}"
        assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
        assert cert.public_key().curve.name == "secp256r1"  # type: ignore[union-attr]
        days = (cert.not_valid_after_utc - cert.not_valid_before_utc).days
        assert 365 <= days <= 366
    party = layout.party(9999)
    assert party.token_file is not None and _mode(party.token_file) == 0o600
    assert len(party.token_file.read_text().strip()) >= 43
    assert layout.party(1).token_file is None
    sans = _cert(party.cert_file).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    dns = sans.get_values_for_type(x509.DNSName)
    assert {"party-9999", "org-0-router", "localhost"} <= set(dns)
    assert {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "10.0.0.11"}


def test_tokens_differ_per_party_and_rerun_changes_nothing(tmp_path: Path) -> None:
    fed = federation((9999, 10000, 10001))
    first = ensure_secrets(fed, tmp_path)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    tokens = {first.party(pid).token_file.read_text() for pid in (9999, 10000, 10001)}  # type: ignore[union-attr]
    assert len(tokens) == 3
    ensure_secrets(fed, tmp_path)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_missing_files_are_regenerated_with_the_existing_ca(tmp_path: Path) -> None:
    fed = federation((9999, 10000))
    layout = ensure_secrets(fed, tmp_path)
    ca_before = layout.ca_file.read_bytes()
    layout.party(10000).cert_file.unlink()
    layout.party(10000).key_file.unlink()
    bigger = federation((9999, 10000, 10001))
    layout = ensure_secrets(bigger, tmp_path)
    assert layout.ca_file.read_bytes() == ca_before
    ca = _cert(layout.ca_file)
    for pid in (10000, 10001):
        _cert(layout.party(pid).cert_file).verify_directly_issued_by(ca)


def test_foreign_or_mismatched_material_is_a_clear_error(tmp_path: Path) -> None:
    fed = federation((9999, 10000))
    layout = ensure_secrets(fed, tmp_path)
    party = layout.party(10000)
    party.cert_file.unlink()
    party.key_file.unlink()
    other_key, other_ca = create_ca("someone else")
    write_pem_pair(party.directory, *issue_certificate(other_key, other_ca, 10000))
    with pytest.raises(FatectlError, match="not issued by this federation's CA"):
        ensure_secrets(fed, tmp_path)
    party.cert_file.unlink()
    party.key_file.unlink()
    layout.party(9999).key_file.unlink()
    with pytest.raises(FatectlError, match="only one of tls.crt / tls.key"):
        ensure_secrets(fed, tmp_path)


def test_certificate_for_another_party_is_detected(tmp_path: Path) -> None:
    fed = federation((9999, 10000))
    layout = ensure_secrets(fed, tmp_path)
    a, b = layout.party(9999), layout.party(10000)
    b.cert_file.unlink()
    b.key_file.unlink()
    b.cert_file.write_bytes(a.cert_file.read_bytes())
    b.key_file.write_bytes(a.key_file.read_bytes())
    with pytest.raises(FatectlError, match="belongs to party-9999, not party-10000"):
        ensure_secrets(fed, tmp_path)


def test_ca_key_without_certificate_is_refused(tmp_path: Path) -> None:
    layout = ensure_secrets(federation(), tmp_path)
    layout.ca_file.unlink()
    with pytest.raises(FatectlError, match="found only one of ca.crt / ca.key"):
        ensure_secrets(federation(), tmp_path)


def test_secrets_directory_under_a_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    with pytest.raises(FatectlError, match=r"cannot create secrets directory .*afile/s: Not a directory"):
        ensure_secrets(federation((9999, 10000)), tmp_path / "afile" / "s")


def test_the_board_and_readers_get_credentials_of_their_own(tmp_path: Path) -> None:
    from dataclasses import replace

    from fatectl.spec.model import Module

    fed = federation((9999, 10000))
    with_board = replace(fed.parties[0], modules=(*fed.parties[0].modules, Module("board", 8080)))
    fed = replace(fed, parties=(with_board, fed.parties[1]))
    layout = ensure_secrets(fed, tmp_path)
    board_party, plain = layout.party(9999), layout.party(10000)
    files = [board_party.token_file, board_party.reader_token_file, board_party.board_password_file]
    assert all(f is not None and f.is_file() and _mode(f) == 0o600 for f in files)
    values = [f.read_text() for f in files if f is not None]
    assert len(set(values)) == 3 and all(len(v.strip()) >= 43 for v in values)  # three independent secrets
    assert plain.reader_token_file is not None and plain.board_password_file is None  # no board, no password
    assert layout.party(9999).board_password_file == tmp_path / "org-0" / "board_password"
