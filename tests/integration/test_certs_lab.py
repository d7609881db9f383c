"""Certificates on a real local lab: a self-provisioned party, rotation under a running job,
revocation refused by every router; no process is restarted for any of it."""

from __future__ import annotations

import json
import os
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from fatectl.certs.apply import revoke, rotate
from fatectl.certs.request import import_certificate, request_certificate, sign_request
from fatectl.lab.local import LocalLab
from fatectl.lab.readiness import probe_federation
from fatectl.spec.loader import load_federation

from .conftest import Lab, output_ids, psi_job, spec_text, upload_ids

pytestmark = pytest.mark.timeout(600)
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
LR_JOB = """name: lr-under-rotation
roles: {guest: [9999], host: [10000], arbiter: [9999]}
tables: {9999: breast_guest, 10000: breast_host}
pipeline:
  - {name: intersect, component: psi}
  - name: lr
    component: hetero_lr
    needs: [intersect]
    params: {max_iter: 25, tol: 0, batch_size: 5000, early_stop: weight_diff, insecure_key: true,
             encrypt_param: {key_length: 1024}}
timeout: 600
"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    tmp = tmp_path_factory.mktemp("certlab")
    spec = tmp / "cert-life.yaml"
    spec.write_text(spec_text("cert-life", [9999, 10000, 10001], exchange=False))
    fed = load_federation(spec)
    root = tmp / "lab"
    saved = os.environ.get("FATECTL_LAB_DIR")
    os.environ["FATECTL_LAB_DIR"] = str(root)  # `--lab local` finds this lab
    local = LocalLab.of(fed, root)
    # Party 10001 makes its own key; the CA only ever sees its request.
    made = request_certificate(fed, 10001, local.secrets_dir)
    signed = tmp / "org-10001-signed.pem"
    sign_request(fed, local.secrets_dir, made.csr_file, signed, party_id=10001)
    import_certificate(fed, 10001, signed, local.secrets_dir)
    assert b"PRIVATE KEY" not in signed.read_bytes()
    local.up(timeout=120)
    try:
        yield Lab(fed, spec, root)
    finally:
        local.down()
        if saved is None:
            os.environ.pop("FATECTL_LAB_DIR", None)
        else:
            os.environ["FATECTL_LAB_DIR"] = saved


def _pids(lab: Lab) -> dict[str, int]:
    state = json.loads(LocalLab.of(lab.fed, lab.root).state_file.read_text())
    return {name: entry["pid"] for name, entry in state.items()}


def _served_serial(lab: Lab, party_id: int) -> int:
    """The serial of the certificate a router presents to a new connection right now."""
    secrets = LocalLab.of(lab.fed, lab.root).secrets_dir / "org-9999"
    ctx = ssl.create_default_context(cafile=str(secrets / "ca.crt"))
    ctx.load_cert_chain(str(secrets / "tls.crt"), str(secrets / "tls.key"))
    port = lab.fed.party(party_id).compose.host_ports["router"]
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
            ctx.wrap_socket(raw, server_hostname=f"party-{party_id}") as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def _file_serial(lab: Lab, name: str) -> int:
    path = LocalLab.of(lab.fed, lab.root).secrets_dir / name / "tls.crt"
    return x509.load_pem_x509_certificate(path.read_bytes()).serial_number


def test_a_party_that_made_its_own_key_runs_a_job(lab: Lab, tmp_path: Path) -> None:
    a, c = lab.client(9999), lab.client(10001)
    upload_ids(a, tmp_path, "mine", [f"id{i}" for i in range(300)])
    upload_ids(c, tmp_path, "theirs", [f"id{i}" for i in range(100, 500)])
    job = a.wait(a.submit(psi_job({9999: "mine", 10001: "theirs"}, 9999, [10001]))["id"], timeout=300, poll=0.3)
    assert job["status"] == "success", job["reason"]
    assert len(output_ids(c, job["id"], "host")) == 200


def test_rotating_certificates_and_the_ca_under_a_running_job_interrupts_nothing(lab: Lab) -> None:
    a, b = lab.client(9999), lab.client(10000)
    a.upload_table("breast_guest", EXAMPLES / "data" / "breast_hetero_guest.csv", overwrite=True)
    b.upload_table("breast_host", EXAMPLES / "data" / "breast_hetero_host.csv", overwrite=True)
    pids = _pids(lab)
    old = {pid: _served_serial(lab, pid) for pid in (9999, 10000)}
    job = a.submit(LR_JOB)
    deadline = time.monotonic() + 120
    while a.job(job["id"])["status"] != "running" and time.monotonic() < deadline:
        time.sleep(0.2)
    result = rotate(lab.fed, lab="local", new_ca=True, overlap_days=2)
    # In a lab the CA and every party share one directory, 10001's imported key included.
    assert set(result.rotated) == {9999, 10000, 10001} and result.new_ca
    assert a.job(job["id"])["status"] == "running", "the job ended before the rotation did: make it longer"
    done = a.wait(job["id"], timeout=500, poll=0.5)
    assert done["status"] == "success", done["reason"]
    assert b.job(job["id"])["status"] == "success"
    assert _pids(lab) == pids  # no router, no flow restarted
    for pid, name in ((9999, "org-9999"), (10000, "org-10000")):
        served = _served_serial(lab, pid)
        assert served != old[pid] and served == _file_serial(lab, name)
    assert probe_federation(lab.fed, LocalLab.of(lab.fed, lab.root).secrets_dir).ready


def _refused(lab: Lab, to: int, secrets: Path) -> bool:
    port = lab.fed.party(to).compose.host_ports["router"]
    ctx = ssl.create_default_context(cafile=str(secrets.parent / "org-9999" / "ca.crt"))
    ctx.load_cert_chain(str(secrets / "tls.crt"), str(secrets / "tls.key"))
    try:
        with httpx.Client(verify=ctx, trust_env=False, timeout=5) as client:
            reply = client.get(f"https://127.0.0.1:{port}/v1/links", extensions={"sni_hostname": f"party-{to}"})
    except (httpx.HTTPError, ssl.SSLError, OSError):
        return True
    return reply.status_code == 403


def test_a_revoked_party_is_refused_by_every_router(lab: Lab) -> None:
    pids = _pids(lab)
    result = revoke(lab.fed, 10001, lab="local")
    assert result.serials
    secrets = LocalLab.of(lab.fed, lab.root).secrets_dir / "org-10001"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not all(_refused(lab, to, secrets) for to in (9999, 10000)):
        time.sleep(0.5)
    assert all(_refused(lab, to, secrets) for to in (9999, 10000))
    a = lab.client(9999)
    while time.monotonic() < deadline and a.links()["10001"]["state"] != "down":
        time.sleep(0.5)
    links = a.links()
    assert links["10001"]["state"] == "down"  # 9999 refuses the revoked router's certificate too
    assert links["10000"]["state"] == "up"
    assert _pids(lab) == pids
