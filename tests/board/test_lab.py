"""The board over a real two-party local lab (routers with mTLS, flows, workers): after a real
PSI -> hetero LR (Paillier) -> evaluation job, the guest's board draws that job's pipeline, ROC,
KS, lift, gain, confusion matrix and loss, and lists a job the host proposed that waits for the
guest's approval."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from fatectl.flowclient import FlowClient, client_for
from fatectl.lab.local import LocalLab
from fatectl.render.engine import Layout, engine_configs
from fatectl.spec.loader import load_federation
from fatectl.spec.model import Federation
from tests.processes import free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
DATA = Path(__file__).resolve().parents[2] / "examples" / "data"
JOB = """\
name: board-breast
roles: {guest: [9999], host: [10000], arbiter: [9999]}
tables: {9999: guest, 10000: host}
pipeline:
  - {name: intersect, component: psi}
  - name: lr
    component: hetero_lr
    needs: [intersect]
    params: {max_iter: 6, batch_size: -1, learning_rate: 0.15, optimizer: rmsprop,
             encrypt_param: {key_length: 512}, insecure_key: true}
  - {name: evaluate, component: evaluation, needs: [lr]}
timeout: 500
"""
# Proposed by the host: homo_lr is outside the guest's rule, so it waits for the guest's operator.
PENDING_JOB = """\
name: host-asks
roles: {guest: [10000], host: [9999], arbiter: [10000]}
tables: {10000: host, 9999: guest}
pipeline:
  - name: federated
    component: homo_lr
    params: {max_iter: 5, secure_aggregate: {method: secagg}}
"""


def _spec(ports: list[int]) -> str:
    parties = []
    for i, pid in enumerate((9999, 10000)):
        router, flow, board = ports[3 * i : 3 * i + 3]
        other = 10000 if pid == 9999 else 9999
        parties.append(
            f"  - {{id: {pid}, name: org-{pid}, address: org-{pid}.example, modules: [router, flow, board],\n"
            f"     compose: {{hostPorts: {{router: {router}, flow: {flow}, board: {board}}}}},\n"
            # The job uses 512-bit keys and runs unattended: each party's policy says so explicitly.
            f"     policy: {{allowInsecureKeys: true, minKeyBits: 512,\n"
            f"              rules: [{{name: board-lab, peers: [{other}], components: [psi, hetero_lr, evaluation],\n"
            f"                        approval: auto}}]}}}}\n"
        )
    return (
        "apiVersion: fatectl/v1\nname: board-lab\n"
        "security: {tls: mutual, paillierKeyBits: 1024, allowInsecureKeys: true}\n"
        "parties:\n" + "".join(parties)
    )


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Federation, Path]]:
    root = tmp_path_factory.mktemp("boardlab")
    spec = root / "lab.yaml"
    spec.write_text(_spec([free_port() for _ in range(6)]))
    fed = load_federation(spec)
    LocalLab.of(fed, root / "lab").up(timeout=120)
    try:
        yield fed, root
    finally:
        LocalLab.of(fed, root / "lab").down()


@dataclass(frozen=True)
class FinishedJob:
    job: dict[str, Any]
    url: str  # the guest's board
    password: str
    guest: FlowClient


@pytest.fixture(scope="module")
def finished(lab: tuple[Federation, Path]) -> FinishedJob:
    fed, root = lab
    local = LocalLab.of(fed, root / "lab")
    guest, host = client_for(fed, 9999, local.secrets_dir), client_for(fed, 10000, local.secrets_dir)
    guest.upload_table("guest", DATA / "breast_hetero_guest.csv", overwrite=True)
    host.upload_table("host", DATA / "breast_hetero_host.csv", overwrite=True)
    job = guest.wait(guest.submit(JOB)["id"], timeout=500, poll=0.5)
    assert job["status"] == "success", job["reason"]
    # `fatectl up local` starts the board of every party that lists the module.
    services = LocalLab.of(fed, root / "lab").status().services
    assert any((s.party, s.module, s.state) == ("org-9999", "board", "running") for s in services)
    configs = engine_configs(fed, Layout.local(str(local.secrets_dir), str(local.directory / "data")))
    url = f"http://127.0.0.1:{configs['org-9999/board.yaml']['listen']['port']}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=5).status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    password = (local.secrets_dir / "org-9999" / "board_password").read_text().strip()
    return FinishedJob(dict(job), url, password, guest)


def test_board_draws_the_roc_and_loss_of_a_real_job(finished: FinishedJob) -> None:
    job, url, password, guest = finished.job, finished.url, finished.password, finished.guest
    assert password != guest.token  # the board's login is never the flow token
    listing = httpx.get(url + "/", auth=("admin", password), timeout=30)
    assert listing.status_code == 200 and f'href="/jobs/{job["id"]}"' in listing.text
    assert re.search(
        r'<tr><td>10000</td><td><span class="status up">up</span></td><td>[0-9.]+ ms</td></tr>',
        listing.text,
    )
    page = httpx.get(f"{url}/jobs/{job['id']}", auth=("admin", password), timeout=30).text
    outputs = guest.outputs(job["id"])
    auc = next(o["value"] for o in outputs if o["name"] == "auc" and o["role"] == "guest")
    loss = next(o["value"] for o in outputs if o["component"] == "lr" and o["name"] == "loss")
    assert auc > 0.9  # the breast data separates well even after a few iterations
    assert f"ROC (AUC {auc:.4f})" in page
    loss_chart = re.search(r"<title>loss</title>.*?points=\"([^\"]+)\"", page, flags=re.S)
    assert loss_chart is not None and len(loss_chart.group(1).split()) == len(loss)
    for step in ("intersect", "lr", "evaluate"):
        assert re.search(
            rf"<td>{step}</td><td>[a-z_]+</td><td>guest</td><td><span class=\"status success\">", page
        )
    assert password not in page and guest.token not in page


@pytest.fixture(scope="module")
def pending(lab: tuple[Federation, Path], finished: FinishedJob) -> str:
    """A job the host proposed that waits for the guest's approval (after the main job, never run)."""
    fed, root = lab
    host = client_for(fed, 10000, LocalLab.of(fed, root / "lab").secrets_dir)
    job_id = str(host.submit(PENDING_JOB)["id"])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if any(j["id"] == job_id for j in finished.guest.jobs(status="pending")):
            return job_id
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} never waited for the guest's approval")


