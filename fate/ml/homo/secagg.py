"""Rounds of secure aggregation over the federation: clients (guest, hosts) and the aggregator (arbiter).

Bonawitz et al. (2017), every message relayed by the aggregator:

0. advertise: each client sends two X25519 public keys (channel c, mask s).
1. deal: each client Shamir-shares (threshold t) among its neighbours a fresh self-mask seed b
   and, packed as one secret, its mask seeds with its neighbours for the round
   (p_uv = keyed BLAKE2b of the round under HKDF(KA(s_u, s_v), job)); the share for peer v is
   sealed with their channel key.
2. masked input: y_u = x_u + PRG(b_u) + sum_v +-PRG(p_uv) modulo 2^k.
3. unmasking: the aggregator names survivors (sent y) and dropped clients (dealt but sent no
   y); each survivor reveals its shares of the survivors' b and of the dropped clients' mask
   seeds, never both for one client, and refuses a request that asks.

The paper shares the mask *private key* s_sk instead of the round's mask seeds; with keys kept
for the job (as here, by default) that would let an aggregator that rebuilt a dropped client's
s_sk remove its masks in every earlier round, where its b was revealed: its past inputs would
come out one by one. Mask seeds are per round, so revealing a dropped client's seeds of round r
opens nothing else. Keys are made once per job (`rekey=False`: the X25519 work is done once)
or every round (`rekey=True`).

Rounds after the first are short with reused keys: a client deals the next round's shares in
its unmasking answer (the next round's members are this round's survivors, which it has just
been told), and the aggregator relays them with the next round's start. Each round is then
start -> y -> request -> answer, instead of adding key advertisement and dealing.

SecAgg+ (Bell et al., CCS 2020): with `neighbors=k` each client masks with, and deals among,
only its k neighbours on a ring laid out in a public pseudo-random order (derived from the
job, not chosen by the aggregator): O(k) work per client instead of O(n).

The aggregator waits `timeout` seconds per phase; a client that has not answered by
then is dropped for this round. Any phase with fewer than t clients aborts the round: t
is also the smallest number of inputs a revealed sum holds.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from fate.crypto import secagg as sa
from fate.federation.federation import Federation

ARBITER = "arbiter"


class SecAggAbort(sa.SecAggError):
    """A round cannot complete: too few clients left, or a peer broke the protocol."""


class SecAggRefused(SecAggAbort):
    """An honest client refused the aggregator's unmasking request."""


@dataclass(frozen=True)
class Roster:
    """The clients of a job in a fixed order; a client's Shamir point is its position + 1."""

    roles: Mapping[int, str]  # party id -> "guest" | "host"
    order: tuple[int, ...]

    @staticmethod
    def of(fed: Federation) -> Roster:
        order = tuple(p for role in ("guest", "host") for p in fed.roles.get(role, ()))
        return Roster({p: ("guest" if p in fed.roles.get("guest", ()) else "host") for p in order}, order)

    def point(self, party: int) -> int:
        return self.order.index(party) + 1

    def sort(self, parties: Sequence[int] | set[int]) -> tuple[int, ...]:
        return tuple(p for p in self.order if p in parties)


@dataclass(frozen=True)
class Setting:
    threshold: int
    encoding: sa.FixedPoint
    timeout: float  # seconds the aggregator waits in each phase
    context: str  # job/component: binds keys and ciphertexts to this job
    rekey: bool = False  # fresh keys every round (the paper), else once per job
    neighbors: int | None = None  # SecAgg+: each client's neighbourhood size; None: every other client


def neighborhoods(order: tuple[int, ...], k: int | None, context: str) -> dict[int, frozenset[int]]:
    """Who masks with whom: everyone (k None or >= n-1), else a ring with k/2 neighbours each side.

    The ring's order is a permutation seeded by the job context, so every party computes the
    same graph and the aggregator cannot pick a client's neighbours.
    """
    n = len(order)
    if k is None or k >= n - 1:
        return {p: frozenset(order) - {p} for p in order}
    seed = int.from_bytes(hashlib.sha256(b"fate-secagg/graph/" + context.encode()).digest()[:8], "big")
    ring = list(order)
    random.Random(seed).shuffle(ring)
    half = k // 2
    return {ring[i]: frozenset(ring[(i + d) % n] for d in range(-half, half + 1) if d) for i in range(n)}


def round_ctx(setting: Setting, round_no: int) -> bytes:
    return f"{setting.context}/round{round_no}".encode()


def tag(prefix: str, round_no: int, phase: str) -> str:
    return f"{prefix}.sa{round_no}.{phase}"


def aad(ctx: bytes, src: int, dst: int) -> bytes:
    return ctx + f"|{src}>{dst}".encode()


def seal(channel: ChaCha20Poly1305, plain: bytes, associated: bytes) -> bytes:
    """sa.seal with the pair's cipher object kept for the job (making one costs more than a share)."""
    nonce = sa.random_nonce()
    return nonce + channel.encrypt(nonce, plain, associated)


def open_sealed(channel: ChaCha20Poly1305, sealed: bytes, associated: bytes) -> bytes:
    return sa.open_with(channel, sealed, associated)


