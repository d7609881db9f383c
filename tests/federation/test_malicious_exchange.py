"""A malicious exchange cannot speak for a party: forged control messages are refused by the flow.

A real star federation: the routers of parties 9999, 10000, 10001 and of the
exchange, over mutual TLS, and the real flow services of 9999 and 10000 (their
schedulers on the signed control channel). The attacker holds the exchange's
certificate and key and posts straight to 10000's router, which accepts
whatever the exchange relays; the flow of 10000 must refuse it.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web

from fate.federation.hops import message_path
from fate.flow import control
from fate.flow.config import parse_flow_config
from fate.flow.jobspec import parse_job
from fate.flow.server import FlowService
from fate.flow.tables import parse_csv
from tests.federation.forgery import forge
from tests.federation.lab import EventLoopThread, RouterLab, client_as

A, B, C = 9999, 10000, 10001
SPEC = {"roles": {"guest": [A], "host": [B]}, "tables": {A: "t", B: "t"}, "pipeline": [{"name": "p", "component": "psi"}]}


@dataclass
class Star:
    lab: RouterLab
    flows: dict[int, FlowService]
    rejections: queue.Queue[str]

    @property
    def exchange(self) -> int:
        return self.lab.fed.exchange.id

    def inject(self, message: bytes, seq: int = 0) -> None:
        """Post a control message 'from 9999' to 10000's router, as the exchange relays one."""
        with client_as(self.lab, B, self.exchange) as attacker:
            resp = attacker.post(message_path("_flow_control", f"ctl.{seq}"), params={"src": A, "dst": B},
                                 content=message)
        assert resp.status_code == 200, resp.text  # the router cannot tell: it relays for the exchange

    def rejected(self) -> str:
        return self.rejections.get(timeout=30)


class _Rejections(logging.Handler):
    def __init__(self, into: queue.Queue[str]) -> None:
        super().__init__(logging.WARNING)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.put(record.getMessage())


@pytest.fixture(scope="module")
def star(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Star]:
    root = tmp_path_factory.mktemp("star")
    lab = RouterLab(root, (A, B, C), exchange=True)
    loop = EventLoopThread()
    rejections: queue.Queue[str] = queue.Queue()
    handler = _Rejections(rejections)
    logging.getLogger("fate.federation.signed").addHandler(handler)
    runners: list[web.AppRunner] = []
    flows = {}
    # Short control polls, so the listeners notice the end of the test within a second.
    patch = pytest.MonkeyPatch()
    patch.setattr(control, "POLL_SECONDS", 1.0)
    try:
        for pid in (A, B):
            flows[pid] = _flow(root, lab, pid)
            runners.append(loop.run(_serve(flows[pid])))
        flows[A].store.put_table("t", parse_csv("id\nx\n"))
        yield Star(lab, flows, rejections)
    finally:
        for flow in flows.values():
            flow.scheduler.close()
        for thread in threading.enumerate():
            if thread.name.startswith("control-"):
                thread.join(10)
        for runner in runners:
            loop.run(runner.cleanup())
        patch.undo()
        loop.stop()
        logging.getLogger("fate.federation.signed").removeHandler(handler)
        lab.close()


def _flow(root: Path, lab: RouterLab, pid: int) -> FlowService:
    (root / f"token-{pid}").write_text("t" * 43)
    config = parse_flow_config({
        "party_id": pid,
        "listen": {"host": "127.0.0.1", "port": 0},
        "token_file": str(root / f"token-{pid}"),
        "router": {"host": "127.0.0.1", "port": lab.configs[pid].listen.port},
        "tls": lab.tls_of(pid),
        "data_dir": str(root / f"flow-{pid}"),
        "peers": [p for p in (A, B, C) if p != pid],
        # The real 9999 may propose to 10000 without a person: what is tested here is who speaks.
        "policy": {"rules": [{"name": "peer-a", "peers": [A], "approval": "auto"}]},
    })
    return FlowService(config, root / "no-worker-config.yaml")  # a started worker would fail at once


