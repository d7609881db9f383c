"""Models reused across jobs: a later job scores with a model an earlier job trained.

A step names the model by the earlier job's id and the step that trained it
(`model: {job: ..., component: ...}`, fate.flow.jobspec). Every party loads only its own
part, from its own store; nothing of a model ever crosses to a peer. Before taking part, a
party checks (`reuse_problems`) that:

- it holds the earlier job, finished with success, and its own part of that step's model;
- the earlier step ran the same component;
- the new job's guest and hosts are exactly the parties that trained the model, each in the
  same role: a peer that did not help train a model cannot have it applied to its rows, and
  no party can be moved into another party's seat (the guest's trees name hosts by party id).

Whether a peer may start such a job at all is the party's policy (`policy.model_reuse`:
auto, manual or deny; manual by default), on top of its usual rules. A refusal tells the
proposer only `public_refusal`: never whether the job or the model exists here. At run time
the component also refuses a model whose feature columns differ from its input table's,
naming neither (the failure reason reaches every party); the detail stays in this party's log.
"""

from __future__ import annotations

from typing import Any

from fate.flow.errors import BadRequest
from fate.flow.jobspec import DATA_ROLES, JobSpec, ModelRef, Step, validate_job
from fate.flow.store import Store
from fate.ml.component import ComponentError, ComponentResult
from fate.ml.dataflow import REUSED_MODEL

__all__ = ["REUSED_MODEL", "load_model", "reuse_problems", "reused"]


def reused(spec: JobSpec) -> list[Step]:
    """The steps of a job that load a stored model."""
    return [s for s in spec.pipeline if s.model is not None]


def _own_model(store: Store, ref: ModelRef, role: str) -> Any:
    for row in store.outputs(ref.job):
        if (row["component"], row["role"], row["kind"], row["name"]) == (ref.component, role, "model", "model"):
            return row["value"]
    return None


def reuse_problems(store: Store, spec: JobSpec, me: int) -> list[str]:
    """Why this party will not load the models `spec` names (empty: it will); for our own eyes only."""
    problems: list[str] = []
    for step in reused(spec):
        ref = step.model
        assert ref is not None
        where = f"{step.name}: model {ref.job}/{ref.component}"
        if not store.has_job(ref.job):
            problems.append(f"{where}: party {me} holds no job {ref.job}")
            continue
        earlier_job = store.get_job(ref.job)
        if earlier_job["status"] != "success":
            problems.append(f"{where}: job {ref.job} is {earlier_job['status']} here, not success")
            continue
        try:
            earlier = validate_job(earlier_job["spec"])
        except BadRequest as err:
            problems.append(f"{where}: job {ref.job}'s job file no longer validates ({err.message})")
            continue
        trained = next((s for s in earlier.pipeline if s.name == ref.component), None)
        if trained is None or trained.component != step.component:
            problems.append(f"{where}: job {ref.job} has no {step.component} step named {ref.component!r}")
            continue
        for role in DATA_ROLES:
            now, then = sorted(spec.roles.get(role, ())), sorted(earlier.roles.get(role, ()))
            if now != then:
                problems.append(f"{where}: the job's {role} parties {now} are not those that trained the model {then}")
        for role in spec.roles_of(me):
            if role in DATA_ROLES and _own_model(store, ref, role) is None:
                problems.append(f"{where}: party {me} holds no {role} part of that model")
    return problems


def load_model(store: Store, step: Step, role: str, log: Any = None) -> ComponentResult | None:
    """This party's own part of the model `step` names, as an upstream result; None for roles without one."""
    ref = step.model
    if ref is None or role not in DATA_ROLES:
        return None
    model = _own_model(store, ref, role)
    if not isinstance(model, dict):
        # Checked when the job was agreed; a store changed since then fails here, revealing nothing.
        if log is not None:
            log(f"model {ref.job}/{ref.component} ({role}) is not in this party's store")
        raise ComponentError(f"{step.name}: this party cannot load the model the job names")
    return ComponentResult(model=model)
