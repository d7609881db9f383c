"""`fatectl doctor` names each fault it checks for: every fault below is injected for real."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from fatectl.cli import main
from fatectl.doctor import Check, diagnose
from fatectl.lab.local import LocalLab
from fatectl.pki import ensure_secrets, issue_certificate
from tests.integration.conftest import Lab

from .conftest import fresh_federation

pytestmark = pytest.mark.timeout(300)


def _failed(checks: list[Check], kind: str) -> list[Check]:
    return [c for c in checks if c.check == kind and c.status == "fail"]


def test_a_healthy_lab_passes_every_check(ops_lab: Lab) -> None:
    checks = diagnose(ops_lab.fed, root=ops_lab.root)
    assert [c for c in checks if c.status == "fail"] == []
    kinds = {c.check for c in checks}
    assert {"port", "address", "certificate", "expiry", "clock", "link", "disk"} <= kinds
    assert sum(1 for c in checks if c.check == "link" and c.status == "ok") == 2  # both directions up over mTLS
    assert all(c.status == "ok" for c in checks if c.check == "port")  # held by this lab, not by another program


def test_a_port_taken_by_another_program_is_named(tmp_path: Path) -> None:
    fed = fresh_federation(tmp_path, "ports-doctor")
    port = fed.party(10000).compose.host_ports["flow"]
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        checks = diagnose(fed, root=tmp_path / "lab")
    (failure,) = _failed(checks, "port")
    assert failure.party == "org-10000" and f"127.0.0.1:{port} (flow) is taken by another program" in failure.detail
    assert "compose.hostPorts" in failure.hint


def test_a_certificate_whose_sans_miss_the_address_is_named(tmp_path: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    fed = fresh_federation(tmp_path, "san-doctor")
    lab = LocalLab.of(fed, tmp_path / "lab")
    layout = ensure_secrets(fed, lab.secrets_dir)
    ca_key = serialization.load_pem_private_key(layout.ca_key_file.read_bytes(), password=None)
    ca_cert = x509.load_pem_x509_certificate(layout.ca_file.read_bytes())
    party = layout.party(10000)
    key, cert = issue_certificate(ca_key, ca_cert, 10000, hosts=("somewhere-else.example",))  # type: ignore[arg-type]
    party.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    checks = diagnose(fed, root=tmp_path / "lab")
    (failure,) = _failed(checks, "certificate")
    assert failure.party == "org-10000" and "SANs do not cover org-10000.example" in failure.detail
    assert "reissue" in failure.hint


def test_expired_and_expiring_certificates(tmp_path: Path) -> None:
    fed = fresh_federation(tmp_path, "expiry-doctor")
    ensure_secrets(fed, LocalLab.of(fed, tmp_path / "lab").secrets_dir)
    now = dt.datetime.now(dt.UTC)
    soon = diagnose(fed, root=tmp_path / "lab", now=now + dt.timedelta(days=350))
    assert {c.status for c in soon if c.check == "expiry"} == {"warn"}
    assert all("expires in" in c.detail for c in soon if c.check == "expiry")
    later = diagnose(fed, root=tmp_path / "lab", now=now + dt.timedelta(days=400))
    expired = _failed(later, "expiry")
    assert {c.party for c in expired} == {"org-9999", "org-10000"} and all("expired on" in c.detail for c in expired)


def test_a_skewed_clock_is_named(ops_lab: Lab) -> None:
    ahead = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=120)  # as if this host ran two minutes fast
    checks = diagnose(ops_lab.fed, root=ops_lab.root, now=ahead)
    skewed = _failed(checks, "clock")
    assert {c.party for c in skewed} == {"org-9999", "org-10000"}
    assert all(c.detail.startswith("-12") and "NTP" in c.hint for c in skewed)


def test_a_stopped_peer_router_is_named_and_the_cli_exits_non_zero(tmp_path: Path) -> None:
    fed = fresh_federation(tmp_path, "stopped-doctor")
    lab = LocalLab.of(fed, tmp_path / "lab")
    lab.up(timeout=120)
    try:
        state = json.loads(lab.state_file.read_text())
        os.killpg(state["org-10000/router"]["pid"], signal.SIGKILL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # the guest's router notices at its next link probe
            links = _failed(diagnose(fed, 9999, root=tmp_path / "lab"), "link")
            if links:
                break
            time.sleep(0.5)
        assert links and links[0].party == "org-9999" and "-> 10000" in links[0].detail
        assert "party 10000's router" in links[0].hint
        result = CliRunner().invoke(main, ["doctor", str(tmp_path / "stopped-doctor.yaml"), "--party", "9999",
                                           "--output", "json"], env={"FATECTL_LAB_DIR": str(tmp_path / "lab")})
        assert result.exit_code == 3 and "checks failed" in result.output and "Traceback" not in result.output
        rows = json.loads(result.output[: result.output.rindex("]") + 1])
        assert any(r["check"] == "link" and r["status"] == "fail" for r in rows)
    finally:
        lab.down()
