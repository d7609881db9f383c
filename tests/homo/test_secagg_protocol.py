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
    Deal,
    Roster,
    SecAggAbort,
    SecAggClient,
    SecAggRefused,
    Setting,
    mask,
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


class Recording(SecAggClient):
    """A client that keeps every deal it made (its b and mask seeds per round), for a test to play an
    aggregator that somehow got both kinds of shares."""

    deals: dict[tuple[int, int], Deal] = {}

    def _make_deal(self, round_no: int, holders: set[int]) -> dict[int, bytes]:
        sealed = super()._make_deal(round_no, holders)
        assert self._deal is not None
        Recording.deals[(self.me, round_no)] = self._deal
        return sealed


def _client(fed: Federation, setting: Setting, x: np.ndarray, rounds: int, stop: tuple[int, str] | None,
            late: float) -> Callable[[], Any]:
    def run() -> Any:
        c = Recording(fed, "t", setting, wait=30)
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
    assert "both the self-mask and the mask-seed shares" in str(cause)


Seen = list[tuple[int, str, int, Any]]  # (round, phase, sender, message) of everything the aggregator receives


def _recorder(seen: Seen) -> Callable[[str, str, int, int, bytes], None]:
    def record(job: str, tag: str, src: int, dst: int, payload: bytes) -> None:
        if dst == ARBITER:
            _, round_tag, phase = tag.split("|")[0].split(".")
            seen.append((int(round_tag.removeprefix("sa")), phase, src, codec.decode(payload)))
    return record


def _wire(n: int, threshold: int, rounds: int = 1, **kw: Any) -> tuple[list[Collected], dict[int, np.ndarray], Seen]:
    seen: Seen = []
    done, inputs, _ = run_rounds(n, threshold, rounds, on_wire=_recorder(seen), **kw)
    return done, inputs, seen


def _aggregator_attempt(seen: Seen, victim: int, roster_points: Mapping[int, int], threshold: int,
                        round_no: int = 0, neighbors: int | None = None) -> np.ndarray:
    """Unmask the victim's input of a round with all the aggregator holds: its y and every share revealed
    in any round (its self-mask seed b when it survived, its mask seeds when it was called dropped)."""
    setting = _setting(len(roster_points), threshold)
    words = np.asarray(next(v for r, kind, src, v in seen if r == round_no and kind == "y" and src == victim),
                       dtype=np.uint64)
    answers = [(src, v) for r, kind, src, v in seen if kind == "shares" and r == round_no]
    b_shares = {roster_points[q]: sa.share_int(a["b"][victim]) for q, a in answers if victim in a["b"]}
    if len(b_shares) >= threshold:
        words = words - mask(sa.combine(b_shares, threshold), SIZE, setting)
    for r in {r for r, kind, _, _ in seen if kind == "shares"}:  # mask seeds revealed in any round
        s_shares = {roster_points[q]: a["s"][victim] for rr, kind, q, a in seen
                    if rr == r and kind == "shares" and victim in a["s"]}
        if len(s_shares) >= threshold:
            graph = neighborhoods(tuple(roster_points), neighbors, setting.context)
            peers = [p for p in roster_points if p in graph[victim]]
            seeds = sa.combine_packed(s_shares, threshold, len(peers))
            for peer, seed in zip(peers, seeds, strict=True):
                noise = mask(seed, SIZE, setting)
                words = words - noise if roster_points[victim] < roster_points[peer] else words + noise
    return words.view(np.int64).astype(np.float64) / 2**16


def test_the_aggregator_cannot_unmask_a_single_client() -> None:
    """Three rounds: the first agrees keys and deals, the others are short (start, y, request, answer)."""
    done, inputs, seen = _wire(4, 3, rounds=3)
    points = {p: i + 1 for i, p in enumerate(inputs)}
    for collected in done:
        assert np.array_equal(collected.total, _exact_sum(inputs, collected.included))  # it does learn the sum
    assert {kind for r, kind, _, _ in seen if r == 0} == {"adv", "cts", "y", "shares"}
    assert {kind for r, kind, _, _ in seen if r > 0} == {"y", "shares"}
    for round_no in range(3):
        for victim, x in inputs.items():
            guess = _aggregator_attempt(seen, victim, points, 3, round_no)
            assert not np.allclose(guess, x, atol=1.0), f"party {victim}'s input of round {round_no} was recovered"
            assert np.median(np.abs(guess)) > 1e9  # still uniformly masked, nowhere near |x| ~ 50
    raw = [np.ascontiguousarray(x).tobytes()[:64] for x in inputs.values()]
    raw += [sa.FixedPoint(16, 64, 1e6, 4).encode(x).tobytes()[:64] for x in inputs.values()]
    for _, _, _, value in seen:
        blob = codec.encode(value)
        assert not any(r in blob for r in raw)


