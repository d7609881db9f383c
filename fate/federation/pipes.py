"""Parties as processes of one machine, linked by OS pipes: no router, no shared interpreter.

`links = pipe_mesh([9999, 10000])`, fork a process per party, and in each one
`PipeTransport(party, links[party])`. The in-memory hub runs every party as a thread of one
interpreter, so they share its lock and a party busy in Python slows the others' C work; as
processes they are scheduled by the OS, as on separate hosts. The benchmarks use it to measure
a federation that way; the semantics are the router's: FIFO per (job, tag, src, dst), unknown
destinations refused, recv times out with TransportError.
"""

from __future__ import annotations

import itertools
import multiprocessing
import struct
import threading
from collections.abc import Mapping, Sequence
from multiprocessing.connection import Connection

from fate.federation.memory import MemoryHub, MemoryTransport, WireHook
from fate.federation.transport import Transport, TransportError

_HEAD = struct.Struct(">HH")  # lengths of the job id and the tag, then both, then the payload


def pipe_mesh(parties: Sequence[int], links: Sequence[tuple[int, int]] | None = None) -> dict[int, dict[int, Connection]]:
    """One duplex pipe per linked pair (every pair by default): party -> peer -> its end.

    Made before the processes are forked; each process then keeps only its own ends.
    """
    pairs = list(itertools.combinations(parties, 2)) if links is None else list(links)
    ends: dict[int, dict[int, Connection]] = {p: {} for p in parties}
    for a, b in pairs:
        ends[a][b], ends[b][a] = multiprocessing.Pipe(duplex=True)
    return ends


class PipeTransport(Transport):
    """One party's ends of its pipes; a reader thread per pipe files arrivals by (job, tag, sender).

    `on_wire(job, tag, src, dst, payload)` sees every message this party sends or receives.
    """

    def __init__(self, party_id: int, links: Mapping[int, Connection], on_wire: WireHook | None = None) -> None:
        self.party_id = party_id
        self._links = dict(links)
        self._send_locks = {peer: threading.Lock() for peer in self._links}
        self._on_wire = on_wire
        self._inbox = MemoryHub()
        self._mine = self._inbox.transport(party_id)
        self._from: dict[int, MemoryTransport] = {p: self._inbox.transport(p) for p in self._links}
        for peer, conn in self._links.items():
            threading.Thread(target=self._read, args=(peer, conn), daemon=True, name=f"pipe-{peer}").start()

    def _read(self, peer: int, conn: Connection) -> None:
        while True:
            try:
                frame = conn.recv_bytes()
            except (EOFError, OSError):
                return  # the peer's process ended: what it sent is filed, recv times out for the rest
            job_size, tag_size = _HEAD.unpack_from(frame)
            start = _HEAD.size + job_size
            job, tag = frame[_HEAD.size:start].decode(), frame[start:start + tag_size].decode()
            payload = frame[start + tag_size:]
            if self._on_wire is not None:
                self._on_wire(job, tag, peer, self.party_id, payload)
            self._from[peer].send(job, tag, self.party_id, payload)

    def send(self, job_id: str, tag: str, dst: int, payload: bytes) -> None:
        if dst == self.party_id:
            self._mine.send(job_id, tag, dst, payload)
            return
        conn = self._links.get(dst)
        if conn is None:
            raise TransportError(f"no route to party {dst}: party {self.party_id} has no pipe to it")
        job, name = job_id.encode(), tag.encode()
        if self._on_wire is not None:
            self._on_wire(job_id, tag, self.party_id, dst, payload)
        try:
            with self._send_locks[dst]:
                conn.send_bytes(b"".join((_HEAD.pack(len(job), len(name)), job, name, payload)))
        except OSError as err:
            raise TransportError(f"party {dst} cannot be reached: its pipe is closed ({err})") from None

    def recv(self, job_id: str, tag: str, src: int, timeout: float = 600.0) -> bytes:
        return self._mine.recv(job_id, tag, src, timeout)

    def close(self) -> None:
        for conn in self._links.values():
            conn.close()
