"""A real flow process (its own SQLite store) and a real board process in front of it.

Jobs are seeded through the flow's Store, the same path its workers write by, and
the evaluation outputs come from running the real evaluation component.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fate.flow.store import Store, open_store
from fate.ml.component import ComponentContext, ComponentResult, Table
from fate.ml.lr_component import RESULT, SCORE, run_evaluation
from fate.ml.lr_model import MODEL_FORMAT
from tests.processes import free_port, start_server, stop, wait_healthy

PARTY, PEER = 9999, 10000
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@dataclass
class Party:
    directory: Path
    token: str  # the flow's read-write token
    reader: str  # the flow's read-only credential, the board's
    password: str  # the board's login password
    flow_url: str
    board_url: str
    board_config: Path
    store: Store


def write_config(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(json.dumps(data))  # JSON is YAML
    return path


@pytest.fixture(scope="module")
def party(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Party]:
    root = tmp_path_factory.mktemp("board")
    token, reader, password = (secrets.token_urlsafe(32) for _ in range(3))
    token_file, reader_file, password_file = root / "flow_token", root / "flow_reader_token", root / "board_password"
    for path, value in ((token_file, token), (reader_file, reader), (password_file, password)):
        path.write_text(value)
        os.chmod(path, 0o600)
    flow_port, board_port, router_port = free_port(), free_port(), free_port()
    flow_config = write_config(
        root / "flow.yaml",
        {
            "party_id": PARTY,
            "listen": {"host": "127.0.0.1", "port": flow_port},
            "token_file": str(token_file),
            "reader_token_file": str(reader_file),
            # No router runs: the board needs none of the flow's federation side.
            "router": {"host": "127.0.0.1", "port": router_port},
            "data_dir": str(root / "flow"),
        },
    )
    board_config = write_config(
        root / "board.yaml",
        {
            "party_id": PARTY,
            "listen": {"host": "127.0.0.1", "port": board_port},
            "flow": {"host": "127.0.0.1", "port": flow_port},
            "token_file": str(reader_file),  # the board reads with the read-only credential
            "password_file": str(password_file),
        },
    )
    flow = start_server("flow", flow_config, root / "flow.log")
    board = start_server("board", board_config, root / "board.log")
    try:
        flow_url, board_url = f"http://127.0.0.1:{flow_port}", f"http://127.0.0.1:{board_port}"
        wait_healthy(flow_url, flow, root / "flow.log")
        wait_healthy(board_url, board, root / "board.log")
        yield Party(root, token, reader, password, flow_url, board_url, board_config, open_store(root / "flow"))
    finally:
        stop(board)
        stop(flow)


def _spec(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "roles": {"guest": [PARTY], "host": [PEER], "arbiter": [PARTY]},
        "tables": {str(PARTY): "guest_t", str(PEER): "host_t"},
        "pipeline": [
            {"name": "lr", "component": "hetero_lr", "params": {}, "needs": []},
            {"name": "evaluate", "component": "evaluation", "params": {}, "needs": ["lr"]},
        ],
        "timeout": 600,
    }


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=lambda v: v.tolist()))


def _run_step(store: Store, job: str, step: str, role: str, inputs: dict[str, ComponentResult]) -> None:
    """Run the evaluation component as the flow's worker does: its metrics land in the store."""
    store.log(job, f"{step}/{role}", "start evaluation")
    ctx = ComponentContext(
        job_id=job,
        party_id=PARTY,
        role=role,
        roles={"guest": (PARTY,), "host": (PEER,), "arbiter": (PARTY,)},
        params={},
        federation=None,
        component=step,
        inputs=inputs,
        log=lambda msg: store.log(job, f"{step}/{role}", msg),
        log_metric=lambda name, value: store.put_output(job, step, role, "metric", name, _jsonable(value)),
    )
    result = run_evaluation(ctx)
    for name, value in result.metrics.items():
        store.put_output(job, step, role, "metric", name, _jsonable(value))
    store.log(job, f"{step}/{role}", "done evaluation")


def seed_finished_job(store: Store, job: str, name: str, loss: list[float], seed: int = 0) -> None:
    """A finished LR + evaluation job as this party (guest and arbiter) would store it."""
    store.create_job(job, _spec(name), PARTY, "running")
    rng = np.random.default_rng(seed)
    labels = (rng.random(200) < 0.4).astype(np.float64)
    scores = np.clip(0.35 * labels + rng.random(200) * 0.65, 0.0, 1.0)
    scored = Table(
        tuple(f"id{i}" for i in range(200)),
        (SCORE, RESULT),
        np.column_stack([scores, (scores >= 0.5).astype(np.float64)]),
        labels,
    )
    model = {"format": MODEL_FORMAT, "role": "arbiter", "header": [], "weights": [], "loss": loss}
    for role in ("guest", "arbiter"):
        store.log(job, f"lr/{role}", "start hetero_lr")
        store.log(job, f"lr/{role}", "done hetero_lr")
    store.put_output(job, "lr", "arbiter", "metric", "loss", loss)
    store.put_output(
        job,
        "lr",
        "guest",
        "model",
        "model",
        {"format": MODEL_FORMAT, "header": ["x0", "x1"], "weights": [0.5, -1.25], "intercept": 0.1},
    )
    _run_step(store, job, "evaluate", "guest", {"lr": ComponentResult(data=scored)})
    _run_step(store, job, "evaluate", "arbiter", {"lr": ComponentResult(model=model)})
    store.set_status(job, "success")


def seed_failed_job(store: Store, job: str, name: str, reason: str) -> None:
    store.create_job(job, _spec(name), PARTY, "running")
    store.log(job, "lr/guest", "start hetero_lr")
    store.log(job, "lr/guest", "Traceback (most recent call last): ...")
    store.set_status(job, "failed", reason)
