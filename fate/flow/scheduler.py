"""Agreeing, starting, watching and ending jobs across parties, over the routers.

Flows talk on a control channel: the reserved job id CONTROL_JOB, one ordered
stream per (src, dst) pair with tags `ctl.<n>` whose counters persist in each
party's store (so a restarted flow continues where it left off). The initiator
proposes a job to every participant; each validates it against its own tables
and accepts or refuses; only when all accept does anyone start a worker. A
party whose worker fails tells everyone, and everyone fails the job with that
party's reason; a stop likewise reaches every party.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

from fate.federation.transport import Transport, TransportError
from fate.flow.config import FlowConfig
from fate.flow.errors import BadRequest, Conflict
from fate.flow.jobspec import NAME, JobSpec, validate_job
from fate.flow.store import TERMINAL, JobRecord, Store

CONTROL_JOB = "_flow_control"
AGREE_TIMEOUT = 60.0
POLL_SECONDS = 10.0
LOOK_AHEAD = 4
log = logging.getLogger("fate.flow.scheduler")


def _exit_reason(code: int) -> str:
    if code < 0:
        return f"worker killed by signal {-code} ({signal.Signals(-code).name})"
    return f"worker exited with code {code}"


class Scheduler:
    def __init__(self, config: FlowConfig, store: Store, transport: Transport, config_path: Path) -> None:
        self.config = config
        self.me = config.party_id
        self.store = store
        self.transport = transport
        self.config_path = config_path
        self.peers: set[int] = set(config.peers)
        self._workers: dict[str, subprocess.Popen[bytes]] = {}
        self._replies: dict[str, queue.Queue[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._send_locks: dict[int, threading.Lock] = {}
        self._listening: set[int] = set()
        self.closed = threading.Event()

    # ---- control channel ----
    def _send(self, dst: int, message: dict[str, Any]) -> None:
        if dst == self.me:
            self._handle(self.me, message)
            return
        with self._send_locks.setdefault(dst, threading.Lock()):  # counter order = delivery order per stream
            seq = self.store.next_counter(f"out.{dst}")
            self.transport.send(CONTROL_JOB, f"ctl.{seq}", dst, json.dumps(message).encode())

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
        for peer in sorted(peers - {self.me}):
            with self._lock:
                if peer in self._listening:
                    continue
                self._listening.add(peer)
                self.peers.add(peer)
            threading.Thread(target=self._listen, args=(peer, delay), name=f"control-{peer}", daemon=True).start()

    def _listen(self, peer: int, delay: float) -> None:
        if self.closed.wait(delay):
            return
        while not self.closed.is_set():
            seq = self.store.counter(f"in.{peer}")
            try:
                raw = self.transport.recv(CONTROL_JOB, f"ctl.{seq}", peer, timeout=POLL_SECONDS)
                skipped = 0
            except TransportError:
                found = self._look_ahead(peer, seq)
                if found is None:
                    if self.closed.wait(0.2):
                        return
                    continue
                skipped, raw = found
                log.warning("control messages %s..%s from party %s were lost", seq, seq + skipped - 1, peer)
            for _ in range(skipped + 1):
                self.store.next_counter(f"in.{peer}")
            try:
                self._handle(peer, json.loads(raw))
            except Exception:  # one bad message must not stop the channel
                log.exception("control message %s from party %s", seq + skipped, peer)

    def _look_ahead(self, peer: int, seq: int) -> tuple[int, bytes] | None:
        """A flow that died mid-send leaves a numbered gap; find the next message past it."""
        for skip in range(1, LOOK_AHEAD + 1):
            try:
                return skip, self.transport.recv(CONTROL_JOB, f"ctl.{seq + skip}", peer, timeout=0.01)
            except TransportError:
                continue
        return None

    def close(self) -> None:
        self.closed.set()
        with self._lock:
            workers = list(self._workers.values())
        for proc in workers:
            proc.kill()

    # ---- message handling ----
    def _handle(self, src: int, msg: dict[str, Any]) -> None:
        kind, job_id = msg.get("type"), str(msg.get("job_id", ""))
        if kind == "propose":
            self._on_propose(src, job_id, msg)
            return
        if kind in ("accept", "refuse"):
            box = self._replies.get(job_id)
            if box is not None:
                box.put({**msg, "party": src})
            return
        if not self._may_steer(src, job_id, kind):
            log.warning("ignored %r for job %s from party %s, which may not send it", kind, job_id, src)
            return
        if kind == "start":
            if self.store.set_status(job_id, "running"):
                self._start_worker(job_id)
        elif kind == "failed":
            self._end(job_id, "failed", str(msg.get("reason", f"party {src} failed")))
        elif kind == "stop":
            self._end(job_id, "canceled", f"stopped by party {src}")
        elif kind == "done":
            self._check_done(job_id, self.store.mark_done(job_id, src))

    def _may_steer(self, src: int, job_id: str, kind: Any) -> bool:
        """Only a job's participants may end it, and only its initiator may start it."""
        if not self.store.has_job(job_id):
            return False
        job = self.store.get_job(job_id)
        if kind == "start":
            return src == job["initiator"]
        return src in validate_job(job["spec"]).parties

    def _check_local(self, spec: JobSpec) -> list[str]:
        table = spec.tables.get(self.me)
        if table is not None and not self.store.has_table(table):
            return [f"party {self.me} has no table {table!r}"]
        return []

    def _on_propose(self, src: int, job_id: str, msg: dict[str, Any]) -> None:
        reply: dict[str, Any] = {"type": "accept", "job_id": job_id}
        try:
            if not NAME.match(job_id):  # the id names a directory under data_dir/jobs: no '../'
                raise BadRequest(f"job id {job_id!r} is not a plain name")
            spec = validate_job(msg.get("spec"))
            problems = self._check_local(spec)
            if self.me not in spec.parties:
                problems.append(f"party {self.me} has no role in the job")
            if self.store.has_job(job_id):
                problems.append(f"party {self.me} already has a job {job_id}")
            if problems:
                raise BadRequest("; ".join(problems))
            if src != self.me:
                self.transport.open_job(job_id)  # our router now takes the job's data from peers
                self.store.create_job(job_id, spec.to_dict(), src, "waiting")
                self.store.log(job_id, "flow", f"proposed by party {src}; accepted")
                self.listen(set(spec.parties))
        except (BadRequest, TransportError) as err:
            reply = {"type": "refuse", "job_id": job_id, "reason": str(err)}
        self._send(src, reply)

    # ---- job lifecycle ----
    def submit(self, spec: JobSpec) -> JobRecord:
        if self.me not in spec.parties:
            raise BadRequest(
                f"this party ({self.me}) has no role in the job; submit it to a participant's flow"
            )
        problems = self._check_local(spec)
        if problems:
            raise BadRequest("job refused by this party", problems)
        job_id = f"{uuid.uuid4().hex[:12]}"
        self.transport.open_job(job_id)  # our router now takes the job's data from peers
        self.store.create_job(job_id, spec.to_dict(), self.me, "waiting")
        self.store.log(job_id, "flow", f"proposing to parties {list(spec.parties)}")
        self.listen(set(spec.parties))
        others = tuple(p for p in spec.parties if p != self.me)
        box: queue.Queue[dict[str, Any]] = queue.Queue()
        self._replies[job_id] = box
        try:
            refusals = self._broadcast(others, {"type": "propose", "job_id": job_id, "spec": spec.to_dict()})
            answered: set[int] = set()
            while len(answered) + len(refusals) < len(others) and not refusals:
                try:
                    reply = box.get(timeout=AGREE_TIMEOUT)
                except queue.Empty:
                    silent = sorted(set(others) - answered)
                    refusals.append(f"no answer from parties {silent} within {AGREE_TIMEOUT:g}s")
                    break
                answered.add(reply["party"])
                if reply["type"] == "refuse":
                    refusals.append(f"party {reply['party']} refused: {reply.get('reason', '')}")
        finally:
            self._replies.pop(job_id, None)
        if refusals:
            reason = "; ".join(refusals)
            self._broadcast(others, {"type": "failed", "job_id": job_id, "reason": f"not agreed: {reason}"})
            self._end(job_id, "failed", f"not agreed: {reason}")
        else:
            self.store.log(job_id, "flow", "every party accepted; starting")
            self._broadcast(tuple(spec.parties), {"type": "start", "job_id": job_id})
        return self.store.get_job(job_id)

    def _start_worker(self, job_id: str) -> None:
        logs = self.config.data_dir / "jobs" / job_id
        logs.mkdir(parents=True, exist_ok=True)
        with open(logs / "worker.log", "ab") as out:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "fate.flow.worker",
                    "--config",
                    str(self.config_path),
                    "--job",
                    job_id,
                ],
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
        spec = validate_job(self.store.get_job(job_id)["spec"])
        if set(spec.parties) <= set(done):
            self._end(job_id, "success", "")

    def _end(self, job_id: str, status: str, reason: str) -> None:
        if not self.store.has_job(job_id) or not self.store.set_status(job_id, status, reason):
            return
        self.store.log(job_id, "flow", f"job {status}" + (f": {reason}" if reason else ""))
        with self._lock:
            proc = self._workers.pop(job_id, None)
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        drop = getattr(self.transport, "drop_job", None)
        if drop is not None:
            # Best effort: the router frees a job's mailbox anyway when it restarts.
            with contextlib.suppress(TransportError):
                drop(job_id)

    def stop(self, job_id: str) -> JobRecord:
        job = self.store.get_job(job_id)
        if job["status"] in TERMINAL:
            raise Conflict(f"job {job_id} already ended ({job['status']})")
        parties = tuple(p for p in validate_job(job["spec"]).parties if p != self.me)
        self._end(job_id, "canceled", f"stopped by party {self.me}")
        self._broadcast(parties, {"type": "stop", "job_id": job_id})
        return self.store.get_job(job_id)

    def recover(self) -> None:
        """After a restart: live jobs cannot resume; fail them here and tell their other parties."""
        reason = f"party {self.me}: flow restarted while the job was running"
        for job_id in self.store.fail_unfinished(reason):
            parties = tuple(
                p for p in validate_job(self.store.get_job(job_id)["spec"]).parties if p != self.me
            )
            threading.Thread(
                target=self._broadcast,
                args=(parties, {"type": "failed", "job_id": job_id, "reason": reason}),
                daemon=True,
            ).start()
