"""homo_lr with secure aggregation through a real local lab: routers with mTLS, flows, worker processes.

The shipped example job, unchanged but for fewer rounds, on the shipped breast_homo rows. The
arbiter (the aggregator) runs on the guest's party, as in the example.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from .conftest import Lab

pytestmark = pytest.mark.timeout(600)
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_homo_lr_secure_aggregation_in_a_lab(two_party_lab: Lab) -> None:
    guest, host = two_party_lab.client(9999), two_party_lab.client(10000)
    data = EXAMPLES / "data"
    guest.upload_table("breast_homo_guest", data / "breast_homo_guest.csv", overwrite=True)
    host.upload_table("breast_homo_host", data / "breast_homo_host.csv", overwrite=True)
    for client in (guest, host):
        client.upload_table("breast_homo_test", data / "breast_homo_test.csv", overwrite=True)
    job_text = (EXAMPLES / "jobs" / "breast-homo-lr.yaml").read_text(encoding="utf-8")
    job_text = job_text.replace("max_iter: 30 ", "max_iter: 8 ")
    assert "max_iter: 8 " in job_text
    submitted = guest.submit(job_text)
    job = guest.wait(submitted["id"], timeout=500, poll=0.5)
    assert job["status"] == "success", job.get("reason")
    assert host.job(job["id"])["status"] == "success"
    metrics = {(o["component"], o["role"], o["name"]): o for o in guest.outputs(job["id"])}
    auc = metrics[("evaluate", "guest", "auc")]
    assert auc["value"] > 0.98
    host_metrics = {(o["component"], o["name"]): o["value"] for o in host.outputs(job["id"]) if o["role"] == "host"}
    assert host_metrics[("lr", "test_auc")] > 0.98  # the host evaluated the global model on its own test rows
    scored = list(csv.DictReader(io.StringIO(guest.output_csv(job["id"], "lr", "guest"))))
    assert len(scored) == 69 and {"predict_score", "predict_result"} <= set(scored[0])


def test_three_clients_through_the_exchange(star_lab: Lab) -> None:
    """The three-client example job on a star topology: every message crosses the exchange."""
    clients = {p: star_lab.client(p) for p in (9999, 10000, 10001)}
    data = EXAMPLES / "data"
    for party, name in ((9999, "breast_homo_guest"), (10000, "breast_homo_host_1"), (10001, "breast_homo_host_2")):
        clients[party].upload_table(name, data / f"{name}.csv", overwrite=True)
    job_text = (EXAMPLES / "jobs" / "breast-homo-lr-3.yaml").read_text(encoding="utf-8")
    job_text = job_text.replace("max_iter: 30\n", "max_iter: 6\n")
    assert "max_iter: 6\n" in job_text
    job = clients[10001].wait(clients[10001].submit(job_text)["id"], timeout=500, poll=0.5)
    assert job["status"] == "success", job.get("reason")
    for party, client in clients.items():
        assert client.job(job["id"])["status"] == "success"
        role = "guest" if party == 9999 else "host"
        metrics = {o["name"]: o["value"] for o in client.outputs(job["id"]) if o["component"] == "lr" and o["role"] == role}
        assert metrics["train_auc"] > 0.98 and metrics["rounds"] == 6
