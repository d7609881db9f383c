"""Certificates over their life: expiry, rotation (leaf and CA, with overlap), revocation (CRL)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509

from fate.federation.reload import revoked_serials
from fatectl.certs.authority import pem_blocks, trust_bundle, trusted_cas
from fatectl.certs.expiry import certificate_states
from fatectl.certs.revoke import revoke_party
from fatectl.certs.rotate import rotate_certificates
from fatectl.errors import FatectlError, SpecError
from fatectl.pki import ensure_secrets
from tests.federation.specs import federation


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except Exception:
        return False
    return True


def test_expiry_rows_warn_under_thirty_days(tmp_path: Path) -> None:
    fed = federation((9999, 10000), exchange=True)
    ensure_secrets(fed, tmp_path)
    now = dt.datetime.now(dt.UTC)
    fresh = {c.name: c for c in certificate_states(fed, tmp_path, now)}
    assert set(fresh) == {"federation CA", "org-0", "org-1", "exchange"}
    assert fresh["org-0"].state == "valid" and 360 <= (fresh["org-0"].days_left or 0) <= 365
    later = {c.name: c for c in certificate_states(fed, tmp_path, now + dt.timedelta(days=345))}
    assert later["org-0"].state == "expiring" and later["org-0"].warning
    assert "fatectl certs rotate SPEC --party 9999" in later["org-0"].detail
    assert later["federation CA"].state == "valid"
    gone = {c.name: c for c in certificate_states(fed, tmp_path, now + dt.timedelta(days=400))}
    assert gone["org-1"].state == "expired"
    assert certificate_states(federation(tls="none"), tmp_path) == ()


def test_leaf_rotation_keeps_the_ca_and_the_old_certificate_valid(tmp_path: Path) -> None:
    fed = federation((9999, 10000))
    layout = ensure_secrets(fed, tmp_path)
    before = {pid: layout.party(pid).cert_file.read_bytes() for pid in (9999, 10000)}
    ca_before = layout.ca_file.read_bytes()
    result = rotate_certificates(fed, tmp_path, party_id=10000)
    assert result.rotated == (10000,) and not result.new_ca
    assert layout.party(9999).cert_file.read_bytes() == before[9999]
    new = _cert(layout.party(10000).cert_file)
    assert layout.party(10000).cert_file.read_bytes() != before[10000]
    assert layout.ca_file.read_bytes() == ca_before and _issued_by(new, _cert(layout.ca_file))
    assert oct(layout.party(10000).key_file.stat().st_mode & 0o777) == "0o600"
    ensure_secrets(fed, tmp_path)  # the new pair passes every check


def test_ca_rotation_trusts_old_and_new_during_the_overlap_only(tmp_path: Path) -> None:
    fed = federation((9999, 10000))
    layout = ensure_secrets(fed, tmp_path)
    old_ca = _cert(layout.ca_file)
    old_leaf = _cert(layout.party(9999).cert_file)
    seen: list[int] = []
    result = rotate_certificates(fed, tmp_path, new_ca=True, overlap_days=3,
                                 settle=lambda: seen.append(len(pem_blocks(layout.party(9999).ca_file.read_bytes()))))
    assert seen == [2]  # trust went out (old + new CA) before any new leaf
    new_ca = _cert(layout.ca_file)
    assert new_ca.subject != old_ca.subject and result.rotated == (9999, 10000)
    bundle = layout.party(10000).ca_file.read_bytes()
    assert [c.subject for c in trusted_cas(tmp_path)] == [new_ca.subject, old_ca.subject]
    assert bundle == trust_bundle(tmp_path)
    assert _issued_by(_cert(layout.party(10000).cert_file), new_ca) and _issued_by(old_leaf, old_ca)
    after = dt.datetime.now(dt.UTC) + dt.timedelta(days=4)
    assert [c.subject for c in trusted_cas(tmp_path, after)] == [new_ca.subject]


def test_trust_only_introduces_the_ca_and_leaves_the_leaves(tmp_path: Path) -> None:
    fed = federation((9999, 10000))
    layout = ensure_secrets(fed, tmp_path)
    leaf = layout.party(9999).cert_file.read_bytes()
    result = rotate_certificates(fed, tmp_path, new_ca=True, trust_only=True)
    assert result.rotated == () and layout.party(9999).cert_file.read_bytes() == leaf
    assert len(trusted_cas(tmp_path)) == 2
    ensure_secrets(fed, tmp_path)  # a leaf of the previous CA is still one of ours during the overlap
    with pytest.raises(SpecError, match="--trust-only introduces a new CA"):
        rotate_certificates(fed, tmp_path, trust_only=True)
    with pytest.raises(SpecError, match="at least 1"):
        rotate_certificates(fed, tmp_path, new_ca=True, overlap_days=0)


def test_revocation_puts_every_certificate_of_the_party_on_a_crl_in_each_ca_file(tmp_path: Path) -> None:
    fed = federation((9999, 10000, 10001))
    layout = ensure_secrets(fed, tmp_path)
    first = _cert(layout.party(10001).cert_file).serial_number
    rotate_certificates(fed, tmp_path, party_id=10001)
    second = _cert(layout.party(10001).cert_file).serial_number
    result = revoke_party(fed, tmp_path, 10001)
    assert len(result.serials) == 2 and result.already == 0
    for pid in (9999, 10000, 10001):
        ca_file = layout.party(pid).ca_file
        assert b"-----BEGIN X509 CRL-----" in ca_file.read_bytes()
        assert revoked_serials(str(ca_file)) == {first, second}
    crl = x509.load_pem_x509_crl(next(b for b in pem_blocks(layout.party(9999).ca_file.read_bytes()) if b"CRL" in b))
    assert crl.is_signature_valid(_cert(layout.ca_file).public_key())  # type: ignore[arg-type]
    states = {c.name: c.state for c in certificate_states(fed, tmp_path)}
    assert states["org-2"] == "revoked" and states["org-0"] == "valid"
    assert revoke_party(fed, tmp_path, 10001).already == 2


def test_revocation_survives_a_ca_rotation(tmp_path: Path) -> None:
    fed = federation((9999, 10000))
    layout = ensure_secrets(fed, tmp_path)
    revoked = _cert(layout.party(10000).cert_file).serial_number
    revoke_party(fed, tmp_path, 10000)
    rotate_certificates(fed, tmp_path, new_ca=True)
    crls = [x509.load_pem_x509_crl(b) for b in pem_blocks(layout.party(9999).ca_file.read_bytes()) if b"CRL" in b]
    assert len(crls) == 2  # one per trusted CA, or OpenSSL would refuse that CA's leaves for want of a CRL
    assert all(c.get_revoked_certificate_by_serial_number(revoked) is not None for c in crls)


def test_unhappy_paths_name_the_problem(tmp_path: Path) -> None:
    fed = federation((9999, 10000))
    with pytest.raises(FatectlError, match="holds no federation CA key"):
        revoke_party(fed, tmp_path, 9999)
    ensure_secrets(fed, tmp_path)
    with pytest.raises(SpecError, match=r"no party with id 42 .*parties: 9999, 10000"):
        revoke_party(fed, tmp_path, 42)
    with pytest.raises(SpecError, match=r"no party with id 42"):
        rotate_certificates(fed, tmp_path, party_id=42)
    with pytest.raises(SpecError, match="security.tls is none"):
        revoke_party(federation(tls="none"), tmp_path, 9999)
