"""The mailboxes of a router: messages delivered to its party, waiting for a local client to take them.

Which pool (fate.federation.quota) a message counts against depends on its
job: the control channel, a job the local flow opened (`open`), or any other
job id. Every held message has an expiry (its pool's ttl), and `sweep` drops
what expired, so neither unread messages nor forgotten jobs accumulate.
A full pool answers 429/507 and the sender backs off: the router's flow control.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from fate.federation.body import Payload
from fate.federation.quota import Pool, Quotas, Ticket
from fate.federation.transport import CONTROL_JOB


@dataclass
class _Message:
    payload: Payload
    ticket: Ticket
    expires: float


@dataclass
class _JobBox:
    queues: dict[tuple[str, int], deque[_Message]] = field(default_factory=dict)
    count: int = 0
    waiters: int = 0
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)


class Mailboxes:
    def __init__(self, quotas: Quotas, clock: Callable[[], float] = time.monotonic) -> None:
        self.quotas = quotas
        self.clock = clock
        self._jobs: dict[str, _JobBox] = {}
        self._open: dict[str, float] = {}  # job -> last activity

    def _box(self, job: str) -> _JobBox:
        box = self._jobs.get(job)
        if box is None:
            box = self._jobs[job] = _JobBox()
        return box

    def _touch(self, job: str) -> None:
        if job in self._open:
            self._open[job] = self.clock()

    def pool_of(self, job: str) -> Pool:
        pools = self.quotas.pools
        if job == CONTROL_JOB:
            return pools["control"]
        return pools["job"] if job in self._open else pools["unopened"]

    def admit(self, job: str, src: int, size: int) -> Ticket:
        """Reserve room for a message of `size` bytes from `src` before reading it; raises the refusal."""
        return self.quotas.reserve(self.pool_of(job), src, size)

    async def put(self, job: str, tag: str, src: int, payload: Payload, ticket: Ticket) -> None:
        """Hold an admitted message; from now on its ticket is released when it leaves the mailbox."""
        pool = self.pool_of(job)
        self.quotas.move(ticket, pool)  # the job may have been opened or closed while the body arrived
        box = self._box(job)
        async with box.changed:
            box.queues.setdefault((tag, src), deque()).append(_Message(payload, ticket, self.clock() + pool.ttl))
            box.count += 1
            self._touch(job)
            box.changed.notify_all()

    async def take(self, job: str, tag: str, src: int, timeout: float) -> Payload | None:
        """The oldest message for (job, tag, src), waiting up to timeout; None if none came."""
        box = self._box(job)
        key = (tag, src)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        box.waiters += 1
        try:
            async with box.changed:
                while not box.queues.get(key):
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        return None
                    try:
                        await asyncio.wait_for(box.changed.wait(), remaining)
                    except TimeoutError:
                        return None
                message = self._pop(box, key)
        finally:
            box.waiters -= 1
        self._touch(job)
        self.quotas.release(message.ticket)
        return message.payload

    @staticmethod
    def _pop(box: _JobBox, key: tuple[str, int]) -> _Message:
        queue = box.queues[key]
        message = queue.popleft()
        if not queue:
            del box.queues[key]
        box.count -= 1
        return message

    def open(self, job: str) -> None:
        """The local flow agreed to `job`: its messages count as open-job messages from now on."""
        if job == CONTROL_JOB:
            return
        self._open[job] = self.clock()
        pool = self.quotas.pools["job"]
        for queue in self._jobs.get(job, _JobBox()).queues.values():
            for message in queue:
                self.quotas.move(message.ticket, pool)
                message.expires = self.clock() + pool.ttl

    def close(self, job: str) -> int:
        """Forget a job: drop its undelivered messages (returns how many) and its registration."""
        self._open.pop(job, None)
        box = self._jobs.pop(job, None)
        if box is None:
            return 0
        for queue in box.queues.values():
            for message in queue:
                self._discard(message)
        return box.count

    def _discard(self, message: _Message) -> None:
        self.quotas.release(message.ticket)
        message.payload.discard()

    def sweep(self) -> int:
        """Drop expired messages, empty unwatched mailboxes and long-idle open jobs; returns messages dropped."""
        now = self.clock()
        dropped = 0
        for job, box in list(self._jobs.items()):
            for key, queue in list(box.queues.items()):
                while queue and queue[0].expires <= now:
                    self._discard(queue.popleft())
                    box.count -= 1
                    dropped += 1
                if not queue:
                    del box.queues[key]
            if not box.count and not box.waiters:
                del self._jobs[job]
        idle = [job for job, seen in self._open.items() if now - seen > self.quotas.limits.message_ttl]
        for job in idle:
            if job not in self._jobs:
                del self._open[job]
        return dropped

    def stats(self) -> dict[str, int]:
        return {
            "jobs": len(self._jobs),
            "open_jobs": len(self._open),
            "messages": sum(b.count for b in self._jobs.values()),
            "bytes": sum(m.ticket.size for b in self._jobs.values() for q in b.queues.values() for m in q),
        }
