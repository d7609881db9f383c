"""A party's own job policy: which peer may run what on which of our tables, and our floors.

The policy is the party's, never a peer's: it comes from the party's flow config (rendered
from its part of the spec) and is applied to every proposal before anything runs. Secure by
default: a job another party initiates waits for a person's approval unless a rule allows it,
and the party's security floors (key size, batch size, trusted arbiters) hold whatever the job
file asks for. Decisions name the rule that made them, for the audit log.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Approval = Literal["auto", "manual", "deny"]
Verdict = Literal["accept", "pending", "refuse"]
APPROVALS: tuple[Approval, ...] = ("auto", "manual", "deny")
ROLES = ("guest", "host", "arbiter")
SECURE_KEY_BITS = 2048
DEFAULT_MIN_BATCH = 32
DEFAULT_MAX_PARTIES = 16
DEFAULT_APPROVAL_TIMEOUT = 24 * 3600.0  # seconds a job may wait for a person's approval


class PolicyError(ValueError):
    """The policy section of a flow config is invalid; lists every problem."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("invalid policy: " + "; ".join(problems))
        self.problems = tuple(problems)


@dataclass(frozen=True)
class Rule:
    """Jobs this rule covers: every listed field must match; an empty list matches anything."""

    name: str
    approval: Approval
    peers: tuple[int, ...] = ()  # initiating parties
    components: tuple[str, ...] = ()  # every component of the job must be listed
    tables: tuple[str, ...] = ()  # our input table
    roles: tuple[str, ...] = ()  # every role we are asked to play must be listed

    def covers(self, initiator: int, components: Sequence[str], table: str | None, roles: Sequence[str]) -> bool:
        return (
            (not self.peers or initiator in self.peers)
            and (not self.components or set(components) <= set(self.components))
            and (not self.tables or table is None or table in self.tables)
            and (not self.roles or set(roles) <= set(self.roles))
        )


@dataclass(frozen=True)
class Policy:
    approval: Approval = "manual"  # for jobs others initiate that no rule covers
    min_key_bits: int = SECURE_KEY_BITS
    allow_insecure_keys: bool = False  # keys under 2048 bits (test labs, benchmarks)
    min_batch_size: int = DEFAULT_MIN_BATCH
    trusted_arbiters: tuple[int, ...] = ()  # third parties we let hold a key over our data's products
    max_parties: int = DEFAULT_MAX_PARTIES
    rules: tuple[Rule, ...] = ()
    # How long a job may wait for a person (here, or at a party we proposed to) before it fails.
    approval_timeout: float = DEFAULT_APPROVAL_TIMEOUT
    # Jobs others initiate that score with a model stored here (fate.flow.models), on top of `rules`.
    model_reuse: Approval = "manual"

    def key_floor(self, requested: int) -> int:
        """The key size we use and accept: the job's, raised to our floor."""
        return max(requested, self.min_key_bits)


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    rule: str  # the rule that decided, "default", "own job" or "floor"
    reason: str  # what our operator and audit log read
    public_reason: str = ""  # what the proposer is told on refusal: never whether a table exists


def public_refusal(me: int) -> str:
    """The one reason a proposer hears for a policy refusal, and for a missing table alike."""
    return f"refused by party {me}'s policy"


def decide(policy: Policy, me: int, initiator: int, components: Sequence[str], table: str | None,
           roles: Sequence[str]) -> Decision:
    """What to do with a proposal, before any check of our data: by rule, else by the default."""
    if initiator == me:
        return Decision("accept", "own job", "submitted with this party's flow token")
    for rule in policy.rules:
        if rule.covers(initiator, components, table, roles):
            return _by(rule.approval, f"rule {rule.name}", me, initiator)
    return _by(policy.approval, "default", me, initiator)


STRICTNESS: dict[Verdict, int] = {"accept": 0, "pending": 1, "refuse": 2}


def decide_reuse(policy: Policy, me: int, initiator: int, decision: Decision) -> Decision:
    """A job loading a model stored here: the stricter of the rules' decision and `model_reuse`."""
    if initiator == me:
        return decision
    reuse = _by(policy.model_reuse, "policy.model_reuse", me, initiator)
    return reuse if STRICTNESS[reuse.verdict] > STRICTNESS[decision.verdict] else decision


def _by(approval: Approval, rule: str, me: int, initiator: int) -> Decision:
    if approval == "auto":
        return Decision("accept", rule, f"allowed by {rule}")
    if approval == "manual":
        return Decision("pending", rule, f"needs approval ({rule})")
    return Decision("refuse", rule, f"denied by {rule} for party {initiator}", public_refusal(me))


