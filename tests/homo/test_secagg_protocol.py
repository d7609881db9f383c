"""SecAgg rounds over an in-memory hub: dropouts at every phase, a malicious aggregator, the wire.

Clients run the phases one by one in threads so a test can stop ("kill") one at any point;
the aggregator is `serve_round`, as the arbiter runs it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pytest

from fate.crypto import secagg as sa
from fate.federation import codec
from fate.federation.federation import Federation
from fate.federation.memory import MemoryHub
from fate.ml.homo.secagg import (
    Roster,
    SecAggAbort,
    SecAggClient,
    SecAggRefused,
    Setting,
    neighborhoods,
    refusal,
)
from fate.ml.homo.secagg_server import Collected, SecAggServer
from tests.homo.conftest import ARBITER, GUEST, federations
from tests.ml.federated import run_threads

SIZE = 500
PHASES = ("start", "advertise", "share_keys", "masked_input")  # a client stopped after this point


def _inputs(n: int) -> dict[int, np.ndarray]:
    parties = [GUEST, *range(10000, 10000 + n - 1)]
    return {p: np.random.default_rng(p).normal(0, 50, SIZE) for p in parties}


def _setting(n: int, threshold: int, timeout: float = 1.5, rekey: bool = False, neighbors: int | None = None) -> Setting:
    return Setting(threshold, sa.FixedPoint(16, 64, 1e6, n), timeout, "job/homo", rekey, neighbors)


def _client(fed: Federation, setting: Setting, x: np.ndarray, rounds: int, stop: tuple[int, str] | None,
            late: float) -> Callable[[], Any]:
    def run() -> Any:
        c = SecAggClient(fed, "t", setting, wait=30)
        for r in range(rounds):
            halt = stop[1] if stop is not None and stop[0] == r else None
            if halt == "start":
                return "dead"
            c.advertise(r)
            if halt == "advertise" or not c.share_keys(r) or halt == "share_keys":
                return "dead"
            time.sleep(late)  # a slow client: its masked input arrives after the aggregator gave up on it
            if not c.masked_input(r, x) or halt == "masked_input" or not c.unmask(r):
                return "dead"
        return "done"

    return run


def run_rounds(n: int, threshold: int, rounds: int = 1, stops: Mapping[int, tuple[int, str]] | None = None,
               late: Mapping[int, float] | None = None, fed_class: type[Federation] = Federation,
               on_wire: Any = None, rekey: bool = False,
               neighbors: int | None = None) -> tuple[list[Collected], dict[int, np.ndarray], MemoryHub]:
    hub, inputs, setting = MemoryHub(), _inputs(n), _setting(n, threshold, rekey=rekey, neighbors=neighbors)
    feds = federations(hub, n - 1, on_wire=on_wire)
    arbiter = feds[ARBITER]
    if fed_class is not Federation:
        arbiter = fed_class(arbiter.transport, "job", arbiter.roles, "arbiter", on_wire)
    roster = Roster.of(arbiter)
    jobs: dict[str, Callable[[], Any]] = {
        str(p): _client(feds[p], setting, inputs[p], rounds, (stops or {}).get(p), (late or {}).get(p, 0.0))
        for p in roster.order
    }

    def aggregator() -> list[Collected]:
        server, active, done = SecAggServer(arbiter, "t", setting), roster.order, []
        for r in range(rounds):
            done.append(server.round(r, active, SIZE))
            active = done[-1].included
        return done

    jobs["arbiter"] = aggregator
    out = run_threads(jobs, timeout=60)
    return out["arbiter"], inputs, hub


def run_round(n: int, threshold: int, stops: Mapping[int, str] | None = None, late: Mapping[int, float] | None = None,
              fed_class: type[Federation] = Federation, on_wire: Any = None) -> tuple[Collected, dict[int, np.ndarray], MemoryHub]:
    done, inputs, hub = run_rounds(n, threshold, 1, {p: (0, s) for p, s in (stops or {}).items()}, late, fed_class,
                                   on_wire)
    return done[0], inputs, hub


def _exact_sum(inputs: Mapping[int, np.ndarray], parties: tuple[int, ...]) -> np.ndarray:
    return np.sum([np.rint(inputs[p] * 2**16) for p in parties], axis=0) / 2**16


def test_a_full_round_yields_the_exact_sum() -> None:
    done, inputs, hub = run_round(5, 3)
    assert done.included == tuple(inputs) and done.dropped == ()
    assert np.array_equal(done.total, _exact_sum(inputs, done.included))
    assert hub.pending() == 0


@pytest.mark.parametrize("phase", PHASES)
def test_a_client_dropping_at_each_phase(phase: str) -> None:
    """Stopped before its masked input: the sum is the others'. After it: the sum still holds its input."""
    victim = 10001
    done, inputs, _ = run_round(5, 3, stops={victim: phase})
    expected = tuple(p for p in inputs if p != victim) if phase != "masked_input" else tuple(inputs)
    assert done.included == expected
    assert np.array_equal(done.total, _exact_sum(inputs, expected))


