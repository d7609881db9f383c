"""Message bodies with bounded memory, and the per-job mailboxes of a router.

A body is read in chunks; past `memory_threshold` it moves to a spool file,
so a router holds at most a threshold per in-flight message in memory no
matter how large payloads are. Mailboxes are bounded per job (bytes and
count): a full mailbox answers Busy and the sender backs off, which is the
router's flow control.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import StreamReader

from fate.federation.config import Limits
from fate.federation.errors import BadRequest, Busy, TooLarge


@dataclass
class Payload:
    """A message body, in memory (`data`) or spooled to `path`; `size` bytes either way."""

    size: int
    data: bytes | None = None
    path: Path | None = None

    async def chunks(self, chunk_bytes: int) -> AsyncIterator[bytes]:
        if self.data is not None:
            for start in range(0, self.size, chunk_bytes):
                yield self.data[start : start + chunk_bytes]
            return
        assert self.path is not None
        with self.path.open("rb") as fh:
            while block := fh.read(chunk_bytes):
                yield block

    def discard(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)
            self.path = None
        self.data = None


class IncomingBody:
    """A request body read chunk by chunk into a Payload, optionally passed on as it arrives.

    `stream()` hands each chunk on (cut-through forwarding) while recording it;
    `complete()` reads whatever is left and returns the whole Payload, so a failed
    forward can be retried from the record.
    """

    def __init__(self, stream: StreamReader, limits: Limits, spool_dir: Path, expected: int | None = None) -> None:
        self._stream = stream
        self._expected = expected
        self._limits = limits
        self._spool_dir = spool_dir
        self._buffer = bytearray()
        self._spool: tuple[int, Path] | None = None
        self._size = 0
        self._done = False
        self.error: BaseException | None = None  # why reading the body failed, if it did

    async def _next(self) -> bytes:
        if self._done:
            return b""
        try:
            block = await self._stream.read(self._limits.chunk_bytes)
            if not block:
                if self._expected is not None and self._size != self._expected:
                    raise BadRequest(f"message body ended after {self._size} of {self._expected} bytes")
                self._done = True
                return b""
            self._record(block)
        except BaseException as err:
            self.error = err
            raise
        return block

    def _record(self, block: bytes) -> None:
        self._size += len(block)
        if self._size > self._limits.max_message_bytes:
            raise TooLarge(f"message larger than {self._limits.max_message_bytes} bytes")
        if self._spool is not None:
            _write_all(self._spool[0], block)
            return
        self._buffer += block
        if len(self._buffer) > self._limits.memory_threshold:
            self._spool_dir.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(dir=self._spool_dir, suffix=".msg")
            self._spool = (fd, Path(name))
            _write_all(fd, self._buffer)
            self._buffer = bytearray()

    async def stream(self) -> AsyncIterator[bytes]:
        while block := await self._next():
            yield block

    async def complete(self) -> Payload:
        try:
            while await self._next():
                pass
        except BaseException:
            self.discard()
            raise
        if self._spool is None:
            return Payload(self._size, data=bytes(self._buffer))
        fd, path = self._spool
        os.close(fd)
        self._spool = None
        return Payload(self._size, path=path)

    def discard(self) -> None:
        """Remove the record of a body that will not be completed."""
        if self._spool is not None:
            os.close(self._spool[0])
            self._spool[1].unlink(missing_ok=True)
            self._spool = None
        self._buffer = bytearray()


async def read_body(stream: StreamReader, limits: Limits, spool_dir: Path, expected: int | None = None) -> Payload:
    """Read a request body in chunks, spooling to disk past the memory threshold."""
    return await IncomingBody(stream, limits, spool_dir, expected).complete()


def _write_all(fd: int, data: bytes | bytearray) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


@dataclass
class _JobBox:
    queues: dict[tuple[str, int], deque[Payload]] = field(default_factory=dict)
    bytes: int = 0
    count: int = 0
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)


class Mailboxes:
    """Messages delivered to this router's party, waiting for a local client to take them."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._jobs: dict[str, _JobBox] = {}

    def _box(self, job: str) -> _JobBox:
        box = self._jobs.get(job)
        if box is None:
            box = self._jobs[job] = _JobBox()
        return box

    def check_room(self, job: str, size: int) -> None:
        """Busy unless a message of `size` bytes fits; an empty mailbox takes any one message."""
        box = self._jobs.get(job)
        if box is None:
            return
        if box.count + 1 > self.limits.mailbox_messages_per_job or (
            box.count and box.bytes + size > self.limits.mailbox_bytes_per_job
        ):
            raise Busy(f"mailbox of job {job} is full ({box.count} messages, {box.bytes} bytes); retry later")

    async def put(self, job: str, tag: str, src: int, payload: Payload) -> None:
        self.check_room(job, payload.size)
        box = self._box(job)
        async with box.changed:
            box.queues.setdefault((tag, src), deque()).append(payload)
            box.bytes += payload.size
            box.count += 1
            box.changed.notify_all()

    async def take(self, job: str, tag: str, src: int, timeout: float) -> Payload | None:
        """The oldest message for (job, tag, src), waiting up to timeout; None if none came."""
        box = self._box(job)
        key = (tag, src)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with box.changed:
            while not box.queues.get(key):
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return None
                try:
                    await asyncio.wait_for(box.changed.wait(), remaining)
                except TimeoutError:
                    return None
            queue = box.queues[key]
            payload = queue.popleft()
            if not queue:
                del box.queues[key]
            box.bytes -= payload.size
            box.count -= 1
            return payload

    def drop(self, job: str) -> int:
        """Forget a finished job's undelivered messages; returns how many were dropped."""
        box = self._jobs.pop(job, None)
        if box is None:
            return 0
        for queue in box.queues.values():
            for payload in queue:
                payload.discard()
        return box.count

    def stats(self) -> dict[str, int]:
        return {
            "jobs": len(self._jobs),
            "messages": sum(b.count for b in self._jobs.values()),
            "bytes": sum(b.bytes for b in self._jobs.values()),
        }
