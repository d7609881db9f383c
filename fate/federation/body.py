"""Message bodies with bounded memory.

A body is read in chunks; past `memory_threshold` it moves to a spool file,
so a router holds at most a threshold per in-flight message in memory no
matter how large payloads are. How many bodies a router may hold is decided
before reading them (fate.federation.quota).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from aiohttp import StreamReader

from fate.federation.config import Limits
from fate.federation.errors import BadRequest, TooLarge


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
