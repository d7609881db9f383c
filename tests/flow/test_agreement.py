"""A party runs only what it approved: pending approvals, rejections, deadlines, caps and floors,
and refusals that never reveal whether a table exists. Real schedulers on the in-memory hub."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from fate.federation.memory import MemoryHub
from fate.flow.errors import BadRequest, Conflict
from fate.flow.jobspec import parse_job

from .conftest import (
    AUTO,
    JOB,
    MakeScheduler,
    Prober,
    build_scheduler,
    kinds,
    status,
    table,
    wait_for,
    wait_status,
)

LR_JOB = """\
roles: {guest: [1], host: [2], arbiter: [ARBITER]}
tables: {1: t, 2: t}
pipeline:
  - {name: p, component: psi}
  - {name: lr, component: hetero_lr, params: PARAMS}
"""


def lr_job(params: str = "{}", arbiter: int = 1) -> str:
    return LR_JOB.replace("PARAMS", params).replace("ARBITER", str(arbiter))


def test_pending_then_approve_starts_the_job_everywhere(make_scheduler: MakeScheduler) -> None:
    a, b = make_scheduler(1, [2]), make_scheduler(2, [1])  # b: no rule, so a person decides
    table(a)
    table(b)
    job_id = a.submit(parse_job(JOB))["id"]
    pending = wait_status(b, job_id, ("pending",))
    assert pending["reason"].startswith("needs approval by an operator of party 2 (default) before ")
    wait_for(lambda: "waiting for approval by parties [2]" in a.store.get_job(job_id)["reason"], what="a's reason")
    assert b.worker_pid(job_id) is None and status(a, job_id) == "waiting"

    b.approve(job_id, "checked with the data owner")
    for s in (a, b):
        assert "worker exited with code" in wait_status(s, job_id)["reason"]  # both workers started
    assert kinds(b, job_id) == ["proposal", "decision", "approval", "start", "end"]
    decision = next(r for r in b.audit.records() if r["kind"] == "decision")
    assert decision["detail"]["verdict"] == "pending" and decision["detail"]["rule"] == "default"
    with pytest.raises(Conflict, match="not waiting for approval"):
        b.approve(job_id)


def test_reject_fails_the_job_everywhere_with_the_operators_words(make_scheduler: MakeScheduler) -> None:
    a, b = make_scheduler(1, [2]), make_scheduler(2, [1])
    table(a)
    table(b)
    job_id = a.submit(parse_job(JOB))["id"]
    wait_status(b, job_id, ("pending",))
    b.reject(job_id, "not this quarter")
    on_a = wait_status(a, job_id)
    assert on_a["reason"] == "not agreed: party 2 refused: rejected by an operator of party 2: not this quarter"
    assert b.store.get_job(job_id)["reason"] == "rejected by an operator: not this quarter"
    assert "start" not in kinds(a, job_id) + kinds(b, job_id)
    assert kinds(b, job_id) == ["proposal", "decision", "rejection", "end"]


def test_approving_a_job_whose_table_is_missing_refuses_it_like_a_policy(make_scheduler: MakeScheduler) -> None:
    a, b = make_scheduler(1, [2]), make_scheduler(2, [1])
    table(a)
    job_id = a.submit(parse_job(JOB))["id"]
    wait_status(b, job_id, ("pending",))
    b.approve(job_id)
    assert wait_status(a, job_id)["reason"] == "not agreed: party 2 refused: refused by party 2's policy"
    assert b.store.get_job(job_id)["reason"] == "approved, but party 2 has no table 't'"


def test_an_approval_not_given_in_time_fails_the_job_everywhere(make_scheduler: MakeScheduler) -> None:
    a, b = make_scheduler(1, [2]), make_scheduler(2, [1], {"approval_timeout": 0.5})
    table(a)
    table(b)
    job_id = a.submit(parse_job(JOB))["id"]
    assert wait_status(a, job_id)["reason"] == "not agreed: party 2 refused: not approved by party 2 within 0.5s"
    assert wait_status(b, job_id)["reason"] == "not approved within 0.5s (approval_timeout)"
    with pytest.raises(Conflict):
        b.approve(job_id)  # too late: it failed everywhere


def test_the_initiator_gives_up_on_an_approval_after_its_own_timeout(make_scheduler: MakeScheduler) -> None:
    a, b = make_scheduler(1, [2], {"approval_timeout": 0.5}), make_scheduler(2, [1])
    table(a)
    table(b)
    job_id = a.submit(parse_job(JOB))["id"]
    reason = "not agreed: party 2 did not approve within 0.5s"
    assert wait_status(a, job_id)["reason"] == reason
    assert wait_status(b, job_id)["reason"] == reason  # the pending job there fails with it


def test_a_party_that_never_answers_fails_the_job_after_the_agreement_timeout(make_scheduler: MakeScheduler) -> None:
    a = make_scheduler(1, [2], agree_timeout=0.5)
    make_scheduler(2, [1], AUTO, listen=False)  # up, but never reads its control stream
    table(a)
    job_id = a.submit(parse_job(JOB))["id"]
    assert wait_status(a, job_id)["reason"] == "not agreed: no answer from parties [2] within 0.5s"


def test_own_jobs_are_accepted_even_when_the_policy_denies_everything(make_scheduler: MakeScheduler) -> None:
    a, _ = make_scheduler(1, [2], {"approval": "deny"}), make_scheduler(2, [1], AUTO)
    table(a)
    job_id = a.submit(parse_job(JOB))["id"]
    decision = next(r for r in a.audit.records(job_id=job_id) if r["kind"] == "decision")
    assert (decision["actor"], decision["detail"]["verdict"], decision["detail"]["rule"]) == (
        "policy", "accept", "own job")


# ---- floors: every one refuses, and may be named to the proposer (they are not data) ----
FLOORS = [
    ("{encrypt_param: {key_length: 1024}, insecure_key: true}", {"allow_insecure_keys": True},
     "lr (hetero_lr): 1024-bit keys are under the floor of 2048 bits"),
    ("{encrypt_param: {key_length: 2048}, insecure_key: true}", {},
     "lr (hetero_lr): insecure_key is set and party 2 does not allow insecure keys"),
    ("{batch_size: 8}", {}, "lr (hetero_lr): batches of 8 rows are under the floor of 32"),
    ("{batch_size: 100}", {"min_batch_size": 128}, "lr (hetero_lr): batches of 100 rows are under the floor of 128"),
]


@pytest.mark.parametrize(("params", "policy", "problem"), FLOORS, ids=["key", "insecure", "batch", "own-batch"])
def test_every_floor_refuses(hub: MemoryHub, make_scheduler: MakeScheduler, params: str, policy: dict[str, object],
                             problem: str) -> None:
    b = make_scheduler(2, [1], {**AUTO, **policy})
    table(b)
    reply = Prober(hub, 1, 2).propose("f1", lr_job(params))
    assert reply == {"type": "refuse", "job_id": "f1", "reason": f"party 2's security floors: {problem}"}
    assert b.store.get_job("f1")["status"] == "failed" and "start" not in kinds(b)


def test_any_component_stating_lr_parameters_is_held_to_the_same_floors(make_scheduler: MakeScheduler) -> None:
    a = make_scheduler(1, [2])
    table(a)
    job = JOB.replace("component: psi}", "component: evaluation, params: {encrypt_param: {key_length: 1024}}}")
    with pytest.raises(BadRequest) as info:
        a.submit(parse_job(job))
    assert info.value.problems == ("p (evaluation): 1024-bit keys are under the floor of 2048 bits",)


def test_floors_hold_for_own_jobs_too(make_scheduler: MakeScheduler) -> None:
    a = make_scheduler(1, [2])
    table(a)
    with pytest.raises(BadRequest) as info:
        a.submit(parse_job(lr_job("{batch_size: 4}")))
    assert info.value.problems == ("lr (hetero_lr): batches of 4 rows are under the floor of 32",)


def test_lab_floors_accept_small_keys_only_when_the_party_says_so(hub: MemoryHub, make_scheduler: MakeScheduler) -> None:
    b = make_scheduler(2, [1], {**AUTO, "allow_insecure_keys": True, "min_key_bits": 1024})
    table(b)
    reply = Prober(hub, 1, 2).propose("f2", lr_job("{encrypt_param: {key_length: 1024}, insecure_key: true}"))
    assert reply["type"] == "accept"


def test_a_third_party_arbiter_must_be_trusted_by_a_data_party(hub: MemoryHub, make_scheduler: MakeScheduler) -> None:
    untrusting = make_scheduler(2, [1, 3], AUTO)
    table(untrusting)
    prober = Prober(hub, 1, 2)
    reply = prober.propose("a1", lr_job(arbiter=3))
    assert reply["reason"] == "party 2's security floors: the arbiter, party 3, is not among party 2's trusted arbiters"
    trusting = make_scheduler(4, [1, 3], {**AUTO, "trusted_arbiters": [3]})
    table(trusting)
    job = lr_job(arbiter=3).replace("host: [2]", "host: [4]").replace("2: t", "4: t")
    assert Prober(hub, 1, 4).propose("a2", job)["type"] == "accept"


# ---- caps: checked before the policy and before any listener starts ----
def _control_threads() -> set[str]:
    return {t.name for t in threading.enumerate() if t.name.startswith("control-")}


def test_unknown_parties_are_refused_before_any_listener_starts(hub: MemoryHub, make_scheduler: MakeScheduler) -> None:
    b = make_scheduler(2, [1], AUTO)
    table(b)
    before = _control_threads()
    job = "roles: {guest: [1], host: [2, 666]}\ntables: {1: t, 2: t, 666: t}\npipeline: [{name: p, component: psi}]\n"
    reply = Prober(hub, 1, 2).propose("u1", job)
    assert reply == {"type": "refuse", "job_id": "u1", "reason": "parties [666] are not known peers of party 2"}
    assert _control_threads() == before and "control-666" not in before
    assert not b.store.has_job("u1")  # over-cap proposals go to the audit log only
    assert kinds(b) == ["proposal", "decision"]


def test_too_many_parties_are_refused(hub: MemoryHub, make_scheduler: MakeScheduler) -> None:
    peers = [1, *range(3, 10)]
    b = make_scheduler(2, peers, {**AUTO, "max_parties": 4})
    table(b)
    hosts = ", ".join(str(p) for p in [2, *range(3, 10)])
    tables = ", ".join(f"{p}: t" for p in [1, 2, *range(3, 10)])
    job = f"roles: {{guest: [1], host: [{hosts}]}}\ntables: {{{tables}}}\npipeline: [{{name: p, component: psi}}]\n"
    before = _control_threads()
    reply = Prober(hub, 1, 2).propose("m1", job)
    assert reply["reason"] == "the job has 9 parties; party 2 takes part in at most 4"
    assert _control_threads() == before


def test_an_oversized_proposal_is_refused(hub: MemoryHub, make_scheduler: MakeScheduler) -> None:
    b = make_scheduler(2, [1], AUTO)
    table(b)
    spec = parse_job(lr_job()).to_dict()
    spec["pipeline"][1]["params"] = {"optimizer": "x" * 70_000}
    reply = Prober(hub, 1, 2).propose("big", spec)
    assert reply["type"] == "refuse" and reply["reason"].endswith("party 2 accepts at most 65536")


def test_the_proposer_must_take_part(hub: MemoryHub, make_scheduler: MakeScheduler) -> None:
    b = make_scheduler(2, [1, 3], AUTO)
    table(b)
    reply = Prober(hub, 3, 2).propose("p1", JOB)  # party 3 proposes a job between 1 and 2
    assert reply["reason"] == "the proposer, party 3, has no role in the job"
    assert not b.store.has_job("p1")


# ---- the refusal a prober reads never tells whether a table exists ----
def _reply(root: Path, policy: dict[str, object], has_table: bool) -> bytes:
    """The raw answer of a fresh party 2 (its own hub and store) to one fixed proposal."""
    hub = MemoryHub()
    b = build_scheduler(root, hub, 2, [1], policy)
    try:
        b.listen({1})
        if has_table:
            table(b, "breast")
        prober = Prober(hub, 1, 2)
        prober.send({"type": "propose", "job_id": "probe", "spec": parse_job(
            "roles: {guest: [1], host: [2]}\ntables: {1: x, 2: breast}\npipeline: [{name: p, component: psi}]\n"
        ).to_dict()})
        return prober.answer()
    finally:
        b.close()


@pytest.mark.parametrize(("policy_a", "policy_b"), [
    ({"approval": "deny"}, {"approval": "deny"}),  # denied either way
    ({}, {}),  # a person decides either way: `pending`, tables unchecked
    (AUTO, {"approval": "deny"}),  # "no such table" (allowed by a rule) vs "policy refuses" (table present)
], ids=["deny", "manual", "missing-vs-denied"])
def test_probing_for_a_table_gets_byte_identical_answers(tmp_path: Path, policy_a: dict[str, object],
                                                         policy_b: dict[str, object]) -> None:
    without_table = _reply(tmp_path / "a", policy_a, has_table=False)
    with_table = _reply(tmp_path / "b", policy_b, has_table=True)
    assert without_table == with_table
    assert b"breast" not in without_table and b"table" not in without_table
