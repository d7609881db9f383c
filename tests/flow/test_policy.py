"""A party's policy: parsed from its flow config (every problem at once), secure by default, and
decided by the first rule that covers a proposal."""

from __future__ import annotations

import pytest
from ruamel.yaml import YAML

from fate.flow.agreement import Agreement, floor_problems
from fate.flow.config import parse_flow_config
from fate.flow.errors import ConfigError
from fate.flow.jobspec import JobSpec, validate_job
from fate.flow.policy import Decision, Policy, PolicyError, Rule, decide, parse_policy

BREAST = Rule("breast", "auto", peers=(9999,), components=("psi", "hetero_lr", "evaluation"),
              tables=("breast_hetero_host",), roles=("host",))


def test_no_policy_is_the_secure_default() -> None:
    policy = parse_policy(None)
    assert policy == Policy()
    assert (policy.approval, policy.min_key_bits, policy.allow_insecure_keys, policy.min_batch_size) == (
        "manual", 2048, False, 32)
    assert (policy.trusted_arbiters, policy.max_parties, policy.rules, policy.approval_timeout) == (
        (), 16, (), 86400.0)


def test_a_full_policy_parses() -> None:
    policy = parse_policy({
        "approval": "deny", "min_key_bits": 1024, "allow_insecure_keys": True, "min_batch_size": 64,
        "trusted_arbiters": [7], "max_parties": 3, "approval_timeout": 0.5,
        "rules": [{"name": "breast", "approval": "auto", "peers": [9999], "components": ["psi", "hetero_lr", "evaluation"],
                   "tables": ["breast_hetero_host"], "roles": ["host"]}],
    })
    assert policy == Policy("deny", 1024, True, 64, (7,), 3, (BREAST,), 0.5)


def test_every_problem_is_listed_at_once() -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy({
            "approval": "yes", "min_key_bits": 0, "allow_insecure_keys": "no", "trusted_arbiters": ["x"],
            "max_parties": True, "approval_timeout": -1, "colour": 1,
            "rules": [{"name": "", "approval": "maybe", "roles": ["judge"], "peers": "all", "extra": 1}, "oops"],
        })
    assert set(info.value.problems) == {
        "policy.colour: unknown field",
        "policy.rules[0].extra: unknown field",
        "policy.rules[0].name: expected a string",
        "policy.rules[0].approval: expected one of auto, manual, deny, got 'maybe'",
        "policy.rules[0].peers: expected a list of party ids, got 'all'",
        "policy.rules[0].roles: ['judge'] not among guest, host, arbiter",
        "policy.rules[1]: expected a mapping",
        "policy.allow_insecure_keys: expected true or false, got 'no'",
        "policy.approval: expected one of auto, manual, deny, got 'yes'",
        "policy.min_key_bits: expected a positive integer, got 0",
        "policy.trusted_arbiters: expected a list of party ids, got ['x']",
        "policy.max_parties: expected a positive integer, got True",
        "policy.approval_timeout: expected a positive number of seconds, got -1",
    }



def test_more_problems_at_once_and_what_they_are_read_as() -> None:
    # Rules that are not a list count as none; a bad allow_insecure_keys counts as false, so a small
    # key floor is reported too; a rule that is not a mapping is skipped, and the next one still read.
    with pytest.raises(PolicyError) as info:
        parse_policy({"rules": "all", "allow_insecure_keys": "no", "min_key_bits": 1024, "min_batch_size": 0})
    assert info.value.problems == (
        "policy.rules: expected a list, got 'all'",
        "policy.allow_insecure_keys: expected true or false, got 'no'",
        "policy.min_batch_size: expected a positive integer, got 0",
        "policy.min_key_bits: 1024 is under 2048; set allow_insecure_keys for a test lab",
    )
    with pytest.raises(PolicyError) as info:
        parse_policy({"rules": ["oops", {"approval": "maybe"}]})
    assert info.value.problems == (
        "policy.rules[0]: expected a mapping",
        "policy.rules[1].approval: expected one of auto, manual, deny, got 'maybe'",
    )
    with pytest.raises(PolicyError) as info:
        parse_policy([1])
    assert info.value.problems == ("policy: expected a mapping, got [1]",)