def sign(a: int, b: int, roster: Roster) -> int:
    """Pairwise masks cancel: the lower point adds, the higher subtracts."""
    return 1 if roster.point(a) < roster.point(b) else -1


def pair_key(pair_secret: bytes, setting: Setting) -> bytes:
    """A pair's mask key for the job (or for the round, with fresh keys): HKDF of the X25519 secret."""
    return sa.derive(pair_secret, "mask", setting.context.encode())


def mask_seed(key: bytes, round_no: int) -> bytes:
    """The pair's mask seed of one round: keyed BLAKE2b of the round (a PRF), so a revealed seed opens
    that round's mask and nothing of the key or of other rounds. (A ChaCha20 context per seed cost
    six times as much, and a client derives one per neighbour every round.)"""
    return sa.prf(key, "mask-seed", round_no)


def mask(seed: bytes, size: int, setting: Setting, out: np.ndarray | None = None) -> np.ndarray:
    """PRG(seed): the pairwise masks (seeds from mask_seed) and the self mask (b, fresh random bytes)."""
    return sa.prg_words(seed, size, setting.encoding.modulus_bits, out=out)


SHARE = 66  # bytes of one share of GF(2^521 - 1)


@dataclass
class Deal:
    """What a client dealt for one round: its b, its mask seeds with its peers, who holds shares."""

    round_no: int
    b: bytes
    seeds: dict[int, bytes]  # peer -> mask seed, peers in roster order
    own: tuple[int, bytes]  # our own share of b and of the packed seeds


