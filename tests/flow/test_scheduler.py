"""Job agreement and failure propagation between two schedulers on the in-memory hub."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from fate.federation.memory import MemoryHub
from fate.flow.config import parse_flow_config
from fate.flow.errors import BadRequest
from fate.flow.jobspec import parse_job
from fate.flow.scheduler import Scheduler
from fate.flow.store import Store
from fate.flow.tables import parse_csv

JOB = "roles: {guest: [1], host: [2]}\ntables: {1: t, 2: t}\npipeline: [{name: p, component: psi}]\n"


def _scheduler(tmp: Path, hub: MemoryHub, me: int, peer: int) -> Scheduler:
    config = parse_flow_config(
        {
            "party_id": me,
            "listen": {"host": "127.0.0.1", "port": 0},
            "token_file": str(tmp / "token"),
            "router": {"host": "127.0.0.1", "port": 1},
            "data_dir": str(tmp / f"data-{me}"),
            "peers": [peer],
        }
    )
    # The config file the worker is started with does not exist: every worker fails at once.
    return Scheduler(config, Store(config.data_dir), hub.transport(me), tmp / "missing-flow.yaml")


@pytest.fixture
def pair(tmp_path: Path) -> Any:
    hub = MemoryHub()
    a, b = _scheduler(tmp_path, hub, 1, 2), _scheduler(tmp_path, hub, 2, 1)
    a.listen({2})
    b.listen({1})
    yield a, b
    a.close()
    b.close()


def _wait_status(s: Scheduler, job_id: str, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = s.store.get_job(job_id)
        if job["status"] in ("success", "failed", "canceled"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still {s.store.get_job(job_id)['status']}")


def test_refusal_fails_the_job_and_starts_nothing(pair: Any) -> None:
    a, b = pair
    a.store.put_table("t", parse_csv("id\nx\n"))
    job = a.submit(parse_job(JOB))
    assert job["status"] == "failed"
    assert job["reason"] == "not agreed: party 2 refused: party 2 has no table 't'"
    assert a.worker_pid(job["id"]) is None and not b.store.has_job(job["id"])


def test_missing_local_table_is_refused_before_proposing(pair: Any) -> None:
    a, _ = pair
    with pytest.raises(BadRequest) as info:
        a.submit(parse_job(JOB))
    assert info.value.problems == ("party 1 has no table 't'",)


def test_a_crashing_worker_fails_the_job_on_both_parties(pair: Any) -> None:
    a, b = pair
    for s in (a, b):
        s.store.put_table("t", parse_csv("id\nx\n"))
    job_id = a.submit(parse_job(JOB))["id"]
    on_a, on_b = _wait_status(a, job_id), _wait_status(b, job_id)
    assert on_a["status"] == on_b["status"] == "failed"
    # Both workers die at once here; each party records the first failure it learns of.
    for reason in (on_a["reason"], on_b["reason"]):
        assert reason.startswith(("party 1: worker exited with code", "party 2: worker exited with code")), reason


def test_stop_reaches_the_other_party(pair: Any) -> None:
    a, b = pair
    a.store.create_job("j1", parse_job(JOB).to_dict(), 1, "running")
    b.store.create_job("j1", parse_job(JOB).to_dict(), 1, "running")
    a.stop("j1")
    assert _wait_status(b, "j1")["reason"] == "stopped by party 1"
    assert a.store.get_job("j1")["status"] == "canceled"


def test_only_participants_steer_a_job(pair: Any) -> None:
    _, b = pair
    b.store.create_job("j2", parse_job(JOB).to_dict(), 1, "waiting")
    b._handle(3, {"type": "stop", "job_id": "j2"})  # party 3 has no role in the job
    b._handle(2, {"type": "start", "job_id": "j2"})  # only the initiator (party 1) starts it
    assert b.store.get_job("j2")["status"] == "waiting"
    b._handle(1, {"type": "failed", "job_id": "j2", "reason": "party 1: boom"})
    assert (b.store.get_job("j2")["status"], b.store.get_job("j2")["reason"]) == ("failed", "party 1: boom")


def test_a_proposed_job_id_cannot_leave_the_data_dir(pair: Any, tmp_path: Path) -> None:
    _, b = pair
    b.store.put_table("t", parse_csv("id\nx\n"))
    for job_id in ("../../escaped", "_flow_control", "a/b"):
        b._handle(1, {"type": "propose", "job_id": job_id, "spec": parse_job(JOB).to_dict()})
        b._handle(1, {"type": "start", "job_id": job_id})
        assert not b.store.has_job(job_id)
    assert not (tmp_path / "escaped").exists()
