"""Prometheus metrics of a real two-party lab (routers over mTLS, flows, worker processes),
scraped and parsed with prometheus_client's own parser while a PSI -> hetero LR -> evaluation
job runs: traffic per peer grows during the job, the jobs-by-state gauge follows it, and step
durations and Paillier operations appear when it ends."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from fate.federation.client import RouterTransport
from fatectl.flowclient import FlowClient
from fatectl.lab.local import LocalLab

from .conftest import Lab

pytestmark = pytest.mark.timeout(600)
DATA = Path(__file__).resolve().parents[2] / "examples" / "data"
GUEST, HOST = 9999, 10000
JOB = """\
name: metrics-breast
roles: {guest: [9999], host: [10000], arbiter: [9999]}
tables: {9999: metrics-g, 10000: metrics-h}
pipeline:
  - {name: intersect, component: psi}
  - name: lr
    component: hetero_lr
    needs: [intersect]
    params: {max_iter: 12, batch_size: -1, learning_rate: 0.15, optimizer: rmsprop, early_stop: diff, tol: 0,
             encrypt_param: {key_length: 1024}, insecure_key: true}
  - {name: evaluate, component: evaluation, needs: [lr]}
timeout: 500
"""
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def get(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def _until(predicate: Callable[[], Any], what: str, timeout: float = 300.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def router_of(lab: Lab, party_id: int) -> RouterTransport:
    """The party's own router, with the party's own certificate: the only caller it shows metrics to."""
    secrets = LocalLab.of(lab.fed, lab.root).secrets_dir / f"org-{party_id}"
    tls = {"mode": "mutual", "ca_file": str(secrets / "ca.crt"), "cert_file": str(secrets / "tls.crt"),
           "key_file": str(secrets / "tls.key")}
    port = lab.fed.party(party_id).compose.host_ports["router"]
    return RouterTransport(party_id, "127.0.0.1", port, tls)


def _epochs(client: FlowClient, job_id: str) -> int:
    job = client.job(job_id)
    assert job["status"] == "running", f"the job ended early: {job['status']} {job['reason']}"
    # The arbiter sits on the guest: the arbiter-free protocol runs, and the guest logs each epoch.
    return sum(1 for e in client.logs(job_id) if e["source"] == "lr/guest" and e["message"].startswith("epoch "))


def test_counters_move_while_a_real_job_runs(two_party_lab: Lab) -> None:
    guest, host = two_party_lab.client(GUEST), two_party_lab.client(HOST)
    guest.upload_table("metrics-g", DATA / "breast_hetero_guest.csv", overwrite=True)
    host.upload_table("metrics-h", DATA / "breast_hetero_host.csv", overwrite=True)
    routers = {GUEST: router_of(two_party_lab, GUEST), HOST: router_of(two_party_lab, HOST)}
    try:
        before = {"flow": parse(guest.metrics()), "host_flow": parse(host.metrics()),
                  "router": parse(routers[GUEST].metrics())}
        job_id = guest.submit(JOB)["id"]
        _until(lambda: guest.job(job_id)["status"] == "running", "the job to run")

        # During the job: scraped once it runs, and again after an LR epoch that ended later.
        running = parse(guest.metrics())
        assert get(running, "fate_flow_jobs", status="running") >= 1
        first = parse(routers[GUEST].metrics())
        epochs = _epochs(guest, job_id)
        _until(lambda: _epochs(guest, job_id) > epochs, "an LR epoch after the first scrape")
        second = parse(routers[GUEST].metrics())
        host_router = parse(routers[HOST].metrics())
        assert guest.job(job_id)["status"] == "running"  # still during the job
        for direction in ("in", "out"):
            for name in ("fate_router_messages_total", "fate_router_bytes_total"):
                assert get(second, name, peer=str(HOST), direction=direction) > get(
                    first, name, peer=str(HOST), direction=direction) >= get(
                    before["router"], name, peer=str(HOST), direction=direction), (name, direction)
        assert get(host_router, "fate_router_messages_total", peer=str(GUEST), direction="in") > 0
        assert get(second, "fate_router_link_up", peer=str(HOST)) == 1
        assert get(second, "fate_router_open_jobs") >= 1

        done = guest.wait(job_id, timeout=500, poll=0.5)
        assert done["status"] == "success", done["reason"]
        after, host_after = parse(guest.metrics()), parse(host.metrics())
    finally:
        for router in routers.values():
            router.close()

    flow0 = before["flow"]
    assert get(after, "fate_flow_jobs", status="success") == get(flow0, "fate_flow_jobs", status="success") + 1
    assert get(after, "fate_flow_jobs", status="running") == get(flow0, "fate_flow_jobs", status="running")
    for component, role in (("psi", "guest"), ("hetero_lr", "guest"), ("hetero_lr", "arbiter"),
                            ("evaluation", "guest")):
        labels = {"component": component, "role": role}
        count = "fate_flow_component_duration_seconds_count"
        assert get(after, count, **labels) == get(flow0, count, **labels) + 1, labels
        assert get(after, "fate_flow_component_duration_seconds_sum", **labels) > get(
            flow0, "fate_flow_component_duration_seconds_sum", **labels)
    host_labels = {"component": "hetero_lr", "role": "host"}
    assert get(host_after, "fate_flow_component_duration_seconds_count", **host_labels) == get(
        before["host_flow"], "fate_flow_component_duration_seconds_count", **host_labels) + 1
    # Who does what in hetero LR: with the arbiter on the guest's party the arbiter-free protocol
    # runs, so each data party encrypts under its own key and decrypts what the other masked; the
    # arbiter role holds no key and makes no Paillier operation at all.
    ops = "fate_flow_paillier_operations_total"
    for side, role in ((after, "guest"), (host_after, "host")):
        base = flow0 if role == "guest" else before["host_flow"]
        for operation in ("encrypt", "decrypt"):
            assert get(side, ops, component="hetero_lr", role=role, operation=operation) > get(
                base, ops, component="hetero_lr", role=role, operation=operation), (role, operation)
    for operation in ("encrypt", "decrypt", "rerandomize"):
        assert get(after, ops, component="hetero_lr", role="arbiter", operation=operation) == get(
            flow0, ops, component="hetero_lr", role="arbiter", operation=operation)
    assert get(after, "fate_flow_audit_records_total", kind="output") > get(
        flow0, "fate_flow_audit_records_total", kind="output")