async def _serve(service: FlowService) -> web.AppRunner:
    runner = web.AppRunner(service.app())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner


def test_a_forged_proposal_creates_no_job(star: Star) -> None:
    star.flows[B].store.put_table("t", parse_csv("id\nx\n"))  # 10000 would accept this job from 9999
    star.inject(json.dumps({"type": "propose", "job_id": "forged1", "spec": SPEC}).encode())
    assert "rejected 'ctl.0' of job _flow_control from party 9999: it is not signed" in star.rejected()
    # Signed with the exchange's own (valid, federation-issued) key, still claiming to be 9999.
    message = json.dumps({"type": "propose", "job_id": "forged2", "spec": SPEC}).encode()
    star.inject(forge(star.lab.secrets, star.exchange, A, B, "_flow_control", "ctl.0", message))
    assert f"certificate of party-{star.exchange}, which cannot speak for party 9999" in star.rejected()
    assert [j["id"] for j in star.flows[B].store.list_jobs()] == []


def test_a_forged_start_starts_nothing(star: Star) -> None:
    # A job 10000 agreed to with initiator 9999, waiting for 9999's start.
    star.flows[B].store.create_job("victim", parse_job(json.dumps(SPEC)).to_dict(), A, "waiting")
    star.inject(json.dumps({"type": "start", "job_id": "victim"}).encode())
    assert "it is not signed" in star.rejected()
    start = json.dumps({"type": "start", "job_id": "victim"}).encode()
    star.inject(forge(star.lab.secrets, star.exchange, A, B, "_flow_control", "ctl.0", start))
    assert "cannot speak for party 9999" in star.rejected()
    assert star.flows[B].store.get_job("victim")["status"] == "waiting"
    assert star.flows[B].scheduler.worker_pid("victim") is None
    star.flows[B].store.set_status("victim", "canceled", "test over")


def test_the_real_party_is_still_heard_through_the_same_exchange(star: Star) -> None:
    # 9999's signed proposal reaches 10000, which answers (signed): it lacks the table, so it refuses.
    spec = {**SPEC, "tables": {A: "t", B: "missing"}}
    job_id = star.flows[A].scheduler.submit(parse_job(json.dumps(spec)))["id"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and star.flows[A].store.get_job(job_id)["status"] == "waiting":
        time.sleep(0.1)
    job = star.flows[A].store.get_job(job_id)
    assert job["status"] == "failed"
    assert job["reason"] == "not agreed: party 10000 refused: refused by party 10000's policy"  # no table revealed
    assert star.rejections.empty()


def test_the_exchange_cannot_initiate_a_job_as_itself(star: Star) -> None:
    # Signed with the exchange's own key *as itself*: authentic, but the exchange is no party of any job.
    spec = {"roles": {"guest": [star.exchange], "host": [B]}, "tables": {star.exchange: "t", B: "t"},
            "pipeline": [{"name": "p", "component": "psi"}]}
    message = json.dumps({"type": "propose", "job_id": "by-exchange", "spec": spec}).encode()
    with client_as(star.lab, B, star.exchange) as exchange:
        resp = exchange.post(message_path("_flow_control", "ctl.0"), params={"src": star.exchange, "dst": B},
                             content=forge(star.lab.secrets, star.exchange, star.exchange, B, "_flow_control",
                                           "ctl.0", message))
    assert resp.status_code == 200
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not star.flows[B].store.has_job("by-exchange"):
        time.sleep(0.1)
    # The exchange is no party of the federation: the proposal is judged and refused (and kept, refused,
    # for the audit log), never accepted or started.
    if star.flows[B].store.has_job("by-exchange"):
        job = star.flows[B].store.get_job("by-exchange")
        assert job["status"] == "failed", job
        assert star.flows[B].scheduler.worker_pid("by-exchange") is None
