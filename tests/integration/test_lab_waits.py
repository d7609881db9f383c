"""A running job says what it waits for, and a frozen peer fails it everywhere after the stall limit."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fate.federation.memory import MemoryHub
from fate.federation.transport import TransportError
from fate.flow.waits import WaitRecorder, read_waits
from fatectl.flowclient import job_summary

from .conftest import Lab

pytestmark = pytest.mark.timeout(600)
DATA = Path(__file__).resolve().parents[2] / "examples" / "data"


def _until(predicate: Callable[[], Any], timeout: float = 120.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_the_recorder_shows_a_wait_then_names_the_stall(tmp_path: Path) -> None:
    hub = MemoryHub()
    recorder = WaitRecorder(hub.transport(1), tmp_path, stall_seconds=1.0)
    seen: list[list[dict[str, Any]]] = []
    failure: list[str] = []

    def host() -> None:
        try:
            recorder.recv("j", "lr.0.d", 2, timeout=30)
        except TransportError as err:
            failure.append(str(err))

    worker = threading.Thread(target=host, name="role-host")
    worker.start()
    seen.append(_until(lambda: read_waits(tmp_path), 10, "a recorded wait"))
    worker.join(10)
    assert seen[0][0]["role"] == "host" and seen[0][0]["party"] == 2 and seen[0][0]["tag"] == "lr.0.d"
    assert failure and failure[0].startswith("stalled: no message from party 2 for 1s")
    assert read_waits(tmp_path) == []  # the wait ended with the failure


def test_a_frozen_peer_is_shown_then_fails_the_job_on_every_party(two_party_lab: Lab, tmp_path: Path) -> None:
    guest, host = two_party_lab.client(9999), two_party_lab.client(10000)
    guest.upload_table("waits-g", DATA / "breast_hetero_guest.csv", overwrite=True)
    host.upload_table("waits-h", DATA / "breast_hetero_host.csv", overwrite=True)
    job_text = (
        "roles: {guest: [9999], host: [10000], arbiter: [9999]}\n"
        "tables: {9999: waits-g, 10000: waits-h}\n"
        "pipeline:\n"
        "  - {name: intersect, component: psi}\n"
        "  - {name: lr, component: hetero_lr, needs: [intersect], params: {max_iter: 300, tol: 0.0,"
        " early_stop: weight_diff, encrypt_param: {key_length: 1024}, insecure_key: true}}\n"
        "timeout: 600\n"
        "stall_timeout: 15\n"
    )
    job_id = guest.submit(job_text)["id"]
    _until(lambda: any(e["source"].startswith("lr/") for e in host.logs(job_id)), 120, "the host in hetero LR")
    pid = _until(lambda: host.job(job_id).get("worker_pid"), 30, "the host's worker pid")
    os.kill(pid, signal.SIGSTOP)  # frozen, not dead: only waiting can tell
    try:
        waiting = _until(lambda: [w for w in guest.job(job_id).get("waiting", []) if w["party"] == 10000
                                  and w["seconds"] >= 2], 60, "the guest to wait on the host")
        assert waiting[0]["link"]["state"] == "up"  # the link is fine: the peer is not answering
        summary = job_summary(guest.job(job_id))["waiting"]
        assert "waits" in summary and "for party 10000 (link up: the peer is still computing)" in summary
        ended = _until(lambda: (j := guest.job(job_id))["status"] != "running" and j, 120, "the stall to fail it")
        assert ended["status"] == "failed" and "stalled: no message from party 10000 for 15s" in ended["reason"]
        on_host = _until(lambda: (j := host.job(job_id))["status"] != "running" and j, 60, "the host to hear")
        assert on_host["status"] == "failed" and "stalled" in on_host["reason"]
    finally:
        with contextlib.suppress(ProcessLookupError):  # the host's flow may have stopped its worker already
            os.kill(pid, signal.SIGCONT)
