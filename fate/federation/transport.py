"""The transport contract: how a party hands opaque bytes to another party.

Implementations: an in-memory one for unit tests, OS pipes between the processes of
one machine (benchmarks), and the real router client (HTTP(S) to the party's own
router, which forwards to peers with mutual TLS).
One shared test suite runs against every implementation.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence

# The flows' control channel: reserved job id of every party's ordered control stream. Routers
# give it its own small quota; flows agree jobs over it.
CONTROL_JOB = "_flow_control"


class TransportError(Exception):
    """A message could not be delivered or did not arrive in time."""


class Transport(abc.ABC):
    """Point-to-point, ordered per (job_id, tag, src, dst) key, at-most-once delivery of bytes.

    A message is addressed by (job_id, tag, src, dst). A receiver asks for
    exactly one (job_id, tag, src); sending the same key twice is an error the
    receiver may report, so components must use distinct tags per round
    (e.g. "hetero_lr.d.iter3"). A party opens a job (`open_job`) before its
    peers send it the job's data, and drops it when the job ends.
    """

    party_id: int

    @abc.abstractmethod
    def send(self, job_id: str, tag: str, dst: int, payload: bytes) -> None:
        """Deliver payload to party dst; raises TransportError after retries/deadline."""

    @abc.abstractmethod
    def recv(self, job_id: str, tag: str, src: int, timeout: float = 600.0) -> bytes:
        """Block until the message (job_id, tag, src -> self) arrives; TransportError on timeout."""

    def send_parts(self, job_id: str, tag: str, dst: int, parts: Sequence[bytes]) -> None:
        """send() of the parts joined; a streaming transport sends them one after the other instead."""
        self.send(job_id, tag, dst, b"".join(parts))

    def recv_buffer(self, job_id: str, tag: str, src: int, timeout: float = 600.0) -> bytes | bytearray:
        """recv(), possibly as the buffer the message was read into (the caller owns it; saves a copy)."""
        return self.recv(job_id, tag, src, timeout)

    def open_job(self, job_id: str) -> None:  # noqa: B027 - optional hook
        """This party agreed to `job_id`: accept its messages in full (a router holds little for others)."""

    def drop_job(self, job_id: str) -> int:
        """The job ended: free what is held for it; returns how many messages were never read."""
        return 0

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; the default has nothing to release."""
