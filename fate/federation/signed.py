"""SignedTransport: any Transport, with every message signed by its sender and verified by its receiver.

    transport = signed(RouterTransport(...), flow_config.tls)

Wrapping the transport (not the router, not a component) covers everything a
party sends: the flows' control channel (proposals, start, stop), and every
component's messages, Paillier public keys included. See fate.federation.signing
for what is signed and checked.

Replays: a sender numbers its messages per (job, receiver) within a random
session (one per SignedTransport), and a receiver accepts each (session, number)
of a (job, sender) once. Receivers ask for one (job, tag) at a time and the tag
is signed, so an old message cannot be passed off as a new one either; the
control channel's tags keep counting across restarts (the flow's store).

With `tls: {mode: none}` a party has no key: `signed` returns the transport
unchanged and such a federation is unauthenticated (debug labs only).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fate.federation.config import TLSConfig, as_tls_config
from fate.federation.signing import AuthenticationError, Signer, Verifier
from fate.federation.transport import Transport

log = logging.getLogger("fate.federation.signed")


@dataclass
class _Window:
    """Sequence numbers seen from one sender session: all below `floor`, plus `above`."""

    floor: int = 0
    above: set[int] = field(default_factory=set)

    def accept(self, seq: int) -> bool:
        if seq < self.floor or seq in self.above:
            return False
        self.above.add(seq)
        while self.floor in self.above:  # keeps the set small when messages are read roughly in order
            self.above.remove(self.floor)
            self.floor += 1
        return True


class SignedTransport(Transport):
    def __init__(self, inner: Transport, signer: Signer, verifier: Verifier) -> None:
        if signer.party_id != inner.party_id or verifier.me != inner.party_id:
            raise ValueError(f"the keys of party {signer.party_id} do not belong to party {inner.party_id}")
        self.inner = inner
        self.party_id = inner.party_id
        self._signer = signer
        self._verifier = verifier
        self._session = os.urandom(16)
        self._lock = threading.Lock()
        self._next: dict[tuple[str, int], int] = {}
        self._seen: dict[tuple[str, int], dict[bytes, _Window]] = {}

    def send(self, job_id: str, tag: str, dst: int, payload: bytes) -> None:
        with self._lock:
            seq = self._next.get((job_id, dst), 0)
            self._next[(job_id, dst)] = seq + 1
        prefix = self._signer.prefix(job_id, tag, dst, self._session, seq, payload)
        self.inner.send_parts(job_id, tag, dst, (prefix, payload))

    def recv(self, job_id: str, tag: str, src: int, timeout: float = 600.0) -> bytes:
        raw = self.inner.recv_buffer(job_id, tag, src, timeout)
        try:
            envelope, payload = self._verifier.open(raw, job_id, tag, src)
            with self._lock:
                windows = self._seen.setdefault((job_id, src), {})
                fresh = windows.setdefault(envelope.session, _Window()).accept(envelope.seq)
            if not fresh:
                raise AuthenticationError(
                    f"rejected {tag!r} of job {job_id} from party {src}: message {envelope.seq} of this sender "
                    "was already received (a replay)")
        except AuthenticationError as err:
            # The message is consumed and refused; whoever waits for it sees why, and so does the log.
            log.warning("%s", err)
            raise
        return payload

    def open_job(self, job_id: str) -> None:
        self.inner.open_job(job_id)

    def drop_job(self, job_id: str) -> int:
        # Send counters stay: numbers must never repeat within this session, even for a dropped job.
        with self._lock:
            for key in [k for k in self._seen if k[0] == job_id]:
                del self._seen[key]
        return self.inner.drop_job(job_id)

    def close(self) -> None:
        self.inner.close()


def signed(inner: Transport, tls: TLSConfig | Mapping[str, Any] | None) -> Transport:
    """`inner` signing with, and verifying against, the party's TLS files; unchanged when TLS is off."""
    config = as_tls_config(tls)
    if not config.enabled:
        log.warning("tls mode none: messages of party %s are neither signed nor verified", inner.party_id)
        return inner
    return SignedTransport(
        inner, Signer(inner.party_id, config.cert_file, config.key_file), Verifier(inner.party_id, config.ca_file)
    )
