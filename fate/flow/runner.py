"""Running the jobs this party agreed to: worker processes, a job's end, stop, restart recovery,
and the control channel the parties report on. The scheduler (fate.flow.scheduler) builds on it
with the agreement: which jobs run at all.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from fate.federation.transport import Transport, TransportError
from fate.flow.audit import AuditLog, short
from fate.flow.config import FlowConfig
from fate.flow.control import ControlChannel
from fate.flow.dropouts import DROPOUT_SOURCE
from fate.flow.errors import Conflict
from fate.flow.jobspec import NAME, validate_job
from fate.flow.store import TERMINAL, JobRecord, Store

log = logging.getLogger("fate.flow.scheduler")


def _exit_reason(code: int) -> str:
    if code < 0:
        return f"worker killed by signal {-code} ({signal.Signals(-code).name})"
    return f"worker exited with code {code}"


class JobRunner:
    def __init__(self, config: FlowConfig, store: Store, transport: Transport, config_path: Path) -> None:
        self.config = config
        self.me = config.party_id
        self.policy = config.policy
        self.store = store
        self.transport = transport
        self.config_path = config_path
        self.audit = AuditLog(store)
        self.closed = threading.Event()
        self.channel = ControlChannel(self.me, store, transport, self._receive, self.closed)
        self._workers: dict[str, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()

    def _handle(self, src: int, msg: dict[str, Any], size: int = 0) -> None:
        raise NotImplementedError  # the scheduler decides what a message does

    def _forget(self, job_id: str) -> None:
        """Drop what the scheduler keeps in memory about a job that ended (called under _lock)."""

    # ---- control channel ----
    def _send(self, dst: int, message: dict[str, Any]) -> None:
        if dst == self.me:
            self._handle(self.me, message)
            return
        self.channel.send(dst, message)

    def _broadcast(self, parties: tuple[int, ...], message: dict[str, Any]) -> list[str]:
        problems = []
        for party in parties:
            try:
                self._send(party, message)
            except TransportError as err:
                problems.append(f"party {party}: {err}")
        return problems

    def listen(self, peers: set[int], delay: float = 0.0) -> None:
        """Poll each peer's control stream (once per peer), starting after `delay` seconds."""
        self.channel.listen(peers, delay)

    def close(self) -> None:
        self.closed.set()
        with self._lock:
            workers = list(self._workers.values())
        for proc in workers:
            proc.kill()

    def _receive(self, src: int, raw: bytes) -> None:
        try:
            msg = json.loads(raw)
        except ValueError:
            msg = None
        if not isinstance(msg, dict):
            self._ignored(src, "", "?", f"not a JSON object ({len(raw)} bytes)")
            return
        self._handle(src, msg, len(raw))

    def _ignored(self, src: int, job_id: str, kind: Any, why: str) -> None:
        log.warning("ignored %r for job %r from party %s: %s", kind, job_id[:80], src, why,
                    extra={"job_id": job_id[:80]} if NAME.match(job_id) else {})
        self.audit.append("ignored", job_id if NAME.match(job_id) else "", f"party {src}",
                          {"from": src, "type": short(kind), "job_id": short(job_id), "why": why})

    # ---- job lifecycle ----
    def _start_worker(self, job_id: str) -> None:
        logs = self.config.data_dir / "jobs" / job_id
        logs.mkdir(parents=True, exist_ok=True)
        with open(logs / "worker.log", "ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "fate.flow.worker", "--config", str(self.config_path), "--job", job_id],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        with self._lock:
            self._workers[job_id] = proc
        self.store.log(job_id, "flow", f"worker started (pid {proc.pid})")
        threading.Thread(target=self._watch, args=(job_id, proc), daemon=True).start()

    def worker_pid(self, job_id: str) -> int | None:
        with self._lock:
            proc = self._workers.get(job_id)
        return proc.pid if proc is not None and proc.poll() is None else None

    def _watch(self, job_id: str, proc: subprocess.Popen[bytes]) -> None:
        code = proc.wait()
        with self._lock:
            self._workers.pop(job_id, None)
        if self.closed.is_set():
            return  # shutting down: the restarted flow fails this job and tells the others (recover)
        job = self.store.get_job(job_id)
        if job["status"] in TERMINAL:
            return
        parties = tuple(p for p in validate_job(job["spec"]).parties if p != self.me)
        if code == 0:
            self.store.log(job_id, "flow", "this party's part finished")
            self._broadcast(parties, {"type": "done", "job_id": job_id})
            self._check_done(job_id, self.store.mark_done(job_id, self.me))
            return
        reason = f"party {self.me}: {self._failure(job_id) or _exit_reason(code)}"
        self._broadcast(parties, {"type": "failed", "job_id": job_id, "reason": reason})
        self._end(job_id, "failed", reason)

    def _failure(self, job_id: str) -> str:
        errors = [e["message"] for e in self.store.logs(job_id) if e["source"] == "worker"]
        return errors[-1].removeprefix("error: ") if errors else ""

    def _check_done(self, job_id: str, done: list[int]) -> None:
        """Success once every party finished its part (or, in a job that allows it, dropped out)."""
        spec = validate_job(self.store.get_job(job_id)["spec"])
        if set(spec.parties) <= set(done):
            dropped = [e["message"] for e in self.store.logs(job_id) if e["source"] == DROPOUT_SOURCE]
            self._end(job_id, "success", ("finished without: " + "; ".join(dropped)) if dropped else "")

    def _end(self, job_id: str, status: str, reason: str, expect: tuple[str, ...] = ()) -> bool:
        if not self.store.has_job(job_id) or not self.store.set_status(job_id, status, reason, expect):
            return False
        with self._lock:
            self._forget(job_id)
            proc = self._workers.pop(job_id, None)
        self.store.log(job_id, "flow", f"job {status}" + (f": {reason}" if reason else ""))
        self.audit.append("end", job_id, "flow", {"status": status, "reason": short(reason, 1000)})
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        drop = getattr(self.transport, "drop_job", None)
        if drop is not None:
            # Best effort: the router frees a job's mailbox anyway when it restarts.
            with contextlib.suppress(TransportError):
                drop(job_id)
        return True

    def stop(self, job_id: str) -> JobRecord:
        job = self.store.get_job(job_id)
        if job["status"] in TERMINAL:
            raise Conflict(f"job {job_id} already ended ({job['status']})")
        parties = tuple(p for p in validate_job(job["spec"]).parties if p != self.me)
        self._end(job_id, "canceled", f"stopped by party {self.me}")
        self._broadcast(parties, {"type": "stop", "job_id": job_id})
        return self.store.get_job(job_id)

    def recover(self) -> None:
        """After a restart: live jobs (pending approvals too) cannot resume; fail them here and
        tell their other parties."""
        reason = f"party {self.me}: flow restarted while the job was running"
        for job_id in self.store.fail_unfinished(reason):
            self.audit.append("end", job_id, "flow", {"status": "failed", "reason": reason})
            parties = tuple(
                p for p in validate_job(self.store.get_job(job_id)["spec"]).parties if p != self.me
            )
            threading.Thread(
                target=self._broadcast,
                args=(parties, {"type": "failed", "job_id": job_id, "reason": reason}),
                daemon=True,
            ).start()
