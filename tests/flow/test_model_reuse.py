"""Models reused across jobs: a party applies only its own stored part, for the parties that trained it,
when its policy lets it; every refusal reads the same to the proposer. Real schedulers and stores on
the in-memory hub, and the real worker's step set-up over a real store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fate.federation.memory import MemoryHub
from fate.flow.errors import BadRequest
from fate.flow.jobspec import ModelRef, parse_job, validate_job
from fate.flow.models import load_model, reuse_problems
from fate.flow.policy import PolicyError, parse_policy, public_refusal
from fate.flow.scheduler import Scheduler
from fate.ml.component import ComponentError
from fate.ml.dataflow import REUSED_MODEL

from .conftest import AUTO, MakeScheduler, Prober, build_scheduler, status, table, wait_status

TRAIN = """\
roles: {guest: [1], host: [2]}
tables: {1: t, 2: t}
pipeline:
  - {name: p, component: psi}
  - {name: sbt, component: hetero_secureboost}
"""
SCORE = """\
roles: {guest: [GUEST], host: [HOST]}
tables: {GUEST: t, HOST: t}
pipeline:
  - {name: p, component: psi}
  - {name: score, component: hetero_secureboost, model: {job: JOB, component: STEP}}
"""
HOST_MODEL = {"format": "fate.hetero_secureboost/1", "role": "host", "header": ["x0"], "splits": {}}


def score_job(job: str = "train1", step: str = "sbt", guest: int = 1, host: int = 2) -> str:
    return (SCORE.replace("GUEST", str(guest)).replace("HOST", str(host)).replace("JOB", job)
            .replace("STEP", step))


def holds_training(s: Scheduler, job_id: str = "train1", job_status: str = "success", part: bool = True) -> None:
    """Party 2's store after training job `job_id` with party 1 (party 2 the host)."""
    s.store.create_job(job_id, parse_job(TRAIN).to_dict(), 1, job_status)
    if part:
        s.store.put_output(job_id, "sbt", "host", "model", "model", HOST_MODEL)


REUSE_AUTO = {**AUTO, "model_reuse": "auto"}


def test_the_job_file_names_a_model_by_job_and_step_and_keeps_it_through_the_wire() -> None:
    spec = parse_job(score_job())
    assert spec.pipeline[1].model == ModelRef("train1", "sbt")
    assert validate_job(spec.to_dict()) == spec
    assert "model" not in spec.to_dict()["pipeline"][0]


@pytest.mark.parametrize(("step", "problem"), [
    ("{name: s, component: psi, model: {job: j, component: c}}", "'psi' cannot load a stored model"),
    ("{name: s, component: hetero_lr, model: {job: j}}", "pipeline[0].model: expected {job: <earlier job id>"),
    ("{name: s, component: hetero_lr, model: [j, c]}", "pipeline[0].model: expected"),
    ("{name: s, component: hetero_lr, model: {job: ../x, component: c}}", "pipeline[0].model.job: '../x' is not"),
    ("{name: s, component: hetero_secureboost, model: {job: j, component: c}, params: {num_trees: 2}}",
     "pipeline[0].params: a step that loads a stored model takes its parameters from the model"),
])
def test_bad_model_references_are_refused_naming_the_field(step: str, problem: str) -> None:
    with pytest.raises(BadRequest) as err:
        parse_job(f"roles: {{guest: [1], host: [2]}}\ntables: {{1: t, 2: t}}\npipeline: [{step}]\n")
    assert any(problem in p for p in err.value.problems), err.value.problems


def test_model_reuse_is_a_policy_setting_manual_by_default() -> None:
    assert parse_policy(None).model_reuse == "manual"
    assert parse_policy({"model_reuse": "deny"}).model_reuse == "deny"
    with pytest.raises(PolicyError, match="policy.model_reuse: expected one of auto, manual, deny"):
        parse_policy({"model_reuse": "always"})


def test_a_peer_with_the_model_and_the_policy_runs_the_scoring_job(hub: MemoryHub, make_scheduler: MakeScheduler) -> None:
    b = make_scheduler(2, [1], REUSE_AUTO)
    table(b)
    holds_training(b)
    reply = Prober(hub, 1, 2).propose("score1", score_job())
    assert reply["type"] == "accept"
    assert status(b, "score1") == "waiting"  # joined: it runs when the proposer starts it


@pytest.mark.parametrize(("policy", "verdict"), [(AUTO, "pending"), ({**AUTO, "model_reuse": "deny"}, "refuse")],
                         ids=["manual-by-default", "deny"])
