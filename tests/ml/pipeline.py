"""Run a job's pipeline the way the flow's worker does, every party and role in threads over one MemoryHub.

Each role keeps its own results; a step's inputs are the steps it `needs` (default: the
previous one), its params are the job file's, and models and metrics land in a sink per role.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fate.federation.federation import Federation
from fate.federation.memory import MemoryHub, WireHook
from fate.flow.policy import Policy
from fate.ml import registry
from fate.ml.component import ComponentContext, ComponentResult, Table
from fate.ml.dataflow import REUSED_MODEL
from tests.ml.federated import run_threads

GUEST, HOST = 9999, 10000
TEST_POLICY = Policy(approval="auto", min_key_bits=1024, allow_insecure_keys=True)


@dataclass(frozen=True)
class Step:
    name: str
    component: str
    params: Mapping[str, Any] = field(default_factory=dict)
    needs: tuple[str, ...] = ()


@dataclass
class RoleRun:
    results: dict[str, ComponentResult] = field(default_factory=dict)
    models: dict[str, list[Any]] = field(default_factory=dict)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)


def run_pipeline(steps: Sequence[Step], tables: Mapping[str, Table], roles: Mapping[str, Sequence[int]] | None = None,
                 on_wire: WireHook | None = None, policy: Policy = TEST_POLICY,
                 host_tables: Mapping[int, Table] | None = None, timeout: float = 600.0,
                 stored: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, RoleRun]:
    """tables: 'guest' and 'host' (the first host), or host_tables per host id; returns runs per role key.

    stored: step name -> role key -> that party's model from an earlier job, handed to the step
    as the flow's worker hands a job file's `model:` (fate.flow.models)."""
    roles = roles or {"guest": (GUEST,), "host": (HOST,)}
    hub = MemoryHub()
    keys: list[tuple[str, str, int]] = [("guest", "guest", roles["guest"][0])]
    keys += [(f"host{i}" if i else "host", "host", pid) for i, pid in enumerate(roles["host"])]
    keys += [("arbiter", "arbiter", pid) for pid in roles.get("arbiter", ())]
    runs = {key: RoleRun() for key, _, _ in keys}
    feds = {key: Federation(hub.transport(pid), "job-t", roles, role, on_wire) for key, role, pid in keys}

    def table_of(key: str, pid: int) -> Table | None:
        if host_tables and pid in host_tables:
            return host_tables[pid]
        return tables.get(key)

    def job(key: str, role: str, pid: int) -> Callable[[], None]:
        def run() -> None:
            mine, table = runs[key], table_of(key, pid)
            for step in steps:
                needs = step.needs or tuple(list(mine.results)[-1:])
                inputs = {n: mine.results[n] for n in needs}
                if stored and key in stored.get(step.name, {}):
                    inputs[REUSED_MODEL] = ComponentResult(model=stored[step.name][key])
                sink = mine.models.setdefault(step.name, [])
                metrics = mine.metrics.setdefault(step.name, {})
                ctx = ComponentContext(
                    job_id="job-t", party_id=pid, role=role, roles=roles, params=step.params, federation=feds[key],
                    component=step.name, table_name=None if table is None else "t",
                    inputs=inputs,
                    read_table=lambda _name, t=table: _need(t), log=mine.log.append, save_model=sink.append,
                    log_metric=metrics.__setitem__, policy=policy)
                mine.results[step.name] = registry.get(step.component)(ctx)

        return run

    run_threads({key: job(key, role, pid) for key, role, pid in keys}, timeout=timeout)
    assert hub.pending() == 0, "a message was sent that nobody received"
    return runs


def _need(table: Table | None) -> Table:
    assert table is not None, "this party has no input table"
    return table
