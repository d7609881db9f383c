"""The control channel flows talk on: numbered streams over the routers, one per pair of parties.

Messages travel on the reserved job id CONTROL_JOB with tags `ctl.<n>`; the counters persist in
each party's store, so a restarted flow continues its streams. One listener thread per peer polls
that peer's stream and hands each message's raw bytes to the scheduler.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from fate.federation.transport import CONTROL_JOB, Transport, TransportError
from fate.flow.store import Store

POLL_SECONDS = 10.0
LOOK_AHEAD = 4
log = logging.getLogger("fate.flow.control")


class ControlChannel:
    def __init__(self, me: int, store: Store, transport: Transport, receive: Callable[[int, bytes], None],
                 closed: threading.Event) -> None:
        self.me = me
        self.store = store
        self.transport = transport
        self.receive = receive  # called with (src, raw bytes) for every message, from a listener thread
        self.closed = closed
        self._lock = threading.Lock()
        self._send_locks: dict[int, threading.Lock] = {}
        self.listening: set[int] = set()

    def send(self, dst: int, message: dict[str, Any]) -> None:
        with self._lock:
            lock = self._send_locks.setdefault(dst, threading.Lock())
        with lock:  # counter order = delivery order per stream
            seq = self.store.next_counter(f"out.{dst}")
            self.transport.send(CONTROL_JOB, f"ctl.{seq}", dst, json.dumps(message).encode())

    def listen(self, peers: set[int], delay: float = 0.0) -> set[int]:
        """Poll each peer's stream (once per peer), starting after `delay` seconds; returns new ones."""
        started = set()
        for peer in sorted(peers - {self.me}):
            with self._lock:
                if peer in self.listening:
                    continue
                self.listening.add(peer)
            started.add(peer)
            threading.Thread(target=self._listen, args=(peer, delay), name=f"control-{peer}", daemon=True).start()
        return started

    def _listen(self, peer: int, delay: float) -> None:
        if self.closed.wait(delay):
            return
        while not self.closed.is_set():
            seq = self.store.counter(f"in.{peer}")
            try:
                raw = self.transport.recv(CONTROL_JOB, f"ctl.{seq}", peer, timeout=POLL_SECONDS)
                skipped = 0
            except Exception as err:
                if self.closed.is_set():
                    return  # shutting down: the transport may be closed under a long-poll
                if not isinstance(err, TransportError):
                    raise
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
                self.receive(peer, raw)
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
