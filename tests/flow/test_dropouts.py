"""A client that fails in a horizontal training job: the others record the dropout and go on; any other
failure still ends the job on every party (fate.flow.dropouts)."""

from __future__ import annotations

import json

import pytest

from fate.federation.memory import MemoryHub
from fate.flow.dropouts import dropout_refused
from fate.flow.jobspec import parse_job

from .conftest import MakeScheduler, Prober, kinds, wait_for, wait_status

HOMO = """roles: {guest: [1], host: [2, 3], arbiter: [1]}
tables: {1: t, 2: t, 3: t}
pipeline:
  - {name: lr, component: homo_lr}
  - {name: evaluate, component: evaluation, needs: [lr]}
"""
PSI_THEN_HOMO = HOMO.replace("pipeline:\n", "pipeline:\n  - {name: psi, component: psi}\n")
HETERO = "roles: {guest: [1], host: [2], arbiter: [3]}\ntables: {1: t, 2: t}\npipeline: [{name: lr, component: hetero_lr}]\n"


def test_only_a_client_of_a_tolerant_job_may_drop_out() -> None:
    homo = parse_job(HOMO)
    assert dropout_refused(homo, 2) == "" and dropout_refused(homo, 3) == ""
    assert "not only client roles" in dropout_refused(homo, 1)  # the guest's party holds the aggregator
    assert "need every party" in dropout_refused(parse_job(PSI_THEN_HOMO), 2)
    assert "no horizontal training" in dropout_refused(parse_job(HETERO), 2)
    assert "not only client roles" in dropout_refused(homo, 7)  # not in the job at all


def _running(s: object, job_id: str, spec: str) -> None:
    s.store.create_job(job_id, parse_job(spec).to_dict(), 1, "running")  # type: ignore[attr-defined]


def test_a_dropped_client_is_recorded_and_the_job_goes_on(make_scheduler: MakeScheduler, hub: MemoryHub) -> None:
    arbiter = make_scheduler(1, [2, 3])
    _running(arbiter, "homo1", HOMO)
    Prober(hub, 3, 1).send({"type": "failed", "job_id": "homo1", "reason": "party 3: worker killed by signal 9 (SIGKILL)"})
    wait_for(lambda: "dropout" in kinds(arbiter, "homo1"), what="the dropout in the audit log")
    job = arbiter.store.get_job("homo1")
    assert job["status"] == "running" and job["done"] == [3]
    record = next(r for r in arbiter.audit.records(limit=100, job_id="homo1") if r["kind"] == "dropout")
    assert record["actor"] == "party 3" and "SIGKILL" in json.dumps(record["detail"])
    assert any("party 3 dropped out" in e["message"] for e in arbiter.store.logs("homo1"))
    # The others finish: success, and the record says without whom.
    Prober(hub, 2, 1).send({"type": "done", "job_id": "homo1"})
    arbiter._check_done("homo1", arbiter.store.mark_done("homo1", 1))
    ended = wait_status(arbiter, "homo1")
    assert ended["status"] == "success"
    assert ended["reason"] == "finished without: party 3 dropped out: party 3: worker killed by signal 9 (SIGKILL)"


@pytest.mark.parametrize(("spec", "sender", "why"), [
    (HOMO, 1, "the aggregator's party failed"),
    (PSI_THEN_HOMO, 3, "a step needs every party"),
    (HETERO, 2, "not horizontal training"),
])
def test_any_other_failure_still_ends_the_job(make_scheduler: MakeScheduler, hub: MemoryHub, spec: str, sender: int,
                                               why: str) -> None:
    me = 2 if sender == 1 else 1
    s = make_scheduler(me, [p for p in (1, 2, 3) if p != me])
    _running(s, "j1", spec)
    Prober(hub, sender, me).send({"type": "failed", "job_id": "j1", "reason": f"party {sender}: it broke"})
    job = wait_status(s, "j1")
    assert job["status"] == "failed" and job["reason"] == f"party {sender}: it broke", why
    assert "dropout" not in kinds(s, "j1")


def test_a_stop_from_a_client_still_stops_everyone(make_scheduler: MakeScheduler, hub: MemoryHub) -> None:
    s = make_scheduler(1, [2, 3])
    _running(s, "j2", HOMO)
    Prober(hub, 3, 1).send({"type": "stop", "job_id": "j2"})
    assert wait_status(s, "j2")["status"] == "canceled"