def test_a_rule_without_a_name_is_named_by_its_place() -> None:
    # The name is what the audit log and the approval queue show ("allowed by rule #2").
    policy = parse_policy({"rules": [{"approval": "deny"}, {"approval": "auto"}]})
    assert [r.name for r in policy.rules] == ["#1", "#2"]


def test_small_keys_need_the_partys_own_insecure_flag() -> None:
    with pytest.raises(PolicyError, match="min_key_bits: 1024 is under 2048; set allow_insecure_keys"):
        parse_policy({"min_key_bits": 1024})


def test_the_flow_config_reports_policy_problems_with_the_rest() -> None:
    with pytest.raises(ConfigError) as info:
        parse_flow_config({"party_id": "x", "policy": {"approval": "often"}})
    assert "policy.approval: expected one of auto, manual, deny, got 'often'" in info.value.problems
    assert any(p.startswith("party_id") for p in info.value.problems)


def _decide(policy: Policy, initiator: int = 9999, components: tuple[str, ...] = ("psi", "hetero_lr"),
            table: str | None = "breast_hetero_host", roles: tuple[str, ...] = ("host",)) -> tuple[str, str]:
    decision = decide(policy, 10000, initiator, components, table, roles)
    return decision.verdict, decision.rule


def test_a_rule_covers_only_what_it_lists() -> None:
    policy = Policy(rules=(BREAST,))
    assert _decide(policy) == ("accept", "rule breast")
    assert _decide(policy, initiator=10001) == ("pending", "default")  # another peer
    assert _decide(policy, components=("psi", "prediction")) == ("pending", "default")  # a component not listed
    assert _decide(policy, table="salaries") == ("pending", "default")  # another table
    assert _decide(policy, roles=("host", "arbiter")) == ("pending", "default")  # a role not listed


def test_the_first_covering_rule_decides_and_empty_lists_match_anything() -> None:
    deny_salaries = Rule("no-salaries", "deny", tables=("salaries",))
    anyone = Rule("anyone", "auto")
    policy = Policy(approval="deny", rules=(deny_salaries, anyone))
    assert _decide(policy, table="salaries") == ("refuse", "rule no-salaries")
    assert _decide(policy, initiator=1, table="other") == ("accept", "rule anyone")
    refused = decide(Policy(approval="deny"), 10000, 9999, ["psi"], "t", ["host"])
    assert (refused.reason, refused.public_reason) == (
        "denied by default for party 9999", "refused by party 10000's policy")


def test_own_jobs_are_accepted_whatever_the_rules_say() -> None:
    policy = Policy(approval="deny", rules=(Rule("none", "deny"),))
    assert decide(policy, 10000, 10000, ["psi"], "t", ["guest"]).rule == "own job"


# ---- found by mutation testing (docs/testing.md) ----


def test_own_jobs_are_accepted_and_say_why() -> None:
    own = decide(Policy(approval="deny"), 10000, 10000, ["psi"], "t", ["guest"])
    assert own == Decision("accept", "own job", "submitted with this party's flow token")


def test_a_denying_rule_names_itself_and_the_initiator_and_tells_the_proposer_only_our_refusal() -> None:
    refused = decide(Policy(rules=(Rule("no-9999", "deny", peers=(9999,)),)), 10000, 9999, ["psi"], "t", ["host"])
    assert refused == Decision("refuse", "rule no-9999", "denied by rule no-9999 for party 9999",
                               "refused by party 10000's policy")


def test_a_rule_covers_a_job_using_exactly_its_components() -> None:
    assert _decide(Policy(rules=(BREAST,)), components=("psi", "hetero_lr", "evaluation")) == ("accept", "rule breast")