# ---- parsing (flow config, snake_case; the spec renders it) ----


def _ids(value: Any, where: str, problems: list[str]) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        problems.append(f"{where}: expected a list of party ids, got {value!r}")
        return ()
    return tuple(value)


def _names(value: Any, where: str, problems: list[str], allowed: Sequence[str] = ()) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.append(f"{where}: expected a list of names, got {value!r}")
        return ()
    bad = [v for v in value if allowed and v not in allowed]
    if bad:
        problems.append(f"{where}: {bad} not among {', '.join(allowed)}")
    return tuple(value)


def _approval(value: Any, where: str, problems: list[str]) -> Approval:
    if value not in APPROVALS:
        problems.append(f"{where}: expected one of {', '.join(APPROVALS)}, got {value!r}")
        return "manual"
    return value  # type: ignore[no-any-return]


def _positive(data: Mapping[str, Any], key: str, default: int, problems: list[str]) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        problems.append(f"policy.{key}: expected a positive integer, got {value!r}")
        return default
    return value


def _seconds(data: Mapping[str, Any], key: str, default: float, problems: list[str]) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < float("inf"):
        problems.append(f"policy.{key}: expected a positive number of seconds, got {value!r}")
        return default
    return float(value)


def parse_policy(data: Any) -> Policy:
    """The `policy:` mapping of a flow config; a missing one is the secure default."""
    if data is None:
        return Policy()
    if not isinstance(data, Mapping):
        raise PolicyError([f"policy: expected a mapping, got {data!r}"])
    problems: list[str] = []
    known = {"approval", "min_key_bits", "allow_insecure_keys", "min_batch_size", "trusted_arbiters",
             "max_parties", "rules", "approval_timeout", "model_reuse"}
    problems += [f"policy.{k}: unknown field" for k in data if k not in known]
    rules = []
    raw_rules = data.get("rules", [])
    if not isinstance(raw_rules, list):
        problems.append(f"policy.rules: expected a list, got {raw_rules!r}")
        raw_rules = []
    for i, raw in enumerate(raw_rules):
        where = f"policy.rules[{i}]"
        if not isinstance(raw, Mapping):
            problems.append(f"{where}: expected a mapping")
            continue
        problems += [f"{where}.{k}: unknown field" for k in raw
                     if k not in ("name", "approval", "peers", "components", "tables", "roles")]
        name = raw.get("name", f"#{i + 1}")
        if not isinstance(name, str) or not name:
            problems.append(f"{where}.name: expected a string")
            name = f"#{i + 1}"
        rules.append(Rule(
            name=name,
            approval=_approval(raw.get("approval", "manual"), f"{where}.approval", problems),
            peers=_ids(raw.get("peers", []), f"{where}.peers", problems),
            components=_names(raw.get("components", []), f"{where}.components", problems),
            tables=_names(raw.get("tables", []), f"{where}.tables", problems),
            roles=_names(raw.get("roles", []), f"{where}.roles", problems, ROLES),
        ))
    insecure = data.get("allow_insecure_keys", False)
    if not isinstance(insecure, bool):
        problems.append(f"policy.allow_insecure_keys: expected true or false, got {insecure!r}")
        insecure = False
    policy = Policy(
        approval=_approval(data.get("approval", "manual"), "policy.approval", problems),
        min_key_bits=_positive(data, "min_key_bits", SECURE_KEY_BITS, problems),
        allow_insecure_keys=insecure,
        min_batch_size=_positive(data, "min_batch_size", DEFAULT_MIN_BATCH, problems),
        trusted_arbiters=_ids(data.get("trusted_arbiters", []), "policy.trusted_arbiters", problems),
        max_parties=_positive(data, "max_parties", DEFAULT_MAX_PARTIES, problems),
        rules=tuple(rules),
        approval_timeout=_seconds(data, "approval_timeout", DEFAULT_APPROVAL_TIMEOUT, problems),
        model_reuse=_approval(data.get("model_reuse", "manual"), "policy.model_reuse", problems),
    )
    if policy.min_key_bits < SECURE_KEY_BITS and not policy.allow_insecure_keys:
        problems.append(f"policy.min_key_bits: {policy.min_key_bits} is under {SECURE_KEY_BITS}; "
                        "set allow_insecure_keys for a test lab")
    if problems:
        raise PolicyError(problems)
    return policy
