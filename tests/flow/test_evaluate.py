"""How one party judges a proposal (fate.flow.agreement.evaluate), field by field of its Evaluation.

The scheduler tests see a proposal's outcome across parties; here each stage's answer is checked
whole: verdict, the stage and rule the audit log records, our real reasons, what the proposer is
told, and whether the job is kept. And the job's own components, table and roles are what the
policy's rules are matched against (found by mutation testing: passing none of them to the rules
made every rule cover every job, and no test noticed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from fate.flow.agreement import MAX_CONTROL_BYTES, Evaluation, evaluate
from fate.flow.config import FlowConfig, parse_flow_config
from fate.flow.store import Store, open_store
from fate.flow.tables import parse_csv

ME, PROPOSER, OTHER = 2, 1, 3
JOB = """\
roles: {guest: [1], host: [2], arbiter: [1]}
tables: {1: a, 2: ours}
pipeline:
  - {name: p, component: psi}
  - {name: lr, component: hetero_lr, params: PARAMS}
"""


def _job(params: str = "{}", **changes: Any) -> dict[str, Any]:
    job: dict[str, Any] = YAML(typ="safe").load(JOB.replace("PARAMS", params))
    job.update(changes)
    return job


def _party(tmp: Path, policy: dict[str, Any] | None = None, tables: tuple[str, ...] = ("ours",)) -> tuple[FlowConfig, Store]:
    config = parse_flow_config({
        "party_id": ME, "listen": {"host": "127.0.0.1", "port": 0}, "token_file": str(tmp / "token"),
        "router": {"host": "127.0.0.1", "port": 1}, "data_dir": str(tmp / "data"), "peers": [PROPOSER, OTHER],
        **({"policy": policy} if policy is not None else {}),
    })
    store = open_store(config.data_dir)
    for name in tables:
        store.put_table(name, parse_csv("id\nx\n"))
    return config, store


def _judge(tmp: Path, job: dict[str, Any], policy: dict[str, Any] | None = None, job_id: str = "j1",
           src: int = PROPOSER, size: int = 100, tables: tuple[str, ...] = ("ours",)) -> Evaluation:
    config, store = _party(tmp, policy, tables)
    return evaluate(config, store, src, job_id, job, size)


def _fields(e: Evaluation) -> tuple[str, str, str, tuple[str, ...], str, bool, bool]:
    return e.verdict, e.stage, e.rule, e.problems, e.public, e.spec is not None, e.recorded


AUTO = {"rules": [{"name": "study", "approval": "auto"}]}
REFUSED = "refused by party 2's policy"


def test_a_job_id_that_is_not_a_plain_name(tmp_path: Path) -> None:
    bad = "../" + "x" * 100
    problem = f"job id {bad[:80]!r} is not a plain name"
    assert _fields(_judge(tmp_path, _job(), job_id=bad)) == (
        "refuse", "structure", "structure", (problem,), problem, False, False)


def test_an_invalid_job_file(tmp_path: Path) -> None:
    e = _judge(tmp_path, _job(pipeline="nope"))
    assert (e.verdict, e.stage, e.rule, e.spec, e.recorded) == ("refuse", "structure", "structure", None, False)
    assert e.problems[0] == "invalid job file" and len(e.problems) > 1 and e.public == "; ".join(e.problems)


def test_parties_without_a_role(tmp_path: Path) -> None:
    job = _job(roles={"guest": [OTHER], "host": [4]}, tables={OTHER: "a", 4: "b"})
    problems = ("party 2 has no role in the job", "the proposer, party 1, has no role in the job")
    assert _fields(_judge(tmp_path, job, AUTO)) == (
        "refuse", "structure", "structure", problems, "; ".join(problems), False, False)


def test_a_peer_cannot_propose_a_job_id_we_already_have(tmp_path: Path) -> None:
    config, store = _party(tmp_path, AUTO)
    store.create_job("j1", _job(), ME, "running")
    problem = "party 2 already has a job j1"
    assert _fields(evaluate(config, store, PROPOSER, "j1", _job(), 100)) == (
        "refuse", "structure", "structure", (problem,), problem, False, False)
    assert evaluate(config, store, PROPOSER, "j2", _job(), 100).verdict == "accept"
    assert evaluate(config, store, ME, "j1", _job(), 100).verdict == "accept"  # our own submission, stored already


def test_caps_are_limits_that_can_be_reached(tmp_path: Path) -> None:
    two = {**AUTO, "max_parties": 2}
    assert _judge(tmp_path / "a", _job(), two).verdict == "accept"  # exactly max_parties
    assert _judge(tmp_path / "b", _job(), AUTO, size=MAX_CONTROL_BYTES).verdict == "accept"  # exactly the cap
    problems = ("the job has 2 parties; party 2 takes part in at most 1",
                f"the proposal has {MAX_CONTROL_BYTES + 1} bytes; party 2 accepts at most {MAX_CONTROL_BYTES}")
    assert _fields(_judge(tmp_path / "c", _job(), {**AUTO, "max_parties": 1}, size=MAX_CONTROL_BYTES + 1)) == (
        "refuse", "caps", "caps", problems, "; ".join(problems), False, False)


def test_floors(tmp_path: Path) -> None:
    problems = ("lr (hetero_lr): 1024-bit keys are under the floor of 2048 bits",
                "lr (hetero_lr): batches of 8 rows are under the floor of 32")
    e = _judge(tmp_path, _job("{encrypt_param: {key_length: 1024}, batch_size: 8}"), AUTO)
    assert _fields(e) == ("refuse", "floors", "floors", problems,
                          "party 2's security floors: " + "; ".join(problems), True, True)


def test_a_component_stating_every_lr_parameter_is_held_to_the_floors(tmp_path: Path) -> None:
    job = _job()
    job["pipeline"][0]["params"] = {"encrypt_param": {"key_length": 1024}, "insecure_key": False, "batch_size": 64}
    e = _judge(tmp_path, job, AUTO)
    assert (e.verdict, e.problems) == ("refuse", ("p (psi): 1024-bit keys are under the floor of 2048 bits",))


def test_policy_refusal_pending_and_acceptance(tmp_path: Path) -> None:
    deny = {"rules": [{"name": "no", "approval": "deny"}]}
    assert _fields(_judge(tmp_path / "a", _job(), deny)) == (
        "refuse", "policy", "rule no", ("denied by rule no for party 1",), REFUSED, True, True)
    assert _fields(_judge(tmp_path / "b", _job())) == (
        "pending", "policy", "default", ("needs approval (default)",), "", True, True)
    assert _fields(_judge(tmp_path / "c", _job(), AUTO)) == (
        "accept", "policy", "rule study", ("allowed by rule study",), "", True, True)


def test_a_missing_table_reads_like_a_policy_refusal(tmp_path: Path) -> None:
    assert _fields(_judge(tmp_path, _job(), AUTO, tables=())) == (
        "refuse", "table", "rule study", ("party 2 has no table 'ours'",), REFUSED, True, True)


@pytest.mark.parametrize(
    ("rule", "verdict"),
    [
        ({"tables": ["ours"]}, "accept"),
        ({"tables": ["other"]}, "pending"),  # our table in this job is 'ours'
        ({"components": ["psi", "hetero_lr"]}, "accept"),
        ({"components": ["psi"]}, "pending"),  # the job also runs hetero_lr
        ({"roles": ["host"]}, "accept"),
        ({"roles": ["guest"]}, "pending"),  # we are asked to be the host
        ({"peers": [PROPOSER]}, "accept"),
        ({"peers": [OTHER]}, "pending"),  # the proposer is party 1
    ],
)
def test_rules_are_matched_against_this_jobs_table_components_roles_and_proposer(
    tmp_path: Path, rule: dict[str, Any], verdict: str
) -> None:
    policy = {"rules": [{"name": "narrow", "approval": "auto", **rule}]}
    assert _judge(tmp_path, _job(), policy).verdict == verdict


def test_a_party_we_do_not_know_is_refused_at_the_caps(tmp_path: Path) -> None:
    job = _job(roles={"guest": [PROPOSER], "host": [ME, 7]}, tables={PROPOSER: "a", ME: "ours", 7: "b"})
    problem = f"parties [7] are not known peers of party {ME}"
    assert _fields(_judge(tmp_path, job, AUTO)) == ("refuse", "caps", "caps", (problem,), problem, False, False)


def test_an_untrusted_third_party_arbiter_is_refused_at_the_floors(tmp_path: Path) -> None:
    """The arbiter decrypts products of our data: a third party holding the key must be one we trust."""
    job = _job(roles={"guest": [PROPOSER], "host": [ME], "arbiter": [OTHER]}, tables={PROPOSER: "a", ME: "ours"})
    problem = f"the arbiter, party {OTHER}, is not among party {ME}'s trusted arbiters"
    assert _fields(_judge(tmp_path / "a", job, AUTO)) == (
        "refuse", "floors", "floors", (problem,), f"party {ME}'s security floors: {problem}", True, True)
    trusted = {**AUTO, "trusted_arbiters": [OTHER]}
    assert _judge(tmp_path / "b", job, trusted).verdict == "accept"


def test_our_own_submission_is_accepted_whatever_the_rules_say(tmp_path: Path) -> None:
    """Submitted with our flow token: the operator decided already. Floors and tables still apply."""
    deny = {"rules": [{"name": "no", "approval": "deny"}], "approval": "deny"}
    assert _fields(_judge(tmp_path, _job(), deny, src=ME)) == (
        "accept", "policy", "own job", ("submitted with this party's flow token",), "", True, True)


def test_a_job_asking_for_insecure_keys_is_refused_unless_the_policy_allows_them(tmp_path: Path) -> None:
    problem = f"lr (hetero_lr): insecure_key is set and party {ME} does not allow insecure keys"
    assert _fields(_judge(tmp_path / "a", _job("{insecure_key: true}"), AUTO)) == (
        "refuse", "floors", "floors", (problem,), f"party {ME}'s security floors: {problem}", True, True)
    lab = {**AUTO, "allow_insecure_keys": True}
    assert _judge(tmp_path / "b", _job("{insecure_key: true}"), lab).verdict == "accept"


def test_hetero_lr_stating_nothing_is_held_to_the_floors_with_its_defaults(tmp_path: Path) -> None:
    # hetero_lr's default key is SECURE_KEY_BITS (2048): under a 4096-bit floor the job is refused even
    # though its job file states no key length; the psi step (no LR parameters) is not judged.
    problem = "lr (hetero_lr): 2048-bit keys are under the floor of 4096 bits"
    assert _judge(tmp_path, _job(), {**AUTO, "min_key_bits": 4096}).problems == (problem,)


def test_a_job_without_an_arbiter_needs_no_trusted_one(tmp_path: Path) -> None:
    job = _job(roles={"guest": [PROPOSER], "host": [ME]})
    assert _fields(_judge(tmp_path, job, AUTO)) == (
        "accept", "policy", "rule study", ("allowed by rule study",), "", True, True)


REUSE = "{name: lr, component: hetero_lr, model: {job: train1, component: lr}}"


def _reusing() -> dict[str, Any]:
    """The job with its LR step scoring with a model stored here by job train1 (not there: a stage later)."""
    job = _job()
    job["pipeline"][1] = YAML(typ="safe").load(REUSE)
    return job


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        # The stricter of the rules and model_reuse decides; on a tie the rules' decision stands.
        (
            {"rules": [{"name": "no", "approval": "deny"}], "model_reuse": "auto"},
            ("refuse", "policy", "rule no", ("denied by rule no for party 1",), REFUSED),
        ),
        (
            {**AUTO, "model_reuse": "deny"},
            (
                "refuse",
                "policy",
                "policy.model_reuse",
                ("denied by policy.model_reuse for party 1",),
                REFUSED,
            ),
        ),
        (AUTO, ("pending", "policy", "policy.model_reuse", ("needs approval (policy.model_reuse)",), "")),
        (
            {**AUTO, "model_reuse": "auto"},
            ("refuse", "table", "rule study", ("lr: model train1/lr: party 2 holds no job train1",), REFUSED),
        ),
    ],
    ids=["a-rule-denies", "model-reuse-denies", "model-reuse-manual-by-default", "both-allow"],
)
def test_a_job_loading_a_model_stored_here_is_judged_by_the_stricter_of_the_rules_and_model_reuse(
    tmp_path: Path, policy: dict[str, Any], expected: tuple[Any, ...]
) -> None:
    assert _fields(_judge(tmp_path, _reusing(), policy))[:5] == expected