@pytest.mark.parametrize("phase", ["start", "advertise"])
def test_a_client_dropped_later_keeps_its_earlier_inputs_hidden(phase: str) -> None:
    """It survived round 0 (its b revealed), then dropped before its masked input in round 1, so its
    round-1 mask seeds were revealed. Under the paper's scheme with keys kept for the job, that would be
    its mask private key, opening its round-0 input; here the seeds are per round and nothing opens."""
    victim = 10001
    done, inputs, seen = _wire(4, 3, rounds=2, stops={victim: (1, phase)})
    assert done[0].included == tuple(inputs) and victim not in done[1].included
    assert np.array_equal(done[1].total, _exact_sum(inputs, done[1].included))
    assert any(kind == "shares" and victim in v["s"] for r, kind, _, v in seen if r == 1)  # its seeds came out
    points = {p: i + 1 for i, p in enumerate(inputs)}
    guess = _aggregator_attempt(seen, victim, points, 3, round_no=0)
    assert not np.allclose(guess, inputs[victim], atol=1.0)
    assert np.median(np.abs(guess)) > 1e9


def test_the_attempt_would_unmask_with_both_kinds_of_shares() -> None:
    """The attack above is sound: handed a client's b and mask seeds of one round (what refusals keep
    from the aggregator), the same arithmetic recovers that client's input exactly."""
    done, inputs, seen = _wire(4, 3, rounds=2)
    points, setting = {p: i + 1 for i, p in enumerate(inputs)}, _setting(4, 3)
    for round_no in range(2):
        for victim, x in inputs.items():
            deal = Recording.deals[(victim, round_no)]
            y = next(v for r, kind, src, v in seen if r == round_no and kind == "y" and src == victim)
            words = np.asarray(y, dtype=np.uint64) - mask(deal.b, SIZE, setting)
            for peer, seed in deal.seeds.items():
                noise = mask(seed, SIZE, setting)
                words = words - noise if points[victim] < points[peer] else words + noise
            assert np.array_equal(words.view(np.int64), np.rint(x * 2**16).astype(np.int64))


def test_a_late_client_stays_masked_though_its_mask_seeds_were_revealed() -> None:
    """Dropped for being slow, its mask seeds are rebuilt; its masked input still arrives, and stays masked by b."""
    victim = 10001
    rounds, inputs, seen = _wire(4, 3, late={victim: 2.5})
    done = rounds[0]
    assert victim not in done.included
    assert np.array_equal(done.total, _exact_sum(inputs, done.included))
    points = {p: i + 1 for i, p in enumerate(inputs)}
    assert any(kind == "shares" and victim in v["s"] for _, kind, _, v in seen)  # its mask seeds were revealed
    assert any(kind == "y" and src == victim for _, kind, src, _ in seen)  # it sends y late, then hears it is out
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


def test_what_an_honest_client_refuses() -> None:
    members = {1, 2, 3, 4}
    assert refusal({1, 2, 3}, {4}, members, 3) == ""
    assert "both the self-mask and the mask-seed" in refusal({1, 2, 3, 4}, {4}, members, 3)
    assert "fewer than 3 inputs" in refusal({1, 2}, {3, 4}, members, 3)
    assert "leaves out" in refusal({1, 2, 3}, set(), members, 3)
    assert "not members" in refusal({1, 2, 3}, {5}, members, 3)


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
    """8 clients, 4 neighbours: two short rounds after the first, one client dropping before y in round 1."""
    victim = 10002
    done, inputs, seen = _wire(8, 3, rounds=3, neighbors=4, stops={victim: (1, "share_keys")})
    for collected in done:
        assert np.array_equal(collected.total, _exact_sum(inputs, collected.included))
    points = {p: i + 1 for i, p in enumerate(inputs)}
    for round_no in range(3):
        for p, x in inputs.items():
            if p == victim and round_no:
                continue  # it sent nothing after round 0
            guess = _aggregator_attempt(seen, p, points, 3, round_no, neighbors=4)
            assert not np.allclose(guess, x, atol=1.0) and np.median(np.abs(guess)) > 1e9
