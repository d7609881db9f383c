"""The flow's /metrics: jobs by state, step durations and Paillier operations the workers stored,
audit records, pending approvals; read incrementally, never counted twice, behind the token."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from fate.crypto import counters, paillier
from fate.crypto.counters import Operations
from fate.federation.memory import MemoryHub
from fate.flow import stepruns
from fate.flow.audit import AuditLog
from fate.flow.config import parse_flow_config
from fate.flow.jobspec import parse_job
from fate.flow.metrics import exposition, flow_registry
from fate.flow.server import FlowService
from fate.flow.store import open_store
from fate.ml.component import ComponentContext, ComponentResult

TOKEN, READER = "t" * 43, "r" * 43


def scrape(registry: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(exposition(registry).decode())
        for s in family.samples
    }


def key(name: str, **labels: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return name, tuple(sorted(labels.items()))


def test_jobs_steps_paillier_and_audit_are_read_once_and_add_up(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    registry = flow_registry(store)
    for job, status in (("a", "running"), ("b", "pending"), ("c", "success"), ("d", "success")):
        store.create_job(job, {"name": job}, 1, status)
    stepruns.record(store, "c", "lr", "hetero_lr", "guest", "success", 12.5, Operations(300, 0, 120))
    stepruns.record(store, "c", "lr", "hetero_lr", "arbiter", "success", 12.0, Operations(0, 40))
    stepruns.record(store, "d", "lr", "hetero_lr", "guest", "failed", 3.0, Operations(10, 0))
    AuditLog(store).append("proposal", "b", "party 2", {})
    AuditLog(store).append("decision", "b", "policy", {})
    first = scrape(registry)
    assert first[key("fate_flow_jobs", status="success")] == 2
    assert first[key("fate_flow_jobs", status="canceled")] == 0  # every state always present
    assert first[key("fate_flow_pending_approvals")] == 1
    assert first[key("fate_flow_oldest_pending_approval_seconds")] >= 0
    guest = {"component": "hetero_lr", "role": "guest"}
    # Only the successful guest step is a duration; the failed one is a run, with its operations.
    assert first[key("fate_flow_component_duration_seconds_count", **guest)] == 1
    assert first[key("fate_flow_component_duration_seconds_sum", **guest)] == 12.5
    assert first[key("fate_flow_component_duration_seconds_bucket", **guest, le="10.0")] == 0
    assert first[key("fate_flow_component_duration_seconds_bucket", **guest, le="30.0")] == 1
    assert first[key("fate_flow_component_runs_total", **guest, status="failed")] == 1
    assert first[key("fate_flow_paillier_operations_total", **guest, operation="encrypt")] == 310
    assert first[key("fate_flow_paillier_operations_total", **guest, operation="rerandomize")] == 120
    assert first[key("fate_flow_paillier_operations_total", component="hetero_lr", role="arbiter",
                     operation="decrypt")] == 40
    assert first[key("fate_flow_audit_records_total", kind="proposal")] == 1
    assert first[key("fate_flow_audit_records_total", kind="output")] == 0

    again = scrape(registry)  # nothing new: nothing counted twice
    assert again[key("fate_flow_paillier_operations_total", **guest, operation="encrypt")] == 310
    stepruns.record(store, "a", "lr", "hetero_lr", "guest", "success", 0.2, Operations(5, 0))
    AuditLog(store).append("approval", "b", "operator", {})
    store.set_status("b", "waiting")
    later = scrape(registry)
    assert later[key("fate_flow_component_duration_seconds_count", **guest)] == 2
    assert later[key("fate_flow_component_duration_seconds_bucket", **guest, le="0.5")] == 1
    assert later[key("fate_flow_paillier_operations_total", **guest, operation="encrypt")] == 315
    assert later[key("fate_flow_audit_records_total", kind="approval")] == 1
    assert later[key("fate_flow_pending_approvals")] == 0
    # A restarted flow reads the history once and arrives at the same totals.
    assert scrape(flow_registry(store))[key("fate_flow_paillier_operations_total", **guest,
                                            operation="encrypt")] == 315


def test_metrics_need_the_token_or_the_read_only_credential(tmp_path: Path) -> None:
    (tmp_path / "token").write_text(TOKEN)
    (tmp_path / "reader").write_text(READER)
    service = FlowService(parse_flow_config({
        "party_id": 9999, "listen": {"host": "127.0.0.1", "port": 0}, "token_file": str(tmp_path / "token"),
        "reader_token_file": str(tmp_path / "reader"), "router": {"host": "127.0.0.1", "port": 1},
        "data_dir": str(tmp_path / "data"),
    }), tmp_path / "flow.yaml")

    async def go() -> None:
        async with TestClient(TestServer(service.app())) as client:
            assert (await client.get("/metrics")).status == 401
            for token in (TOKEN, READER):
                reply = await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
                assert reply.status == 200 and "fate_flow_jobs" in await reply.text()

    asyncio.run(go())


def test_counts_are_per_thread_and_per_array_call() -> None:
    public, private = paillier.generate_keypair(512, insecure=True)
    seen: dict[str, Operations] = {}

    def role(name: str, n: int) -> None:
        before = counters.this_thread()
        encrypted = public.encrypt(np.arange(n, dtype=float))
        private.decrypt(encrypted[:2].rerandomize())
        seen[name] = counters.since(before)

    threads = [threading.Thread(target=role, args=(name, n)) for name, n in (("guest", 5), ("arbiter", 7))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == {"guest": Operations(5, 2, 2), "arbiter": Operations(7, 2, 2)}


def test_the_worker_stores_each_step_with_its_duration_and_operations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fate.flow import worker as worker_module

    public, private = paillier.generate_keypair(512, insecure=True)

    def component(ctx: ComponentContext) -> ComponentResult:
        if ctx.component == "boom":
            raise RuntimeError("boom")
        private.decrypt(public.encrypt(np.ones(4)))
        return ComponentResult()

    monkeypatch.setattr(worker_module.registry, "get", lambda name: component)
    config = parse_flow_config({"party_id": 1, "listen": {"host": "127.0.0.1", "port": 0}, "token_file": "t",
                                "router": {"host": "127.0.0.1", "port": 1}, "data_dir": str(tmp_path)})
    store = open_store(tmp_path)
    spec = parse_job("roles: {guest: [1], host: [2]}\ntables: {1: t, 2: t}\n"
                     "pipeline: [{name: one, component: psi}, {name: boom, component: psi}]\n")
    store.create_job("j", spec.to_dict(), 1, "running")
    errors: list[str] = []
    worker_module.Worker(config, "j")._run_role("guest", MemoryHub().transport(1), errors)
    runs = stepruns.of_job(store, "j")
    assert [(r["step"], r["role"], r["status"], r["encryptions"], r["decryptions"]) for r in runs] == [
        ("one", "guest", "success", 4, 4), ("boom", "guest", "failed", 0, 0)]
    assert all(r["seconds"] >= 0 for r in runs) and errors and "boom" in errors[0]
