"""SecureBoost through the real job flow: a local lab (routers with mTLS, flows, worker processes), breast data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import Lab

pytestmark = pytest.mark.timeout(900)
DATA = Path(__file__).resolve().parents[2] / "examples" / "data"
JOB = """
name: lab-secureboost
roles: {guest: [9999], host: [10000]}
tables: {9999: sbt_guest, 10000: sbt_host}
pipeline:
  - {name: intersect, component: psi}
  - {name: split, component: data_split, params: {train_size: 0.8, validate_size: 0.2, test_size: 0.0,
                                                  stratified: true, random_state: 1}}
  - {name: sbt, component: hetero_secureboost,
     params: {num_trees: 2, he_param: {key_length: 1024}, insecure_key: true}}
  - {name: evaluate, component: evaluation}
timeout: 600
"""


def _outputs(rows: list[Any], component: str, kind: str) -> dict[str, Any]:
    return {r["name"]: r["value"] for r in rows if r["component"] == component and r["kind"] == kind}


def test_breast_secureboost_job_runs_through_the_lab(two_party_lab: Lab) -> None:
    guest, host = two_party_lab.client(9999), two_party_lab.client(10000)
    guest.upload_table("sbt_guest", DATA / "breast_hetero_guest.csv", overwrite=True)
    host.upload_table("sbt_host", DATA / "breast_hetero_host.csv", overwrite=True)
    submitted = guest.submit(JOB)
    job = guest.wait(submitted["id"], timeout=800, poll=0.5)
    assert job["status"] == "success", job["reason"]
    assert host.job(job["id"])["status"] == "success"

    mine = guest.outputs(job["id"])
    assert _outputs(mine, "evaluate", "metric")["auc"] > 0.99
    assert _outputs(mine, "sbt", "metric")["validate_auc"] > 0.95
    model = _outputs(mine, "sbt", "model")["model"]
    host_nodes = [n for tree in model["trees"] for n in tree if n["party"] == 10000]
    assert all("threshold" not in n and "feature" not in n for n in host_nodes)
    theirs = _outputs(host.outputs(job["id"]), "sbt", "model")["model"]
    assert theirs["role"] == "host" and len(theirs["splits"]) == len(host_nodes)
    assert "trees" in theirs and isinstance(theirs["trees"], int)
