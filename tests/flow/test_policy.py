"""A party's policy: parsed from its flow config (every problem at once), secure by default, and
decided by the first rule that covers a proposal."""

from __future__ import annotations

import pytest

from fate.flow.config import parse_flow_config
from fate.flow.errors import ConfigError
from fate.flow.policy import Policy, PolicyError, Rule, decide, parse_policy

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