def test_a_name_list_given_as_one_string_is_refused_not_spelled_out() -> None:
    # "psi" must not become the components 'p', 's', 'i'
    with pytest.raises(PolicyError) as info:
        parse_policy({"rules": [{"name": "r", "components": "psi", "tables": [1]}]})
    assert info.value.problems == ("policy.rules[0].components: expected a list of names, got 'psi'",
                                   "policy.rules[0].tables: expected a list of names, got [1]")
    assert str(info.value) == ("invalid policy: policy.rules[0].components: expected a list of names, got 'psi'; "
                               "policy.rules[0].tables: expected a list of names, got [1]")


def test_limits_of_one_are_positive_and_seconds_must_be_finite_numbers() -> None:
    policy = parse_policy({"min_batch_size": 1, "max_parties": 1, "approval_timeout": 1})
    assert (policy.min_batch_size, policy.max_parties, policy.approval_timeout) == (1, 1, 1.0)
    for bad in (0, float("inf"), "1h", True):
        with pytest.raises(PolicyError, match="policy.approval_timeout: expected a positive number of seconds"):
            parse_policy({"approval_timeout": bad})


def _spec(params: str = "{}", arbiter: int = 1, second: str = "") -> JobSpec:
    job = (f"roles: {{guest: [1], host: [2], arbiter: [{arbiter}]}}\ntables: {{1: t, 2: t}}\npipeline:\n"
           f"  - {{name: lr, component: hetero_lr, params: {params}}}\n")
    if second:
        job += f"  - {{name: lr2, component: hetero_lr, params: {second}}}\n"
    return validate_job(YAML(typ="safe").load(job))


def test_every_lr_step_is_held_to_the_floors_not_only_the_last() -> None:
    problems = floor_problems(Policy(), _spec("{encrypt_param: {key_length: 1024}}", second="{}"), 2)
    assert problems == ["lr (hetero_lr): 1024-bit keys are under the floor of 2048 bits"]


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ("{encrypt_param: weak}", "lr (hetero_lr): encrypt_param.key_length None is not a key size"),
        ("{encrypt_param: {key_length: '4096'}}", "lr (hetero_lr): encrypt_param.key_length '4096' is not a key size"),
        ("{batch_size: '64'}", "lr (hetero_lr): batch_size '64' is not a row count"),
        ("{batch_size: 31}", "lr (hetero_lr): batches of 31 rows are under the floor of 32"),
    ],
)
def test_lr_parameters_that_are_not_numbers_are_refused_by_name(params: str, problem: str) -> None:
    assert floor_problems(Policy(), _spec(params), 2) == [problem]


def test_a_batch_of_exactly_the_floor_is_accepted() -> None:
    assert floor_problems(Policy(), _spec("{batch_size: 32}"), 2) == []


def test_an_agreement_waiting_only_for_a_person_is_not_overdue_at_the_answer_deadline() -> None:
    agreement = Agreement(frozenset({2, 3}), answer_by=10.0, answered={2, 3}, accepted={2}, pending={3: 100.0})
    assert agreement.overdue(50.0, 5, 90) == ""
    assert agreement.overdue(100.0, 5, 90) == "party 3 did not approve within 90s"
    assert Agreement(frozenset({2, 3}), answer_by=10.0, answered={2}).overdue(10.0, 5, 90) == (
        "no answer from parties [3] within 5s")


def test_a_jobs_key_size_is_raised_to_the_partys_floor_never_lowered() -> None:
    """What every component holding a key uses (hetero LR, SecureBoost, binning): found unreached by this
    module's tests in mutation testing (tests/ml/test_floors.py holds the same through training)."""
    policy = Policy(min_key_bits=2048)
    assert [policy.key_floor(bits) for bits in (1024, 2047, 2048, 3072)] == [2048, 2048, 2048, 3072]