def test_the_policy_decides_over_rules_that_allow_the_components(hub: MemoryHub, make_scheduler: MakeScheduler,
                                                                  policy: dict[str, Any], verdict: str) -> None:
    b = make_scheduler(2, [1], policy)
    table(b)
    holds_training(b)
    reply = Prober(hub, 1, 2).propose("score1", score_job())
    assert reply["type"] == verdict
    if verdict == "refuse":
        assert reply["reason"] == public_refusal(2)
        assert "policy.model_reuse" in b.store.get_job("score1")["reason"]


CASES = {
    "no-such-job": (dict(job="nothere"), {}, "party 2 holds no job nothere"),
    "failed-training": ({}, dict(job_status="failed"), "job train1 is failed here, not success"),
    "wrong-step": (dict(step="p"), {}, "job train1 has no hetero_secureboost step named 'p'"),
    "outsider-guest": (dict(guest=3), {}, "the job's guest parties [3] are not those that trained the model [1]"),
    "roles-swapped": (dict(guest=2, host=1), {}, "are not those that trained the model"),
    "no-own-part": ({}, dict(part=False), "party 2 holds no host part of that model"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_every_reason_not_to_load_a_model_reads_the_same_to_the_proposer(tmp_path: Path, case: str) -> None:
    job_args, store_args, reason = CASES[case]
    hub = MemoryHub()
    b = build_scheduler(tmp_path, hub, 2, [1, 3], REUSE_AUTO)
    try:
        b.listen({1, 3})
        table(b)
        holds_training(b, **store_args)
        spec = score_job(**job_args)
        proposer = 3 if 3 in parse_job(spec).parties else 1
        reply = Prober(hub, proposer, 2).propose("score1", spec)
        assert reply == {"type": "refuse", "job_id": "score1", "reason": public_refusal(2)}
        assert reason in b.store.get_job("score1")["reason"]  # the real reason stays here
        assert status(b, "score1") == "failed" and b.worker_pid("score1") is None
    finally:
        b.close()


def test_approving_a_reuse_job_still_checks_the_model(hub: MemoryHub, make_scheduler: MakeScheduler) -> None:
    b = make_scheduler(2, [1], AUTO)  # model_reuse manual: a person decides before anything is checked
    table(b)
    reply = Prober(hub, 1, 2).propose("score1", score_job())
    assert reply["type"] == "pending"
    b.approve("score1")
    assert "party 2 holds no job train1" in wait_status(b, "score1")["reason"]


def test_own_jobs_name_what_is_missing(make_scheduler: MakeScheduler) -> None:
    a = make_scheduler(1, [2], {"approval": "deny"})
    table(a)
    with pytest.raises(BadRequest) as err:
        a.submit(parse_job(score_job()))
    assert err.value.problems == ("score: model train1/sbt: party 1 holds no job train1",)


def test_the_worker_hands_a_step_only_this_partys_own_stored_part(tmp_path: Path) -> None:
    from fate.flow.config import parse_flow_config
    from fate.flow.store import open_store
    from fate.flow.worker import Worker

    config = parse_flow_config({"party_id": 2, "listen": {"host": "127.0.0.1", "port": 0}, "token_file": "t",
                                "router": {"host": "127.0.0.1", "port": 1}, "data_dir": str(tmp_path)})
    store = open_store(tmp_path)
    store.create_job("train1", parse_job(TRAIN).to_dict(), 1, "success")
    store.put_output("train1", "sbt", "host", "model", "model", HOST_MODEL)
    store.put_output("train1", "sbt", "guest", "model", "model", {"format": "fate.hetero_secureboost/1",
                                                                  "role": "guest", "secret": "never loaded here"})
    spec = parse_job(score_job())
    store.create_job("score1", spec.to_dict(), 1, "running")
    assert reuse_problems(store, spec, 2) == []
    ctx = Worker(config, "score1")._context(spec.pipeline[1], "host", None, {})  # type: ignore[arg-type]
    assert ctx.inputs[REUSED_MODEL].model == HOST_MODEL
    assert load_model(store, spec.pipeline[0], "host") is None  # a step without `model:` loads nothing
    store.put_output("train1", "sbt", "host", "model", "model", "damaged")
    logged: list[str] = []
    with pytest.raises(ComponentError, match="^score: this party cannot load the model the job names$"):
        load_model(store, spec.pipeline[1], "host", logged.append)
    assert logged == ["model train1/sbt (host) is not in this party's store"]
