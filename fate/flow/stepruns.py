"""Finished pipeline steps on this party: per step and role, how long it took, how it ended and
how many Paillier encryptions, re-randomizations and decryptions it made (fate.crypto.counters).

The worker appends a row when a step of one of its roles ends, successful or failed. A worker
that is killed (the job was stopped, or failed elsewhere) leaves no row for the step it was in.
The flow serves the rows with the job (`steps`) and sums them in its /metrics (fate.flow.metrics).
"""

from __future__ import annotations

import time
from typing import Any, TypedDict

from fate.crypto.counters import Operations
from fate.flow.store import Store


class StepRun(TypedDict):
    seq: int
    job_id: str
    step: str
    component: str
    role: str
    status: str  # success | failed
    seconds: float
    encryptions: int
    decryptions: int
    rerandomizations: int
    ended: float


def record(
    store: Store, job_id: str, step: str, component: str, role: str, status: str, seconds: float, ops: Operations
) -> None:
    store.add_step_run({
        "job_id": job_id, "step": step, "component": component, "role": role, "status": status,
        "seconds": round(seconds, 6), "encryptions": ops.encryptions, "decryptions": ops.decryptions,
        "rerandomizations": ops.rerandomizations, "ended": time.time(),
    })


def _typed(rows: list[dict[str, Any]]) -> list[StepRun]:
    return [
        {
            "seq": r["seq"], "job_id": r["job_id"], "step": r["step"], "component": r["component"],
            "role": r["role"], "status": r["status"], "seconds": r["seconds"], "encryptions": r["encryptions"],
            "decryptions": r["decryptions"], "rerandomizations": r["rerandomizations"], "ended": r["ended"],
        }
        for r in rows
    ]


def of_job(store: Store, job_id: str) -> list[StepRun]:
    return _typed(store.step_runs(job_id=job_id))


def after(store: Store, seq: int, limit: int = 10_000) -> list[StepRun]:
    """Rows past `seq`, oldest first: how the metrics catch up without reading everything again."""
    return _typed(store.step_runs(after=seq, limit=limit))
