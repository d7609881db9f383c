"""The example job files run as written (1024-bit test keys instead of 2048), every party in threads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fate.flow.jobspec import parse_job
from fate.ml.component import Table
from fate.ml.evaluation import auc
from tests.ml.conftest import Breast
from tests.ml.pipeline import GUEST, HOST, Step, run_pipeline

JOBS = Path(__file__).resolve().parents[2] / "examples" / "jobs"


def _test_keys(params: dict[str, Any]) -> dict[str, Any]:
    out = dict(params)
    for section in ("he_param", "encrypt_param"):
        if section in out:
            out[section] = {**out[section], "key_length": 1024}
            out["insecure_key"] = True
    return out


def _steps(name: str) -> tuple[list[Step], dict[str, tuple[int, ...]]]:
    job = parse_job((JOBS / name).read_text(encoding="utf-8"))
    steps = [Step(s.name, s.component, _test_keys(dict(s.params)), s.needs) for s in job.pipeline]
    return steps, {role: tuple(ids) for role, ids in job.roles.items()}


def _tables(breast: Breast) -> dict[str, Table]:
    return {"guest": Table(breast.ids, tuple(f"x{i}" for i in range(10)), breast.guest, breast.labels),
            "host": Table(breast.ids, tuple(f"x{i}" for i in range(20)), breast.host)}


def test_breast_secureboost_job(breast: Breast) -> None:
    steps, roles = _steps("breast-secureboost.yaml")
    assert roles == {"guest": (GUEST,), "host": (HOST,)}
    runs = run_pipeline(steps, _tables(breast), roles=roles)
    assert runs["guest"].metrics["evaluate"]["auc"] == pytest.approx(0.995858, abs=5e-4)


def test_breast_feature_engineering_pipeline_job(breast: Breast) -> None:
    steps, roles = _steps("breast-pipeline-lr.yaml")
    runs = run_pipeline(steps, _tables(breast), roles=roles)
    guest, host = runs["guest"], runs["host"]
    kept = len(guest.results["select"].data.header) + len(host.results["select"].data.header)  # type: ignore[union-attr]
    assert kept == 12
    assert guest.metrics["evaluate"]["auc"] > 0.98
    scored = guest.results["lr"].data
    assert scored is not None and scored.labels is not None
    assert auc(scored.labels, scored.features[:, 0]) == guest.metrics["evaluate"]["auc"]
    assert set(guest.results["select"].side_data) == {"validate", "test"}
    assert not any("far from unit scale" in line for line in guest.log + host.log)
