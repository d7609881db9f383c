"""SecureBoost through the real job flow: a local lab (routers with mTLS, flows, worker processes), breast data."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from fatectl.flowclient import RemoteError

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


TRAIN_SMALL = """
name: lab-sbt-train
roles: {guest: [9999], host: [10000]}
tables: {9999: sbt_guest, 10000: sbt_host}
pipeline:
  - {name: intersect, component: psi}
  - {name: sbt, component: hetero_secureboost, params: {num_trees: 1, he_param: {key_length: 1024}, insecure_key: true}}
timeout: 600
"""
SCORE = """
name: lab-sbt-score
roles: {guest: [9999], host: [10000]}
tables: {9999: sbt_guest, 10000: sbt_host}
pipeline:
  - {name: intersect, component: psi}
  - {name: score, component: hetero_secureboost, model: {job: JOB, component: sbt}}
timeout: 600
"""


def _pending(client: Any, job_id: str) -> dict[str, Any]:
    """The job once it waits for `client`'s operator (the proposal reaches that party asynchronously)."""
    for _ in range(300):
        found = [j for j in client.jobs(status="pending") if j["id"] == job_id]
        if found:
            return dict(found[0])
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} never waited for approval")


def _scores(text: str) -> dict[str, str]:
    rows = [line.split(",") for line in text.strip().splitlines()]
    column = rows[0].index("predict_score")
    return {r[0]: r[column] for r in rows[1:]}


def test_a_later_job_scores_with_the_stored_model_once_the_host_approves(two_party_lab: Lab, tmp_path: Path) -> None:
    guest, host = two_party_lab.client(9999), two_party_lab.client(10000)
    guest.upload_table("sbt_guest", DATA / "breast_hetero_guest.csv", overwrite=True)
    host.upload_table("sbt_host", DATA / "breast_hetero_host.csv", overwrite=True)
    trained = guest.wait(guest.submit(TRAIN_SMALL)["id"], timeout=800, poll=0.5)
    assert trained["status"] == "success", trained["reason"]

    # The lab's rules allow the components, but the host's policy.model_reuse (manual by default) holds it.
    job_id = guest.submit(SCORE.replace("JOB", trained["id"]))["id"]
    assert "policy.model_reuse" in _pending(host, job_id)["reason"]
    host.approve(job_id, "scoring with our own model")
    scored = guest.wait(job_id, timeout=800, poll=0.5)
    assert scored["status"] == "success", scored["reason"]
    assert _scores(guest.output_csv(job_id, "score", "guest")) == _scores(guest.output_csv(trained["id"], "sbt", "guest"))

    # Our own job naming a model we do not hold: refused at submission, saying why (to our own operator).
    with pytest.raises(RemoteError, match="party 9999 holds no job 0123456789ab"):
        guest.submit(SCORE.replace("JOB", "0123456789ab"))

    # The host's new table lacks a column the model uses: the job fails, naming no column anywhere.
    header, rest = (DATA / "breast_hetero_host.csv").read_text().split("\n", 1)
    renamed = tmp_path / "renamed.csv"
    renamed.write_text(header.replace(header.split(",")[1], "secret_income", 1) + "\n" + rest)
    host.upload_table("sbt_host_renamed", renamed, overwrite=True)
    mismatch = guest.submit(SCORE.replace("JOB", trained["id"]).replace("10000: sbt_host}", "10000: sbt_host_renamed}"))
    _pending(host, mismatch["id"])
    host.approve(mismatch["id"])
    failed = guest.wait(mismatch["id"], timeout=300, poll=0.5)
    assert failed["status"] == "failed" and "feature columns do not match" in failed["reason"]
    assert "secret_income" not in failed["reason"] and "secret_income" not in str(guest.logs(mismatch["id"]))
