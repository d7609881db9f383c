"""Job agreement and failure propagation between schedulers on the in-memory hub."""

from __future__ import annotations

from pathlib import Path

import pytest

from fate.flow.errors import BadRequest
from fate.flow.jobspec import parse_job

from .conftest import AUTO, JOB, MakeScheduler, kinds, table, wait_status


def test_submit_returns_at_once_and_the_job_starts_when_all_accept(make_scheduler: MakeScheduler) -> None:
    a, b = make_scheduler(1, [2]), make_scheduler(2, [1], AUTO)
    table(a)
    table(b)
    job = a.submit(parse_job(JOB))
    assert job["status"] in ("waiting", "running", "failed")  # the answer comes on the control channel
    on_a, on_b = wait_status(a, job["id"]), wait_status(b, job["id"])
    # Both workers were started (and die at once: their config file does not exist).
    for on in (on_a, on_b):
        assert on["status"] == "failed" and "worker exited with code" in on["reason"], on
    assert "start" in kinds(a, job["id"]) and "start" in kinds(b, job["id"])


def test_refusal_fails_the_job_and_starts_nothing(make_scheduler: MakeScheduler) -> None:
    a, b = make_scheduler(1, [2]), make_scheduler(2, [1], AUTO)
    table(a)
    job = wait_status(a, a.submit(parse_job(JOB))["id"])
    # The proposer is not told that party 2 lacks the table: the refusal reads like a policy's.
    assert job["reason"] == "not agreed: party 2 refused: refused by party 2's policy"
    assert a.worker_pid(job["id"]) is None
    on_b = b.store.get_job(job["id"])
    assert on_b["status"] == "failed" and on_b["reason"] == "refused (rule test-peers): party 2 has no table 't'"
    assert "start" not in kinds(a, job["id"]) + kinds(b, job["id"])


def test_missing_local_table_is_refused_before_proposing(make_scheduler: MakeScheduler) -> None:
    a, _ = make_scheduler(1, [2]), make_scheduler(2, [1], AUTO)
    with pytest.raises(BadRequest) as info:
        a.submit(parse_job(JOB))
    assert info.value.problems == ("party 1 has no table 't'",)


def test_stop_reaches_the_other_party(make_scheduler: MakeScheduler) -> None:
    a, b = make_scheduler(1, [2]), make_scheduler(2, [1])
    a.store.create_job("j1", parse_job(JOB).to_dict(), 1, "running")
    b.store.create_job("j1", parse_job(JOB).to_dict(), 1, "running")
    a.stop("j1")
    assert wait_status(b, "j1")["reason"] == "stopped by party 1"
    assert a.store.get_job("j1")["status"] == "canceled"


def test_only_participants_steer_a_job(make_scheduler: MakeScheduler) -> None:
    _, b = make_scheduler(1, [2]), make_scheduler(2, [1])
    b.store.create_job("j2", parse_job(JOB).to_dict(), 1, "waiting")
    b._handle(3, {"type": "stop", "job_id": "j2"})  # party 3 has no role in the job
    b._handle(2, {"type": "start", "job_id": "j2"})  # only the initiator (party 1) starts it
    assert b.store.get_job("j2")["status"] == "waiting"
    ignored = [r["detail"]["why"] for r in b.audit.records() if r["kind"] == "ignored"]
    assert ignored == ["party 3 has no role in the job", "only the initiator, party 1, starts the job"]
    b._handle(1, {"type": "failed", "job_id": "j2", "reason": "party 1: boom"})
    assert (b.store.get_job("j2")["status"], b.store.get_job("j2")["reason"]) == ("failed", "party 1: boom")


def test_the_initiator_cannot_start_a_job_this_party_has_not_approved(make_scheduler: MakeScheduler) -> None:
    _, b = make_scheduler(1, [2]), make_scheduler(2, [1])
    table(b)
    b._handle(1, {"type": "propose", "job_id": "j3", "spec": parse_job(JOB).to_dict()})
    assert b.store.get_job("j3")["status"] == "pending"
    b._handle(1, {"type": "start", "job_id": "j3"})  # a forged start, before any approval
    b._handle(1, {"type": "done", "job_id": "j3"})
    assert b.store.get_job("j3")["status"] == "pending" and b.worker_pid("j3") is None
    whys = [r["detail"]["why"] for r in b.audit.records() if r["kind"] == "ignored"]
    assert whys == ["the job is pending here, not accepted and waiting to start", "the job is pending here"]


def test_a_proposed_job_id_cannot_leave_the_data_dir(make_scheduler: MakeScheduler, tmp_path: Path) -> None:
    _, b = make_scheduler(1, [2]), make_scheduler(2, [1], AUTO)
    table(b)
    for job_id in ("../../escaped", "_flow_control", "a/b"):
        b._handle(1, {"type": "propose", "job_id": job_id, "spec": parse_job(JOB).to_dict()})
        b._handle(1, {"type": "start", "job_id": job_id})
        assert not b.store.has_job(job_id)
    assert not (tmp_path / "escaped").exists()


def test_garbage_and_unknown_messages_are_ignored_and_audited(make_scheduler: MakeScheduler) -> None:
    _, b = make_scheduler(1, [2]), make_scheduler(2, [1])
    b._receive(1, b"\xff not json")
    b._receive(1, b"[1, 2]")
    b._handle(1, {"type": "reboot", "job_id": "x"})
    b._handle(1, {"type": "accept", "job_id": "never-proposed"})
    whys = [r["detail"]["why"] for r in b.audit.records() if r["kind"] == "ignored"]
    assert whys == ["not a JSON object (10 bytes)", "not a JSON object (6 bytes)", "unknown message type",
                    "an answer to no open proposal of this party"]