@dataclass
class SecAggClient:
    """One client's side, kept across rounds; tests drive the phases one by one to simulate dropouts."""

    fed: Federation
    prefix: str
    setting: Setting
    wait: float = 600.0  # how long a client waits for the aggregator
    roster: Roster = field(init=False)
    graph: dict[int, frozenset[int]] = field(init=False)
    _keys: tuple[sa.KeyPair, sa.KeyPair] | None = field(default=None, init=False)  # channel c, mask s
    _peers: dict[int, dict[str, bytes]] = field(default_factory=dict, init=False)
    _channel: dict[int, ChaCha20Poly1305] = field(default_factory=dict, init=False)
    _pair: dict[int, bytes] = field(default_factory=dict, init=False)  # peer -> the pair's mask key
    _members: set[int] | None = field(default=None, init=False)  # last survivors, when a short round is next
    _deal: Deal | None = field(default=None, init=False)  # ours, for the coming or current round
    _round: dict[str, Any] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.roster = Roster.of(self.fed)
        self.graph = neighborhoods(self.roster.order, self.setting.neighbors, self.setting.context)

    @property
    def me(self) -> int:
        return self.fed.party_id

    def short(self) -> bool:
        """Whether the coming round is short: keys kept for the job and already agreed, shares dealt."""
        return not self.setting.rekey and self._members is not None

    def _get(self, round_no: int, phase: str) -> Any:
        return self.fed.get(tag(self.prefix, round_no, phase), ARBITER, timeout=self.wait)

    def _send(self, value: Any, round_no: int, phase: str) -> None:
        self.fed.remote(value, tag(self.prefix, round_no, phase), ARBITER)

    def submit(self, round_no: int, vector: np.ndarray) -> bool:
        """Every phase of a round; False when the aggregator left this client out of it."""
        self.advertise(round_no)
        return self.share_keys(round_no) and self.masked_input(round_no, vector) and self.unmask(round_no)

    def advertise(self, round_no: int) -> None:
        if self.short():
            return
        if self.setting.rekey or self._keys is None:
            self._keys = (sa.KeyPair.generate(), sa.KeyPair.generate())
            self._send({"c": self._keys[0].public, "s": self._keys[1].public}, round_no, "adv")

    def _learn_keys(self, keys: dict[int, dict[str, bytes]]) -> None:
        assert self._keys is not None
        channel, mask_key = self._keys
        publics = [k["c"] for k in keys.values()] + [k["s"] for k in keys.values()]
        if len(set(publics)) != len(publics) or keys[self.me] != {"c": channel.public, "s": mask_key.public}:
            raise SecAggAbort("the advertised key list was tampered with (repeated keys, or not our own)")
        job_ctx = self.setting.context.encode()
        self._peers = keys
        mine = self.graph[self.me]
        self._channel = {p: ChaCha20Poly1305(sa.agree(channel, k["c"], "channel", job_ctx))
                         for p, k in keys.items() if p in mine}
        self._pair = {p: pair_key(sa.exchange(mask_key, k["s"]), self.setting) for p, k in keys.items() if p in mine}

    def _make_deal(self, round_no: int, holders: set[int]) -> dict[int, bytes]:
        """Deal round `round_no`: b and the packed mask seeds, shared among `holders` (us included), sealed per peer."""
        t = self.setting.threshold
        if len(holders) < t:
            raise SecAggAbort(f"only {len(holders)} of this client's neighbourhood take part; the threshold is {t}")
        peers = self.roster.sort(holders - {self.me})
        seeds = {p: mask_seed(self._pair[p], round_no) for p in peers}
        points = [self.roster.point(p) for p in (self.me, *peers)]
        b = sa.random_seed()
        b_shares = sa.split(b, t, points)
        s_shares = sa.split_packed(list(seeds.values()), t, points)
        self._deal = Deal(round_no, b, seeds, (b_shares[points[0]], s_shares[points[0]]))
        ctx = round_ctx(self.setting, round_no)
        return {p: seal(self._channel[p], sa.share_bytes(b_shares[x]) + s_shares[x], aad(ctx, self.me, p))
                for p, x in zip(peers, points[1:], strict=True)}

    def share_keys(self, round_no: int) -> bool:
        if self.short():
            return True  # dealt with the last round's answer
        keys: dict[int, dict[str, bytes]] = self._get(round_no, "keys")
        if self.me not in keys or self._keys is None:
            return False
        self._check_members(keys, "clients with keys")
        if not self._peers or self.setting.rekey:
            self._learn_keys(keys)
        elif any(self._peers.get(p) != k for p, k in keys.items()):
            raise SecAggAbort("the aggregator changed clients' public keys in the middle of the job")
        self._send(self._make_deal(round_no, {p for p in keys if p == self.me or p in self.graph[self.me]}),
                   round_no, "cts")
        return True

    def masked_input(self, round_no: int, vector: np.ndarray) -> bool:
        start: dict[str, Any] = self._get(round_no, "fwd")
        members = set(start["members"])
        if self.me not in members:
            return False
        self._check_members(members, "clients that dealt")
        deal = self._deal
        if deal is None or deal.round_no != round_no or not (members & self.graph[self.me]) <= set(deal.seeds):
            raise SecAggAbort("the aggregator named members this client did not deal to")
        held = self._open_shares(round_no, start["shares"], members & self.graph[self.me])
        held[self.me] = deal.own
        self._round = {"members": members, "held": held}
        masked = self.setting.encoding.encode(vector)
        noise = np.empty_like(masked)
        np.add(masked, mask(deal.b, masked.size, self.setting, noise), out=masked)
        for peer in members & self.graph[self.me]:
            mask(deal.seeds[peer], masked.size, self.setting, noise)
            (np.add if sign(self.me, peer, self.roster) > 0 else np.subtract)(masked, noise, out=masked)
        np.bitwise_and(masked, np.uint64(sa.modulus_mask(self.setting.encoding.modulus_bits)), out=masked)
        self._send(masked, round_no, "y")
        return True

    def _open_shares(self, round_no: int, relayed: Mapping[int, bytes],
                     expected: set[int]) -> dict[int, tuple[int, bytes]]:
        if set(relayed) != expected:
            raise SecAggAbort("the aggregator relayed shares that do not match the members it named")
        ctx, held = round_ctx(self.setting, round_no), {}
        for peer, sealed in relayed.items():
            plain = open_sealed(self._channel[peer], sealed, aad(ctx, peer, self.me))
            if len(plain) < SHARE + sa.PACK_SHARE:
                raise SecAggAbort(f"party {peer} sealed a share of the wrong size")
            held[peer] = (sa.share_int(plain[:SHARE]), plain[SHARE:])
        return held

    def unmask(self, round_no: int) -> bool:
        ask: dict[str, Any] = self._get(round_no, "ask")
        survivors, dropped = set(ask["survivors"]), set(ask["dropped"])
        self._members = None
        if self.me not in survivors:
            return False
        held, members = self._round["held"], self._round["members"]
        problem = refusal(survivors, dropped, members, self.setting.threshold)
        if problem:
            self._send({"refused": problem}, round_no, "shares")
            raise SecAggRefused(f"party {self.me} refused to unmask round {round_no}: {problem}")
        answer: dict[str, Any] = {
            "b": {p: sa.share_bytes(held[p][0]) for p in survivors if p in held},
            "s": {p: held[p][1] for p in dropped if p in held},
        }
        if not self.setting.rekey:  # deal the next round now: its members are these survivors
            answer["deal"] = self._make_deal(round_no + 1, {self.me} | (survivors & self.graph[self.me]))
            self._members = survivors
        self._send(answer, round_no, "shares")
        self._round = {}  # this round's secrets are spent
        return True

    def _check_members(self, members: Mapping[int, Any] | set[int], what: str) -> None:
        if len(members) < self.setting.threshold:
            raise SecAggAbort(f"only {len(members)} {what}; the threshold is {self.setting.threshold}")
        strangers = set(members) - set(self.roster.order)
        if strangers:
            raise SecAggAbort(f"the aggregator named parties {sorted(strangers)} that are not clients of this job")


def refusal(survivors: set[int], dropped: set[int], members: set[int], threshold: int) -> str:
    """Why an unmasking request must not be answered ('' when it may be)."""
    both = survivors & dropped
    if both:
        return f"asked for both the self-mask and the mask-seed shares of parties {sorted(both)}"
    if not (survivors | dropped) <= members:
        return "asked about parties that are not members of this round"
    if survivors | dropped != members:
        return "the request leaves out some members"
    if len(survivors) < threshold:
        return f"only {len(survivors)} survivors; revealing would expose a sum of fewer than {threshold} inputs"
    return ""
