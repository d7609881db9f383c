"""Mailboxes and quotas on their own, with a clock the test moves: pools, expiry, release, counting."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from fate.federation.body import Payload
from fate.federation.config import Limits
from fate.federation.errors import QuotaExceeded, StorageFull, TooLarge
from fate.federation.mailbox import CONTROL_JOB, Mailboxes
from fate.federation.quota import MAX_COUNTED, OTHERS, Quotas
from fate.flow import control

T = TypeVar("T")
LIMITS = Limits(peer_bytes=100, peer_messages=3, total_bytes=250, total_messages=10, message_ttl=1000,
                unopened_peer_bytes=10, unopened_peer_messages=2, unopened_total_bytes=15, unopened_ttl=60,
                control_message_bytes=8, control_peer_bytes=16, control_peer_messages=4, control_ttl=300,
                max_message_bytes=120)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def _boxes() -> tuple[Mailboxes, Clock]:
    clock = Clock()
    return Mailboxes(Quotas(LIMITS, 1), clock), clock


async def _put(boxes: Mailboxes, job: str, tag: str, src: int, size: int) -> None:
    ticket = boxes.admit(job, src, size)
    await boxes.put(job, tag, src, Payload(size, data=b"x" * size), ticket)


def test_the_router_and_the_flow_agree_on_the_control_job() -> None:
    assert CONTROL_JOB is control.CONTROL_JOB  # one definition, in the transport contract


def test_pools_follow_the_job() -> None:
    boxes, _ = _boxes()
    assert boxes.pool_of("j").name == "unopened"
    boxes.open("j")
    assert boxes.pool_of("j").name == "job"
    assert boxes.pool_of(CONTROL_JOB).name == "control"
    boxes.open(CONTROL_JOB)
    assert boxes.pool_of(CONTROL_JOB).name == "control"
    boxes.close("j")
    assert boxes.pool_of("j").name == "unopened"


def test_each_pool_refuses_past_its_limits_and_counts_refusals() -> None:
    async def go() -> None:
        boxes, _ = _boxes()
        with pytest.raises(TooLarge, match="exceeds unopened_peer_bytes=10"):
            boxes.admit("stray", 2, 11)
        await _put(boxes, "stray", "t", 2, 10)
        with pytest.raises(QuotaExceeded, match="unopened_peer_bytes=10"):
            boxes.admit("other-stray", 2, 1)
        await _put(boxes, "stray", "t", 3, 5)  # another peer has its own share ...
        with pytest.raises(StorageFull, match="unopened_total_bytes=15"):
            boxes.admit("stray", 4, 1)  # ... within the pool's total
        with pytest.raises(TooLarge, match="control_message_bytes=8"):
            boxes.admit(CONTROL_JOB, 2, 9)
        boxes.open("j")
        await _put(boxes, "j", "big", 2, 120)  # one message over peer_bytes fits an empty share
        with pytest.raises(QuotaExceeded, match="peer_bytes=100"):
            boxes.admit("j", 2, 1)
        with pytest.raises(StorageFull, match="total_bytes=250"):
            boxes.admit("j", 3, 120)
        assert dict(boxes.quotas.refused[2]) == {
            "unopened_peer_bytes": 2, "control_message_bytes": 1, "peer_bytes": 1,
        }
        assert dict(boxes.quotas.refused[4]) == {"unopened_total_bytes": 1}

    _run(go())


def test_taking_closing_and_expiry_release_what_was_held() -> None:
    async def go() -> None:
        boxes, clock = _boxes()
        boxes.open("j")
        await _put(boxes, "j", "a", 2, 50)
        await _put(boxes, "j", "b", 2, 50)
        await _put(boxes, "stray", "t", 2, 10)
        await _put(boxes, CONTROL_JOB, "ctl.0", 2, 8)
        assert boxes.quotas.total.bytes == 118
        payload = await boxes.take("j", "a", 2, 0)
        assert payload is not None and payload.size == 50
        assert boxes.quotas.total.bytes == 68
        clock.now = 61  # the unopened message expires, the others stay
        assert boxes.sweep() == 1
        assert boxes.quotas.total.bytes == 58
        clock.now = 301
        assert boxes.sweep() == 1  # the control message
        assert boxes.close("j") == 1
        assert boxes.quotas.total.bytes == 0 and boxes.quotas.total.count == 0
        assert boxes.stats() == {"jobs": 0, "open_jobs": 0, "messages": 0, "bytes": 0}

    _run(go())


def test_opening_a_job_keeps_what_arrived_before() -> None:
    async def go() -> None:
        boxes, clock = _boxes()
        await _put(boxes, "early", "t", 2, 10)
        boxes.open("early")
        assert boxes.quotas.status()["pools"]["job"] == {"bytes": 10, "count": 1}
        assert boxes.quotas.status()["pools"]["unopened"] == {"bytes": 0, "count": 0}
        clock.now = 500  # past the unopened ttl, within the open-job ttl
        assert boxes.sweep() == 0
        assert await boxes.take("early", "t", 2, 0) is not None

    _run(go())


def test_idle_open_jobs_are_forgotten() -> None:
    async def go() -> None:
        boxes, clock = _boxes()
        boxes.open("forgotten")
        boxes.open("busy")
        clock.now = 999
        await _put(boxes, "busy", "t", 2, 1)
        clock.now = 1001
        boxes.sweep()
        assert boxes.pool_of("forgotten").name == "unopened"
        assert boxes.pool_of("busy").name == "job"

    _run(go())


def test_refusal_counts_stay_bounded_whatever_senders_are_claimed() -> None:
    quotas = Quotas(LIMITS, 1)
    pool = quotas.pools["unopened"]
    for peer in range(MAX_COUNTED + 50):
        with pytest.raises(TooLarge):
            quotas.reserve(pool, peer, 11)
    assert len(quotas.refused) == MAX_COUNTED + 1
    assert quotas.refused[OTHERS]["unopened_peer_bytes"] == 50


def test_an_open_jobs_refusals_name_their_limit_and_unknown_peers_have_none() -> None:
    async def go() -> None:
        boxes, _ = _boxes()
        boxes.open("j")
        with pytest.raises(TooLarge, match="a message of 121 bytes exceeds max_message_bytes=120 at party 1's router"):
            boxes.admit("j", 2, 121)
        for tag in ("a", "b", "c"):
            await _put(boxes, "j", tag, 2, 1)
        with pytest.raises(QuotaExceeded, match=r"party 2 already has 3 messages of open jobs at party 1's router "
                                                r"\(peer_messages=3\); retry later"):
            boxes.admit("j", 2, 1)
        assert boxes.quotas.refused_by(2) == 2
        assert dict(boxes.quotas.refused[2]) == {"max_message_bytes": 1, "peer_messages": 1}
        assert boxes.quotas.refused_by(99) == 0 and boxes.quotas.refused_by(None) == 0
        assert "99" not in boxes.quotas.status()["peers"]

    _run(go())


def _fill(quotas: Quotas, pool: str, sizes: list[int], first_peer: int = 10) -> None:
    for i, size in enumerate(sizes):
        quotas.reserve(quotas.pools[pool], first_peer + i, size)


def test_a_small_pool_with_room_still_counts_against_the_routers_total() -> None:
    quotas = Quotas(LIMITS, 1)
    _fill(quotas, "job", [100, 100, 45])  # 245 of total_bytes=250 held by open jobs
    with pytest.raises(StorageFull, match=r"^party 1's router holds 245 bytes; 6 more would exceed total_bytes=250; "
                                          "retry later$"):
        quotas.reserve(quotas.pools["unopened"], 2, 6)  # the unopened pool itself holds nothing
    assert dict(quotas.refused[2]) == {"total_bytes": 1}
    quotas.reserve(quotas.pools["unopened"], 2, 5)  # exactly up to the total


def test_a_pools_own_total_and_the_routers_name_what_they_hold() -> None:
    quotas = Quotas(LIMITS, 1)
    _fill(quotas, "unopened", [10])
    with pytest.raises(StorageFull, match=r"^party 1's router holds 10 bytes of messages of jobs this party has not "
                                          r"opened; 6 more would exceed unopened_total_bytes=15; retry later$"):
        quotas.reserve(quotas.pools["unopened"], 2, 6)
    _fill(quotas, "job", [100, 100], first_peer=20)
    with pytest.raises(StorageFull, match=r"^party 1's router holds 210 bytes of messages; 41 more would exceed "
                                          r"total_bytes=250; retry later$"):
        quotas.reserve(quotas.pools["job"], 2, 41)


def test_the_router_holds_at_most_total_messages() -> None:
    quotas = Quotas(LIMITS, 1)
    _fill(quotas, "job", [1] * 10)  # total_messages=10, one per sender: the tenth still fits
    with pytest.raises(StorageFull, match=r"^party 1's router holds 10 messages \(total_messages=10\); retry later$"):
        quotas.reserve(quotas.pools["job"], 99, 1)
    assert dict(quotas.refused[99]) == {"total_messages": 1}


def test_control_and_unopened_refusals_name_their_limits() -> None:
    quotas = Quotas(LIMITS, 1)
    control, unopened = quotas.pools["control"], quotas.pools["unopened"]
    for _ in range(2):
        quotas.reserve(control, 2, 8)
    with pytest.raises(QuotaExceeded, match=r"^party 2 already has 16 bytes of control messages at party 1's router; "
                                            r"1 more would exceed control_peer_bytes=16; retry later$"):
        quotas.reserve(control, 2, 1)
    for _ in range(4):
        quotas.reserve(control, 3, 1)
    with pytest.raises(QuotaExceeded, match=r"^party 3 already has 4 control messages at party 1's router "
                                            r"\(control_peer_messages=4\); retry later$"):
        quotas.reserve(control, 3, 1)
    for _ in range(2):
        quotas.reserve(unopened, 4, 1)
    with pytest.raises(QuotaExceeded, match=r"\(unopened_peer_messages=2\)"):
        quotas.reserve(unopened, 4, 1)
    assert quotas.refused_by(2) == quotas.refused_by(3) == quotas.refused_by(4) == 1


def test_messages_in_transit_have_their_own_pool_and_never_expire() -> None:
    quotas = Quotas(LIMITS, 1)
    relay = quotas.pools["relay"]
    assert (relay.name, relay.ttl) == ("relay", float("inf"))
    ticket = quotas.reserve(relay, 5, 100)
    assert quotas.status()["pools"]["relay"] == {"bytes": 100, "count": 1}
    with pytest.raises(QuotaExceeded, match="party 5 already has 100 bytes of messages in transit at party 1's router"):
        quotas.reserve(relay, 5, 1)
    quotas.release(ticket)
    assert quotas.status()["pools"]["relay"] == {"bytes": 0, "count": 0}


def test_moving_a_released_ticket_accounts_nothing() -> None:
    """A body that arrived while its job was opened or closed is moved to the other pool; when it was
    released meanwhile (read, dropped or expired), moving it must not count it again, or the router's
    totals drift and its limits with them."""
    quotas = Quotas(LIMITS, 1)
    ticket = quotas.reserve(quotas.pools["unopened"], 2, 8)
    quotas.release(ticket)
    quotas.move(ticket, quotas.pools["job"])
    assert quotas.status()["total"] == {"bytes": 0, "count": 0}
    assert quotas.status()["pools"] == {"unopened": {"bytes": 0, "count": 0}}
    live = quotas.reserve(quotas.pools["unopened"], 2, 8)
    quotas.move(live, quotas.pools["job"])
    assert quotas.status()["pools"]["job"] == {"bytes": 8, "count": 1}
    assert quotas.status()["total"] == {"bytes": 8, "count": 1}


def test_releasing_one_of_a_peers_messages_keeps_the_rest_counted_against_it() -> None:
    # peer_messages=3: a peer holding three, one of them released, may add exactly one more. Forgetting
    # what it still holds on a release would hand it a fresh quota each time a message is read.
    quotas = Quotas(LIMITS, 1)
    job = quotas.pools["job"]
    tickets = [quotas.reserve(job, 2, 1) for _ in range(3)]
    quotas.release(tickets[0])
    tickets.append(quotas.reserve(job, 2, 1))
    with pytest.raises(QuotaExceeded, match=r"^party 2 already has 3 messages of open jobs"):
        quotas.reserve(job, 2, 1)
    for ticket in tickets:  # the first one a second time: counted once
        quotas.release(ticket)
    assert quotas.status()["peers"]["2"] == {"held": {}, "refused": {"peer_messages": 1}}
    assert quotas.status()["total"] == {"bytes": 0, "count": 0}