def test_two_dropouts_down_to_the_threshold_and_one_more_aborts() -> None:
    done, inputs, _ = run_round(5, 3, stops={10000: "share_keys", 10002: "advertise"})
    assert done.included == (GUEST, 10001, 10003)
    assert np.array_equal(done.total, _exact_sum(inputs, done.included))
    with pytest.raises(AssertionError, match=r"only 2 clients in phase masked input; the threshold is 3"):
        run_round(5, 3, stops={10000: "share_keys", 10002: "advertise", 10003: "share_keys"})


class AskingForBoth(Federation):
    """An aggregator that names one survivor as dropped too, to get both its self mask and its mask key."""

    def remote(self, obj: Any, tag: str, role: str, party_ids: Any = None) -> None:
        if tag.endswith(".ask"):
            obj = {**obj, "dropped": [*obj["dropped"], obj["survivors"][0]]}
        super().remote(obj, tag, role, party_ids)


def test_honest_clients_refuse_to_reveal_both_shares_of_one_client() -> None:
    with pytest.raises(AssertionError) as failed:
        run_round(4, 3, fed_class=AskingForBoth)
    cause = failed.value.__cause__
    assert isinstance(cause, SecAggRefused | SecAggAbort)
    assert "both the self-mask and the mask-key shares" in str(cause)


def _wire(n: int, threshold: int, **kw: Any) -> tuple[Collected, dict[int, np.ndarray], list[tuple[str, int, Any]]]:
    seen: list[tuple[str, int, Any]] = []

    def record(job: str, tag: str, src: int, dst: int, payload: bytes) -> None:
        if dst == ARBITER:  # everything the aggregator receives
            seen.append((tag.split("|")[0].rsplit(".", 1)[-1], src, codec.decode(payload)))

    done, inputs, _ = run_round(n, threshold, on_wire=record, **kw)
    return done, inputs, seen


def _aggregator_attempt(seen: list[tuple[str, int, Any]], victim: int, roster_points: Mapping[int, int],
                        threshold: int) -> np.ndarray:
    """Unmask the victim's input with all the aggregator holds: y, its self-mask shares, any mask-key shares."""
    ctx = b"job/homo/round0"
    y = next(v for kind, src, v in seen if kind == "y" and src == victim)
    keys = {src: v for kind, src, v in seen if kind == "adv"}
    answers = {src: v for kind, src, v in seen if kind == "shares"}
    words = np.asarray(y, dtype=np.uint64)
    b_shares = {roster_points[q]: sa.share_int(a["b"][victim]) for q, a in answers.items() if victim in a["b"]}
    if len(b_shares) >= threshold:
        b = sa.combine(b_shares, threshold)
        words = words - sa.prg_words(sa.derive(b, "self", ctx), SIZE, 64)
    s_shares = {roster_points[q]: sa.share_int(a["s"][victim]) for q, a in answers.items() if victim in a["s"]}
    if len(s_shares) >= threshold:
        s_private = sa.combine(s_shares, threshold)
        for peer, k in keys.items():
            if peer != victim:
                noise = sa.prg_words(sa.agree(s_private, k["s"], "mask", ctx), SIZE, 64)
                words = words - noise if roster_points[victim] < roster_points[peer] else words + noise
    return words.view(np.int64).astype(np.float64) / 2**16


def test_the_aggregator_cannot_unmask_a_single_client() -> None:
    done, inputs, seen = _wire(4, 3)
    points = {p: i + 1 for i, p in enumerate(inputs)}
    assert np.array_equal(done.total, _exact_sum(inputs, done.included))  # it does learn the sum
    assert {kind for kind, _, _ in seen} == {"adv", "cts", "y", "shares"}
    for victim, x in inputs.items():
        guess = _aggregator_attempt(seen, victim, points, 3)
        assert not np.allclose(guess, x, atol=1.0), f"party {victim}'s input was recovered"
        assert np.median(np.abs(guess)) > 1e9  # still uniformly masked, nowhere near |x| ~ 50
    raw = [np.ascontiguousarray(x).tobytes()[:64] for x in inputs.values()]
    raw += [sa.FixedPoint(16, 64, 1e6, 4).encode(x).tobytes()[:64] for x in inputs.values()]
    for _, _, value in seen:
        blob = codec.encode(value)
        assert not any(r in blob for r in raw)


