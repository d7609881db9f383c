"""What a router holds, and for whom: bytes and messages per sending party, per pool and in total.

Peers choose job ids, so nothing here is per job. Every message a router
takes in is admitted into a pool by reserving its *declared* size before a
byte of it is read; the reservation lives as long as the router holds the
body (in a mailbox, or while relaying it) and is released when the message is
read, dropped, expires or fails. A refusal names the limit (its key under
`limits:` in router.yaml) and is counted per peer for the router's status.

Pools: `job` (jobs the local flow opened), `unopened` (any other job id: small,
short-lived), `control` (the flows' control channel: small messages) and
`relay` (bodies passing through toward another router).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from fate.federation.config import Limits
from fate.federation.errors import QuotaExceeded, RouterError, StorageFull, TooLarge

MAX_COUNTED = 1024
OTHERS = -1  # refusals of peers beyond MAX_COUNTED


@dataclass(frozen=True)
class Pool:
    name: str
    what: str  # how a refusal describes the pool's messages
    max_message: tuple[str, int]  # (limit key, bytes)
    peer_bytes: tuple[str, int]
    peer_messages: tuple[str, int]
    total_bytes: tuple[str, int]
    ttl: float


def pools(limits: Limits) -> dict[str, Pool]:
    total = ("total_bytes", limits.total_bytes)
    big = ("max_message_bytes", limits.max_message_bytes)
    peer = ("peer_bytes", limits.peer_bytes), ("peer_messages", limits.peer_messages)
    return {
        "job": Pool("job", "messages of open jobs", big, *peer, total, limits.message_ttl),
        # Bodies in transit leave when the next hop takes them (or its deadline passes): no expiry.
        "relay": Pool("relay", "messages in transit", big, *peer, total, float("inf")),
        "unopened": Pool(
            "unopened",
            "messages of jobs this party has not opened",
            min(big, ("unopened_peer_bytes", limits.unopened_peer_bytes), key=lambda limit: limit[1]),
            ("unopened_peer_bytes", limits.unopened_peer_bytes),
            ("unopened_peer_messages", limits.unopened_peer_messages),
            ("unopened_total_bytes", limits.unopened_total_bytes),
            limits.unopened_ttl,
        ),
        "control": Pool(
            "control",
            "control messages",
            ("control_message_bytes", limits.control_message_bytes),
            ("control_peer_bytes", limits.control_peer_bytes),
            ("control_peer_messages", limits.control_peer_messages),
            total,
            limits.control_ttl,
        ),
    }


@dataclass
class Usage:
    bytes: int = 0
    count: int = 0

    def add(self, size: int, sign: int = 1) -> None:
        self.bytes += sign * size
        self.count += sign


@dataclass
class Ticket:
    """A reservation of `size` bytes in `pool` on behalf of party `peer`; released once."""

    pool: Pool
    peer: int
    size: int
    live: bool = True


class Quotas:
    def __init__(self, limits: Limits, party_id: int) -> None:
        self.limits = limits
        self.party_id = party_id
        self.pools = pools(limits)
        self._peer: dict[tuple[str, int], Usage] = defaultdict(Usage)
        self._pool: dict[str, Usage] = defaultdict(Usage)
        self.total = Usage()
        self.refused: dict[int, Counter[str]] = defaultdict(Counter)

    def reserve(self, pool: Pool, peer: int, size: int, per_peer: bool = True) -> Ticket:
        """Admit `size` bytes from `peer` into `pool`, or raise the refusal (and count it)."""
        try:
            self._check(pool, peer, size, per_peer)
        except _Refusal as refusal:
            # A relay can claim any number of senders: past MAX_COUNTED, refusals are counted together.
            counted = peer if peer in self.refused or len(self.refused) < MAX_COUNTED else OTHERS
            self.refused[counted][refusal.limit] += 1
            raise refusal.error from None
        ticket = Ticket(pool, peer, size)
        self._account(ticket, 1)
        return ticket

    def release(self, ticket: Ticket) -> None:
        if ticket.live:
            ticket.live = False
            self._account(ticket, -1)

    def move(self, ticket: Ticket, pool: Pool) -> None:
        """Account a held message to another pool (a job was opened after it arrived); never refused."""
        if ticket.live and ticket.pool is not pool:
            self._account(ticket, -1)
            ticket.pool = pool
            self._account(ticket, 1)

    def _account(self, ticket: Ticket, sign: int) -> None:
        self._peer[(ticket.pool.name, ticket.peer)].add(ticket.size, sign)
        self._pool[ticket.pool.name].add(ticket.size, sign)
        self.total.add(ticket.size, sign)
        if sign < 0 and not self._peer[(ticket.pool.name, ticket.peer)].count:
            del self._peer[(ticket.pool.name, ticket.peer)]

    def _check(self, pool: Pool, peer: int, size: int, per_peer: bool) -> None:
        where = f"party {self.party_id}'s router"
        key, most = pool.max_message
        if size > most:
            raise _Refusal(key, TooLarge(f"a message of {size} bytes exceeds {key}={most} at {where}"))
        if per_peer:
            used = self._peer.get((pool.name, peer), Usage())
            key, most = pool.peer_messages
            if used.count + 1 > most:
                raise _Refusal(key, QuotaExceeded(
                    f"party {peer} already has {used.count} {pool.what} at {where} ({key}={most}); retry later"))
            key, most = pool.peer_bytes
            # One message larger than the per-peer share is allowed when the peer holds nothing else.
            if used.count and used.bytes + size > most:
                raise _Refusal(key, QuotaExceeded(
                    f"party {peer} already has {used.bytes} bytes of {pool.what} at {where}; {size} more "
                    f"would exceed {key}={most}; retry later"))
        key, most = pool.total_bytes
        held = self._pool[pool.name].bytes if key != "total_bytes" else self.total.bytes
        if held + size > most:
            raise _Refusal(key, StorageFull(
                f"{where} holds {held} bytes of {pool.what if key != 'total_bytes' else 'messages'}; "
                f"{size} more would exceed {key}={most}; retry later"))
        if key != "total_bytes" and self.total.bytes + size > self.limits.total_bytes:
            raise _Refusal("total_bytes", StorageFull(
                f"{where} holds {self.total.bytes} bytes; {size} more would exceed "
                f"total_bytes={self.limits.total_bytes}; retry later"))
        if self.total.count + 1 > self.limits.total_messages:
            raise _Refusal("total_messages", StorageFull(
                f"{where} holds {self.total.count} messages (total_messages={self.limits.total_messages}); "
                "retry later"))

    def refused_by(self, peer: int | None) -> int:
        return sum(self.refused[peer].values()) if peer in self.refused else 0

    def status(self) -> dict[str, Any]:
        peers: dict[str, dict[str, Any]] = {}
        for (pool, peer), used in sorted(self._peer.items()):
            peers.setdefault(str(peer), {"held": {}, "refused": {}})["held"][pool] = vars(used).copy()
        for peer, counts in sorted(self.refused.items()):
            peers.setdefault(str(peer), {"held": {}, "refused": {}})["refused"] = dict(counts)
        return {
            "total": vars(self.total).copy(),
            "pools": {name: vars(used).copy() for name, used in sorted(self._pool.items())},
            "peers": peers,
        }


class _Refusal(Exception):
    def __init__(self, limit: str, error: RouterError) -> None:
        super().__init__(error.message)
        self.limit = limit
        self.error = error
