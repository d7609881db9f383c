"""Clients dropping out of homo training in a real local lab: routers, flows and worker processes.

A client's worker is killed with SIGKILL at a chosen point of a round, found the way an operator
would: another worker is frozen (SIGSTOP) for a moment while the test reads, through the client's
flow, what the client waits for. "ask": it has sent its masked input (the other host is frozen,
so the round cannot move on); "fwd": it has trained but not sent it (the aggregator is frozen).
The arbiter (aggregator) runs on the guest's party, as in the example.
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from fatectl.errors import RemoteError
from fatectl.flowclient import FlowClient

from .conftest import Lab

pytestmark = pytest.mark.timeout(900)
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ARBITER, SURVIVOR, VICTIM = 9999, 10000, 10001


def _job(threshold: int) -> str:
    text = (EXAMPLES / "jobs" / "breast-homo-lr-3.yaml").read_text(encoding="utf-8")
    edited = (text.replace("max_iter: 30\n", "max_iter: 20\n      early_stop: none\n")
              .replace("threshold: 2, client_timeout: 120", f"threshold: {threshold}, client_timeout: 8"))
    assert "max_iter: 20" in edited and "client_timeout: 8" in edited
    return edited


def _upload(clients: dict[int, FlowClient]) -> None:
    data = EXAMPLES / "data"
    for party, name in ((ARBITER, "breast_homo_guest"), (SURVIVOR, "breast_homo_host_1"), (VICTIM, "breast_homo_host_2")):
        clients[party].upload_table(name, data / f"{name}.csv", overwrite=True)


def _signal(pid: int, sig: signal.Signals) -> bool:
    """Send sig; False when the process has already gone (a loaded machine can end it in between)."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    return True


def _kill_at(clients: dict[int, FlowClient], job_id: str, phase: str, victim: int = VICTIM) -> int:
    """SIGKILL the victim's worker while it waits for `phase` of a round >= 1; the round it was in."""
    deadline = time.monotonic() + 300
    frozen_party = SURVIVOR if phase == "ask" else ARBITER
    while time.monotonic() < deadline:
        try:
            frozen = clients[frozen_party].job(job_id).get("worker_pid")
        except RemoteError:  # the proposal has not reached that flow yet
            frozen = None
        if frozen is None:
            time.sleep(0.2)
            continue
        if not _signal(frozen, signal.SIGSTOP):  # a worker that ended since it was read: read again
            continue
        try:
            time.sleep(0.3)  # the victim reaches its next wait and records it
            try:
                view = clients[victim].job(job_id)
            except RemoteError:  # the proposal has not reached the victim's flow yet
                continue
            for wait in view.get("waiting") or []:
                found = re.search(r"\.sa(\d+)\.(\w+)\|", str(wait.get("tag")))
                if found and found.group(2) == phase and int(found.group(1)) >= 1 and view.get("worker_pid"):
                    os.kill(view["worker_pid"], signal.SIGKILL)
                    return int(found.group(1))
        finally:
            _signal(frozen, signal.SIGCONT)
        time.sleep(0.05)
    raise AssertionError(f"party {victim} never waited for {phase!r} in a round after the first")


def _metric(client: FlowClient, job_id: str, role: str, name: str) -> Any:
    return next(o["value"] for o in client.outputs(job_id) if o["component"] == "lr" and o["role"] == role
                and o["name"] == name)


@pytest.mark.parametrize("phase", ["ask", "fwd"], ids=["killed-after-its-masked-input", "killed-before-it"])
def test_a_killed_client_drops_out_and_the_others_finish(star_lab: Lab, phase: str) -> None:
    clients = {p: star_lab.client(p) for p in (ARBITER, SURVIVOR, VICTIM)}
    _upload(clients)
    job_id = clients[ARBITER].submit(_job(threshold=2))["id"]
    killed_in = _kill_at(clients, job_id, phase)
    job = clients[ARBITER].wait(job_id, timeout=600, poll=0.5)
    assert job["status"] == "success", job.get("reason")
    assert "party 10001 dropped out" in job["reason"] and "SIGKILL" in job["reason"]
    assert clients[SURVIVOR].wait(job_id, timeout=120)["status"] == "success"
    own = clients[VICTIM].wait(job_id, timeout=120)
    assert own["status"] == "failed" and "SIGKILL" in own["reason"]  # its own flow says why
    # The aggregator decided from the protocol: the victim's input is in the sum of the round it sent
    # it in (its self mask rebuilt from the others' shares), and it is left out from the next round on.
    dropped = _metric(clients[ARBITER], job_id, "arbiter", "dropped")
    out_from = killed_in + 1 if phase == "ask" else killed_in
    assert all(d == [] for d in dropped[:out_from]) and dropped[out_from] == [VICTIM], dropped
    assert _metric(clients[ARBITER], job_id, "arbiter", "rounds") == 20
    assert _metric(clients[SURVIVOR], job_id, "host", "rounds") == 20
    assert _metric(clients[SURVIVOR], job_id, "host", "train_auc") > 0.95
    for party in (ARBITER, SURVIVOR):  # every surviving party's audit log shows the dropout
        assert any(r["kind"] == "dropout" and r["job_id"] == job_id and r["actor"] == f"party {VICTIM}"
                   for r in clients[party].audit(limit=5000))


def test_too_few_survivors_fail_the_job_everywhere(star_lab: Lab) -> None:
    """Threshold 3 of 3: one client killed, and the aggregator cannot complete a round: failed everywhere."""
    clients = {p: star_lab.client(p) for p in (ARBITER, SURVIVOR, VICTIM)}
    _upload(clients)
    job_id = clients[ARBITER].submit(_job(threshold=3))["id"]
    _kill_at(clients, job_id, "fwd")
    for party, client in clients.items():
        job = client.wait(job_id, timeout=300, poll=0.5)
        assert job["status"] == "failed", (party, job)
        if party != VICTIM:
            assert "threshold is 3" in job["reason"], job["reason"]


def test_the_aggregator_dying_fails_the_job_everywhere(star_lab: Lab) -> None:
    clients = {p: star_lab.client(p) for p in (ARBITER, SURVIVOR, VICTIM)}
    _upload(clients)
    job_id = clients[ARBITER].submit(_job(threshold=2))["id"]
    deadline = time.monotonic() + 120
    while (pid := clients[ARBITER].job(job_id).get("worker_pid")) is None:
        assert time.monotonic() < deadline, "the aggregator's worker never started"
        time.sleep(0.2)
    time.sleep(1.0)
    os.kill(pid, signal.SIGKILL)
    for client in clients.values():
        job = client.wait(job_id, timeout=300, poll=0.5)
        assert job["status"] == "failed" and "party 9999" in job["reason"] and "SIGKILL" in job["reason"], job
