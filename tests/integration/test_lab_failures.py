"""Failures in a real local lab: a killed worker, a restarted flow."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fatectl.errors import FatectlError, RemoteError
from fatectl.flowclient import FlowClient
from fatectl.lab.local import LocalLab

from .conftest import Lab, psi_job, upload_ids

pytestmark = pytest.mark.timeout(600)
BIG = 100_000


def _until(predicate: Callable[[], Any], timeout: float = 120.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _worker_pid(client: FlowClient, job_id: str) -> int | None:
    """The job's worker there; None until the proposal has reached that party (it travels asynchronously)."""
    try:
        pid: int | None = client.job(job_id)["worker_pid"]
    except RemoteError as err:
        if "no job" not in str(err):
            raise
        return None
    return pid


def _in_psi(client: FlowClient, job_id: str) -> bool:
    return any("psi:" in e["message"] for e in client.logs(job_id))


def _big_tables(lab: Lab, tmp: Path) -> None:
    ids = [f"k{i:07d}" for i in range(BIG)]
    upload_ids(lab.client(9999), tmp, "big-g", ids)
    upload_ids(lab.client(10000), tmp, "big-h", ids[::-1])


def test_killing_a_worker_fails_the_job_everywhere(two_party_lab: Lab, tmp_path: Path) -> None:
    a, b = two_party_lab.client(9999), two_party_lab.client(10000)
    _big_tables(two_party_lab, tmp_path)
    job_id = a.submit(psi_job({9999: "big-g", 10000: "big-h"}, 9999, [10000]))["id"]
    pid = _until(lambda: _worker_pid(b, job_id), what="the host's worker")
    _until(lambda: _in_psi(b, job_id), what="the host's PSI to start")
    os.kill(pid, signal.SIGKILL)
    on_host, on_guest = b.wait(job_id, 120, 0.2), a.wait(job_id, 120, 0.2)
    expected = "party 10000: worker killed by signal 9 (SIGKILL)"
    assert (on_host["status"], on_host["reason"]) == ("failed", expected)
    assert (on_guest["status"], on_guest["reason"]) == ("failed", expected)
    assert on_guest["worker_pid"] is None  # the guest's worker was stopped, not left waiting


def test_stop_reaches_every_party(two_party_lab: Lab, tmp_path: Path) -> None:
    a, b = two_party_lab.client(9999), two_party_lab.client(10000)
    _big_tables(two_party_lab, tmp_path)
    job_id = a.submit(psi_job({9999: "big-g", 10000: "big-h"}, 9999, [10000]))["id"]
    _until(lambda: _in_psi(b, job_id), what="the host's PSI to start")
    stopped = b.stop(job_id)
    assert (stopped["status"], stopped["reason"]) == ("canceled", "stopped by party 10000")
    on_guest = a.wait(job_id, 60, 0.2)
    assert (on_guest["status"], on_guest["reason"]) == ("canceled", "stopped by party 10000")


def test_restarted_flow_keeps_jobs_and_tables_and_fails_live_jobs(two_party_lab: Lab, tmp_path: Path) -> None:
    a, b = two_party_lab.client(9999), two_party_lab.client(10000)
    upload_ids(a, tmp_path, "keep-g", [f"r{i}" for i in range(300)])
    upload_ids(b, tmp_path, "keep-h", [f"r{i}" for i in range(100, 400)])
    finished = a.wait(a.submit(psi_job({9999: "keep-g", 10000: "keep-h"}, 9999, [10000]))["id"], 120, 0.2)
    assert finished["status"] == "success"
    _big_tables(two_party_lab, tmp_path)
    live = a.submit(psi_job({9999: "big-g", 10000: "big-h"}, 9999, [10000]))["id"]
    _until(lambda: _in_psi(a, live), what="the guest's PSI to start")

    LocalLab.of(two_party_lab.fed, two_party_lab.root).restart_process("org-9999/flow")

    def answers() -> bool:
        try:
            return bool(a.jobs())
        except FatectlError:
            return False

    _until(answers, 60, "the restarted flow")
    assert a.job(finished["id"])["status"] == "success"
    assert {"keep-g", "big-g"} <= {t["name"] for t in a.tables()}
    reason = "party 9999: flow restarted while the job was running"
    assert (a.job(live)["status"], a.job(live)["reason"]) == ("failed", reason)
    on_host = b.wait(live, 60, 0.2)
    assert on_host["status"] == "failed" and on_host["reason"].startswith("party 9999:")
    # The restarted flow still federates.
    again = a.wait(a.submit(psi_job({9999: "keep-g", 10000: "keep-h"}, 9999, [10000]))["id"], 120, 0.2)
    assert again["status"] == "success", again["reason"]
