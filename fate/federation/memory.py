"""In-process transport: every party of a test lives in one Python process.

`hub = MemoryHub(); guest = hub.transport(9999); host = hub.transport(10000)`.
Same semantics as the router: FIFO per (job, tag, src, dst), unknown
destinations refused, recv times out with TransportError.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from fate.federation.transport import Transport, TransportError

WireHook = Callable[[str, str, int, int, bytes], None]
_Key = tuple[str, str, int, int]


class MemoryHub:
    """The shared 'network' of in-memory transports; on_wire sees every message sent."""

    def __init__(self, on_wire: WireHook | None = None) -> None:
        self.on_wire = on_wire
        self._parties: set[int] = set()
        self._queues: dict[_Key, deque[bytes]] = {}
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        # One condition per awaited key, all on the hub's lock: a message wakes only the thread
        # waiting for it, not every party of the process (with ten clients that was most of a round).
        self._waiting: dict[_Key, tuple[threading.Condition, list[int]]] = {}  # key -> (condition, [waiters])

    def transport(self, party_id: int) -> MemoryTransport:
        with self._cond:
            self._parties.add(party_id)
        return MemoryTransport(self, party_id)

    def _put(self, key: _Key, payload: bytes) -> None:
        job_id, tag, src, dst = key
        with self._cond:
            if dst not in self._parties:
                raise TransportError(f"no route to party {dst}")
        if self.on_wire is not None:
            self.on_wire(job_id, tag, src, dst, payload)
        with self._cond:
            self._queues.setdefault(key, deque()).append(bytes(payload))
            waiting = self._waiting.get(key)
            if waiting is not None:
                waiting[0].notify_all()

    def _take(self, key: _Key, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                queue = self._queues.get(key)
                if queue:
                    payload = queue.popleft()
                    if not queue:
                        del self._queues[key]
                    return payload
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    job_id, tag, src, dst = key
                    raise TransportError(
                        f"timed out after {timeout:g}s waiting for {tag!r} of job {job_id} from party {src}"
                    )
                waiter, count = self._waiting.setdefault(key, (threading.Condition(self._lock), [0]))
                count[0] += 1
                try:
                    waiter.wait(remaining)
                finally:
                    count[0] -= 1
                    if not count[0]:
                        del self._waiting[key]

    def pending(self) -> int:
        """Messages sent but not yet received (tests use it to check nothing leaks)."""
        with self._cond:
            return sum(len(q) for q in self._queues.values())


class MemoryTransport(Transport):
    def __init__(self, hub: MemoryHub, party_id: int) -> None:
        self.hub = hub
        self.party_id = party_id

    def send(self, job_id: str, tag: str, dst: int, payload: bytes) -> None:
        self.hub._put((job_id, tag, self.party_id, dst), payload)

    def recv(self, job_id: str, tag: str, src: int, timeout: float = 600.0) -> bytes:
        return self.hub._take((job_id, tag, src, self.party_id), timeout)