def test_every_board_page_renders_in_a_real_browser(finished: FinishedJob, pending: str) -> None:
    from .browser import browser_session, visit

    job_url = f"{finished.url}/jobs/{finished.job['id']}"
    with browser_session("admin", finished.password) as browser:
        listing = visit(browser, finished.url + "/", "jobs")
        detail = visit(browser, job_url, "job")
        step = visit(browser, job_url + "?step=evaluate", "job-step")
        approvals = visit(browser, finished.url + "/approvals", "approvals")
    for report in (listing, detail, step, approvals):
        assert report.status == 200 and report.console_errors == [], report
        assert report.screenshot is not None and report.screenshot.stat().st_size > 10_000
    titles = [c["title"] for c in detail.charts]
    for wanted in ("ROC (AUC", "KS ", "lift", "cumulative gain", "confusion matrix at threshold 0.5", "loss"):
        assert any(t.startswith(wanted) for t in titles), (wanted, titles)
    assert all(c["width"] >= 300 and c["height"] >= 200 for c in detail.charts), detail.charts
    # The pipeline graph: laid out, one link per step.
    assert [(g["title"], g["links"]) for g in detail.graphs] == [("pipeline", 3)], detail.graphs
    assert all(g["width"] > 0 and g["height"] > 0 for g in detail.graphs), detail.graphs
    # A step's link narrows the page to that step's outputs: the evaluation charts, not the LR's.
    assert "Outputs of step evaluate" in step.text and "lr as guest" not in step.text
    assert any(c["title"].startswith("KS ") for c in step.charts) and step.graphs
    # The pending approval: what it asks, and the command that decides it.
    assert pending in approvals.text and "proposed by" in approvals.text and "homo_lr" in approvals.text
    assert f"fatectl job approve SPEC --party 9999 {pending}" in approvals.text
    assert '"max_iter": 5' in approvals.text
