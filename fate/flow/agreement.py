"""Whether this party takes part in a proposed job, and the initiator's view of an agreement.

A proposal is judged in a fixed order, cheapest and least revealing first:

1. structure: the job id is a plain name, the job file is valid, we and the proposer have roles;
2. caps: at most `policy.max_parties` parties, every one of them us or a known peer
   (`config.peers`), the proposal at most MAX_CONTROL_BYTES;
3. security floors of every `hetero_lr` step (key size, insecure keys, batch size) and, when a
   third party is the arbiter and we hold data, that we trust it;
4. the policy (`fate.flow.policy.decide`): a rule, else the default; a job that loads a model
   stored here also needs `policy.model_reuse` (the stricter of the two decides);
5. only then our data: the input table must exist, and every model the job names must be ours
   to apply for exactly these parties (`fate.flow.models.reuse_problems`).

A refusal's public reason never says whether a table exists: "no such table" and "the policy
refuses" read the same to the proposer (`public_refusal`). The real reason stays here, in the
job log and the audit log. A job waiting for a person is not checked against our tables until
it is approved, so `pending` does not reveal them either.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from fate.flow.config import FlowConfig
from fate.flow.errors import BadRequest
from fate.flow.jobspec import DATA_ROLES, NAME, JobSpec, Step, validate_job
from fate.flow.models import reuse_problems, reused
from fate.flow.policy import SECURE_KEY_BITS, Policy, Verdict, decide, decide_reuse, public_refusal
from fate.flow.store import Store

MAX_CONTROL_BYTES = 64 * 1024
LR_FLOOR_PARAMS = ("encrypt_param", "insecure_key", "batch_size")
Stage = Literal["structure", "caps", "floors", "policy", "table"]


@dataclass(frozen=True)
class Evaluation:
    verdict: Verdict
    stage: Stage  # the check that decided (for a refusal) or "policy"/"table" for the rest
    rule: str  # the policy rule or check that decided, for the audit log
    problems: tuple[str, ...]  # the real reasons: our job log, audit log and own operator read them
    public: str = ""  # what the proposer is told on refusal
    spec: JobSpec | None = None

    @property
    def reason(self) -> str:
        return "; ".join(self.problems)

    @property
    def recorded(self) -> bool:
        """Keep the job (failed, when refused): it was well-formed and within our caps, so our
        operator sees it in `job list`. Garbage and over-cap proposals go to the audit log only."""
        return self.spec is not None and self.stage in ("floors", "policy", "table")


def _refuse(stage: Stage, problems: list[str], public: str, spec: JobSpec | None = None) -> Evaluation:
    return Evaluation("refuse", stage, stage, tuple(problems), public, spec)


def evaluate(config: FlowConfig, store: Store, src: int, job_id: str, raw_spec: Any, size: int) -> Evaluation:
    """Judge a proposal of job `job_id` from party `src` (ourselves for our own submissions)."""
    me, policy = config.party_id, config.policy
    if not NAME.match(job_id):  # the id names a directory under data_dir/jobs: no '../'
        problem = f"job id {job_id[:80]!r} is not a plain name"
        return _refuse("structure", [problem], problem)
    try:
        spec = validate_job(raw_spec)
    except BadRequest as err:
        problems = [err.message, *err.problems]
        return _refuse("structure", problems, "; ".join(problems))
    structure = []
    if me not in spec.parties:
        structure.append(f"party {me} has no role in the job")
    if src not in spec.parties:
        structure.append(f"the proposer, party {src}, has no role in the job")
    if src != me and store.has_job(job_id):
        structure.append(f"party {me} already has a job {job_id}")
    if structure:
        return _refuse("structure", structure, "; ".join(structure))

    caps = []
    if len(spec.parties) > policy.max_parties:
        caps.append(f"the job has {len(spec.parties)} parties; party {me} takes part in at most {policy.max_parties}")
    unknown = [p for p in spec.parties if p != me and p not in config.peers]
    if unknown:
        caps.append(f"parties {unknown} are not known peers of party {me}")
    if size > MAX_CONTROL_BYTES:
        caps.append(f"the proposal has {size} bytes; party {me} accepts at most {MAX_CONTROL_BYTES}")
    if caps:
        return _refuse("caps", caps, "; ".join(caps))

    floors = floor_problems(policy, spec, me)
    if floors:
        # Floors are about the job's cryptography, not our data: the proposer may know them.
        return _refuse("floors", floors, f"party {me}'s security floors: " + "; ".join(floors), spec)

    table = spec.tables.get(me)
    decision = decide(policy, me, src, [s.component for s in spec.pipeline], table, spec.roles_of(me))
    if reused(spec):
        decision = decide_reuse(policy, me, src, decision)
    if decision.verdict == "refuse":
        return Evaluation("refuse", "policy", decision.rule, (decision.reason,), public_refusal(me), spec)
    if decision.verdict == "pending":
        return Evaluation("pending", "policy", decision.rule, (decision.reason,), "", spec)
    missing = data_problems(store, me, spec)
    if missing:
        return Evaluation("refuse", "table", decision.rule, tuple(missing), public_refusal(me), spec)
    return Evaluation("accept", "policy", decision.rule, (decision.reason,), "", spec)


def table_problem(store: Store, me: int, table: str | None) -> str:
    if table is not None and not store.has_table(table):
        return f"party {me} has no table {table!r}"
    return ""


def data_problems(store: Store, me: int, spec: JobSpec) -> list[str]:
    """What of ours the job needs and we do not have: its input table, the models it names."""
    missing = table_problem(store, me, spec.tables.get(me))
    return ([missing] if missing else []) + reuse_problems(store, spec, me)


def floor_problems(policy: Policy, spec: JobSpec, me: int) -> list[str]:
    """What in the job is under our security floors, whatever its job file asks for."""
    problems = []
    for step in spec.pipeline:
        # hetero_lr with its defaults (a key of SECURE_KEY_BITS, full batch); any other component
        # carrying the same parameters is held to the same floors for what it states.
        if step.component == "hetero_lr" or any(k in step.params for k in LR_FLOOR_PARAMS):
            problems += _lr_floors(policy, step, me)
    data_parties = {p for role in DATA_ROLES for p in spec.roles.get(role, ())}
    if me in data_parties:
        for arbiter in spec.roles.get("arbiter", ()):
            # A third-party arbiter holds the private key over products of our data.
            if arbiter not in data_parties and arbiter not in policy.trusted_arbiters:
                problems.append(f"the arbiter, party {arbiter}, is not among party {me}'s trusted arbiters")
    return problems


def _lr_floors(policy: Policy, step: Step, me: int) -> list[str]:
    where, params = f"{step.name} ({step.component})", step.params
    problems = []
    encrypt = params.get("encrypt_param") or {}
    bits = encrypt.get("key_length", SECURE_KEY_BITS) if isinstance(encrypt, Mapping) else None
    if not isinstance(bits, int) or isinstance(bits, bool):
        problems.append(f"{where}: encrypt_param.key_length {bits!r} is not a key size")
    elif bits < policy.min_key_bits:
        problems.append(f"{where}: {bits}-bit keys are under the floor of {policy.min_key_bits} bits")
    if params.get("insecure_key", False) is not False and not policy.allow_insecure_keys:
        problems.append(f"{where}: insecure_key is set and party {me} does not allow insecure keys")
    batch = params.get("batch_size", -1)
    if not isinstance(batch, int) or isinstance(batch, bool):
        problems.append(f"{where}: batch_size {batch!r} is not a row count")
    elif batch != -1 and batch < policy.min_batch_size:
        problems.append(f"{where}: batches of {batch} rows are under the floor of {policy.min_batch_size}")
    return problems


@dataclass
class Agreement:
    """The initiator's view of one proposal: who answered, who accepted, who waits for a person."""

    others: frozenset[int]
    answer_by: float  # monotonic deadline for every party's first answer
    answered: set[int] = field(default_factory=set)
    accepted: set[int] = field(default_factory=set)
    pending: dict[int, float] = field(default_factory=dict)  # party -> monotonic approval deadline

    def overdue(self, now: float, agree_timeout: float, approval_timeout: float) -> str:
        """Why the agreement has failed by `now`, or "" while it may still succeed."""
        silent = sorted(self.others - self.answered)
        if silent and now >= self.answer_by:
            return f"no answer from parties {silent} within {agree_timeout:g}s"
        late = sorted(p for p, deadline in self.pending.items() if now >= deadline)
        if late:
            return f"party {late[0]} did not approve within {approval_timeout:g}s"
        return ""
