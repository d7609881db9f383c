"""Schedulers of several parties on one in-memory hub, each with its own store and policy; and the
store backends (SQLite, and PostgreSQL on a throwaway cluster) every store test runs against."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fate.federation.memory import MemoryHub
from fate.flow.config import parse_flow_config
from fate.flow.control import CONTROL_JOB
from fate.flow.jobspec import parse_job
from fate.flow.scheduler import AGREE_TIMEOUT, Scheduler
from fate.flow.store import TERMINAL, JobRecord, open_store
from fate.flow.tables import parse_csv
from tests.flow.backends import Backend
from tests.flow.postgres import Cluster, start_cluster

JOB = "roles: {guest: [1], host: [2]}\ntables: {1: t, 2: t}\npipeline: [{name: p, component: psi}]\n"
# Tests that want a job to start let every peer run it without a person.
AUTO = {"rules": [{"name": "test-peers", "approval": "auto"}]}

MakeScheduler = Callable[..., Scheduler]


def build_scheduler(data_dir: Path, hub: MemoryHub, me: int, peers: list[int], policy: dict[str, Any] | None = None,
                    agree_timeout: float = AGREE_TIMEOUT) -> Scheduler:
    config = parse_flow_config(
        {
            "party_id": me,
            "listen": {"host": "127.0.0.1", "port": 0},
            "token_file": str(data_dir / "token"),
            "router": {"host": "127.0.0.1", "port": 1},
            "data_dir": str(data_dir / f"data-{me}"),
            "peers": peers,
            **({"policy": policy} if policy is not None else {}),
        }
    )
    # The config file the worker is started with does not exist: every worker fails at once,
    # which is how these tests see that a worker was started at all.
    return Scheduler(config, open_store(config.data_dir), hub.transport(me), data_dir / "missing-flow.yaml",
                     agree_timeout=agree_timeout)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Cluster]:
    """One PostgreSQL cluster for the whole session, started only when a test asks for it."""
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """Each store backend in turn, on a database of this test's own."""
    if request.param == "sqlite":
        made = Backend("sqlite", tmp_path / "data")
    else:
        cluster: Cluster = request.getfixturevalue("postgres")
        made = Backend("postgres", tmp_path / "data", cluster.create_database(), cluster)
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def hub() -> MemoryHub:
    return MemoryHub()


@pytest.fixture
def make_scheduler(tmp_path: Path, hub: MemoryHub) -> Iterator[MakeScheduler]:
    """make_scheduler(me, peers, policy=None, agree_timeout=60) -> a listening Scheduler on the test's hub."""
    made: list[Scheduler] = []

    def make(me: int, peers: list[int], policy: dict[str, Any] | None = None,
             agree_timeout: float = AGREE_TIMEOUT, listen: bool = True) -> Scheduler:
        s = build_scheduler(tmp_path, hub, me, peers, policy, agree_timeout)
        if listen:
            s.listen(set(peers))
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


class Prober:
    """A peer without a scheduler: sends raw control messages to one party and reads its answers."""

    def __init__(self, hub: MemoryHub, me: int, target: int) -> None:
        self.transport, self.target = hub.transport(me), target
        self.sent = self.received = 0

    def send(self, message: dict[str, Any] | bytes) -> None:
        raw = message if isinstance(message, bytes) else json.dumps(message).encode()
        self.transport.send(CONTROL_JOB, f"ctl.{self.sent}", self.target, raw)
        self.sent += 1

    def answer(self, timeout: float = 10.0) -> bytes:
        raw = self.transport.recv(CONTROL_JOB, f"ctl.{self.received}", self.target, timeout=timeout)
        self.received += 1
        return raw

    def propose(self, job_id: str, spec: dict[str, Any] | str) -> dict[str, Any]:
        self.send({"type": "propose", "job_id": job_id, "spec": parse_job(spec).to_dict() if isinstance(spec, str)
                   else spec})
        reply: dict[str, Any] = json.loads(self.answer())
        return reply


def table(s: Scheduler, name: str = "t") -> None:
    s.store.put_table(name, parse_csv("id\nx\n"))


def wait_for(predicate: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def status(s: Scheduler, job_id: str) -> str:
    return s.store.get_job(job_id)["status"] if s.store.has_job(job_id) else ""


def wait_status(s: Scheduler, job_id: str, wanted: tuple[str, ...] = TERMINAL, timeout: float = 20.0) -> JobRecord:
    wait_for(lambda: status(s, job_id) in wanted, timeout, f"job {job_id} on party {s.me} to be {wanted}")
    if set(wanted) <= set(TERMINAL):
        # The flow sets the final status, then appends the audit log's `end` record: wait for both.
        wait_for(lambda: "end" in kinds(s, job_id), timeout, f"the end of job {job_id} in party {s.me}'s audit log")
    return s.store.get_job(job_id)


def kinds(s: Scheduler, job_id: str | None = None) -> list[str]:
    return [r["kind"] for r in s.audit.records(limit=10_000, job_id=job_id)]
