"""Why a running job waits: each role's pending receive, recorded where the flow can show it.

A worker's roles block in `recv` on a message from a peer. `WaitRecorder` wraps the worker's
transport: while a role waits it writes {role, party, tag, since} to the job's `waits.json`,
which the flow adds (with the router's state of the link to that party) to the job's status.
A wait on a peer longer than the job's stall limit ends the role with a reason naming the
party, so the job fails on every party instead of hanging until its overall timeout.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from fate.federation.transport import Transport, TransportError

WAITS_FILE = "waits.json"
T = TypeVar("T")


class WaitRecorder(Transport):
    def __init__(self, inner: Transport, job_dir: Path, stall_seconds: float) -> None:
        self.inner = inner
        self.party_id = inner.party_id
        self.path = job_dir / WAITS_FILE
        self.stall_seconds = stall_seconds
        self._lock = threading.Lock()
        self._waits: dict[str, dict[str, Any]] = {}

    def send(self, job_id: str, tag: str, dst: int, payload: bytes) -> None:
        self.inner.send(job_id, tag, dst, payload)

    def send_parts(self, job_id: str, tag: str, dst: int, parts: Sequence[bytes]) -> None:
        self.inner.send_parts(job_id, tag, dst, parts)

    def recv(self, job_id: str, tag: str, src: int, timeout: float = 600.0) -> bytes:
        return self._waiting(tag, src, timeout, lambda limit: self.inner.recv(job_id, tag, src, limit))

    def recv_buffer(self, job_id: str, tag: str, src: int, timeout: float = 600.0) -> bytes | bytearray:
        return self._waiting(tag, src, timeout, lambda limit: self.inner.recv_buffer(job_id, tag, src, limit))

    def open_job(self, job_id: str) -> None:
        self.inner.open_job(job_id)

    def drop_job(self, job_id: str) -> int:
        return self.inner.drop_job(job_id)

    def _waiting(self, tag: str, src: int, timeout: float, receive: Callable[[float], T]) -> T:
        role = threading.current_thread().name.removeprefix("role-")
        self._record(role, {"role": role, "party": src, "tag": tag, "since": time.time()})
        # Only a peer can stall a job: a role waiting on another role of this same party waits
        # for that role, whose own wait (on a peer) is the one to report.
        limit = timeout if src == self.party_id else min(timeout, self.stall_seconds)
        try:
            return receive(limit)
        except TransportError as err:
            if limit < timeout:
                raise TransportError(
                    f"stalled: no message from party {src} for {limit:.0f}s (stall limit; waiting for {tag}): {err}"
                ) from None
            raise
        finally:
            self._record(role, None)

    def close(self) -> None:
        self.inner.close()

    def _record(self, role: str, wait: dict[str, Any] | None) -> None:
        with self._lock:
            if wait is None:
                self._waits.pop(role, None)
            else:
                self._waits[role] = wait
            text = json.dumps(sorted(self._waits.values(), key=lambda w: str(w["role"])))
            # Replaced by rename: the flow never reads half a file.
            fd, tmp = tempfile.mkstemp(prefix=".waits.", dir=self.path.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.replace(tmp, self.path)


def read_waits(job_dir: Path) -> list[dict[str, Any]]:
    """What a job's roles wait for now; [] when nothing does or the worker left no record."""
    try:
        waits = json.loads((job_dir / WAITS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return waits if isinstance(waits, list) else []


def running_waits(job_dir: Path, links: Callable[[], dict[str, Any]]) -> list[dict[str, Any]]:
    """What a running job waits for now, with the router's link states (asked only when it waits)."""
    waits = read_waits(job_dir)
    if not waits:
        return []
    try:
        states = links()
    except TransportError:
        states = {}  # the router itself is down: the waits still say whom we wait for
    return describe_waits(waits, states, time.time())


def describe_waits(waits: list[dict[str, Any]], links: dict[str, Any], now: float) -> list[dict[str, Any]]:
    """Each wait with how long it lasts and the router's state of the link to that party."""
    out = []
    for wait in waits:
        link = links.get(str(wait.get("party"))) if isinstance(links, dict) else None
        entry = {**wait, "seconds": round(max(0.0, now - float(wait.get("since", now))), 1)}
        if isinstance(link, dict):
            entry["link"] = {k: link.get(k) for k in ("state", "since", "last_error")}
        out.append(entry)
    return out


def wait_text(wait: dict[str, Any]) -> str:
    """'guest waits 42s for party 10000 (link down since 19:23:10: ConnectionRefusedError ...)'."""
    text = f"{wait.get('role')} waits {float(wait.get('seconds', 0)):.0f}s for party {wait.get('party')}"
    link = wait.get("link") or {}
    if link.get("state") and link.get("state") != "up":
        since = str(link.get("since") or "")[11:19]
        text += f" (link {link['state']}{' since ' + since if since else ''}: {link.get('last_error') or ''})"
    elif link.get("state") == "up":
        text += " (link up: the peer is still computing)"
    return text