def test_a_late_client_stays_masked_though_its_mask_key_was_revealed() -> None:
    """Dropped for being slow, its s_sk is rebuilt; its masked input still arrives, and stays masked by b."""
    victim = 10001
    done, inputs, seen = _wire(4, 3, late={victim: 2.5})
    assert victim not in done.included
    assert np.array_equal(done.total, _exact_sum(inputs, done.included))
    points = {p: i + 1 for i, p in enumerate(inputs)}
    assert any(kind == "shares" and victim in v["s"] for kind, _, v in seen)  # its mask key was revealed
    if not any(kind == "y" and src == victim for kind, src, _ in seen):
        pytest.skip("the late input did not arrive in time to be inspected")
    guess = _aggregator_attempt(seen, victim, points, 3)
    assert not np.allclose(guess, inputs[victim], atol=1.0)
    assert np.median(np.abs(guess)) > 1e9


@pytest.mark.parametrize("rekey", [False, True], ids=["keys-per-job", "keys-per-round"])
@pytest.mark.parametrize("phase", PHASES)
def test_a_client_dropping_in_a_later_round(phase: str, rekey: bool) -> None:
    """Round 0 with everyone, round 1 loses a client at `phase`, round 2 goes on without it."""
    victim = 10002
    done, inputs, _ = run_rounds(5, 3, rounds=3, stops={victim: (1, phase)}, rekey=rekey)
    everyone, others = tuple(inputs), tuple(p for p in inputs if p != victim)
    assert done[0].included == everyone
    assert done[1].included == (everyone if phase == "masked_input" else others)
    assert done[2].included == others
    for collected in done:
        assert np.array_equal(collected.total, _exact_sum(inputs, collected.included))


def test_a_revealed_mask_key_is_never_followed_by_its_self_mask() -> None:
    """Keys live for the job: once a client's s_sk shares went out, its b shares never do."""
    members = {1, 2, 3, 4}
    assert refusal({1, 2, 3}, {4}, members, set(), 3) == ""
    assert "earlier round" in refusal({1, 2, 3, 4}, set(), members, {4}, 3)
    assert "both the self-mask and the mask-key" in refusal({1, 2, 3, 4}, {4}, members, set(), 3)
    assert "fewer than 3 inputs" in refusal({1, 2}, {3, 4}, members, set(), 3)
    assert "leaves out" in refusal({1, 2, 3}, set(), members, set(), 3)


def test_secagg_plus_neighbourhoods_are_a_public_regular_graph() -> None:
    order = tuple(range(100, 112))
    graph = neighborhoods(order, 4, "job/homo")
    assert graph == neighborhoods(order, 4, "job/homo")  # every party computes the same graph
    assert graph != neighborhoods(order, 4, "job/other")  # and the aggregator does not choose it
    assert all(len(peers) == 4 and p not in peers for p, peers in graph.items())
    assert all(p in graph[q] for p, peers in graph.items() for q in peers)  # symmetric
    assert neighborhoods(order, 11, "x") == {p: frozenset(order) - {p} for p in order}


@pytest.mark.parametrize("phase", PHASES)
def test_secagg_plus_with_dropouts_sums_exactly(phase: str) -> None:
    """8 clients, 4 neighbours each, threshold 3: every phase of dropout in round 1 of 3."""
    victim = 10003
    done, inputs, _ = run_rounds(8, 3, rounds=3, stops={victim: (1, phase)}, neighbors=4)
    others = tuple(p for p in inputs if p != victim)
    assert done[0].included == tuple(inputs) and done[2].included == others
    assert done[1].included == (tuple(inputs) if phase == "masked_input" else others)
    for collected in done:
        assert np.array_equal(collected.total, _exact_sum(inputs, collected.included))


def test_secagg_plus_aggregator_cannot_unmask_a_single_client() -> None:
    seen: list[tuple[str, int, Any]] = []

    def record(job: str, tag: str, src: int, dst: int, payload: bytes) -> None:
        if dst == ARBITER:
            seen.append((tag.split("|")[0].rsplit(".", 1)[-1], src, codec.decode(payload)))

    done, inputs, _ = run_rounds(8, 3, neighbors=4, on_wire=record)
    assert np.array_equal(done[0].total, _exact_sum(inputs, done[0].included))
    points = {p: i + 1 for i, p in enumerate(inputs)}
    for victim, x in inputs.items():
        guess = _aggregator_attempt(seen, victim, points, 3)
        assert not np.allclose(guess, x, atol=1.0) and np.median(np.abs(guess)) > 1e9
