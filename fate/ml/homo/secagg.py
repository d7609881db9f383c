"""One round of secure aggregation over the federation: clients (guest, hosts) and the aggregator (arbiter).

The four phases of Bonawitz et al. (2017), every message relayed by the aggregator:

0. advertise: each client sends two X25519 public keys (channel c, mask s).
1. share keys: each client Shamir-shares (threshold t) a fresh self-mask seed b (and, with
   new keys, its mask private key s_sk) and seals the share for peer v with their channel key.
2. masked input: y_u = x_u + PRG(b_u) + sum_v +-PRG(KA(s_u, s_v)) modulo 2^k.
3. unmasking: the aggregator names survivors (sent y) and dropped clients (shared keys
   but sent no y); each survivor reveals its shares of the survivors' b and of the
   dropped clients' s_sk, never both for one client, and refuses a request that asks.

Keys are made once per job and reused (`rekey=False`: the X25519 work is done once, each
round only derives new masks from the shared secrets), or made fresh every round as in the
paper (`rekey=True`). Reuse is safe because a client whose s_sk was revealed never takes
part again: the aggregator drops it, and honest clients refuse to reveal its b later.

SecAgg+ (Bell et al., CCS 2020): with `neighbors=k` each client masks with, and shares its
secrets among, only its k neighbours on a ring laid out in a public pseudo-random order
(derived from the job, not chosen by the aggregator): O(k) work per client instead of O(n).

The aggregator waits `timeout` seconds per phase; a client that has not answered by
then is dropped for this round (it may join the next one). Any phase with fewer than t
clients aborts the round: t is also the smallest number of inputs a revealed sum holds.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

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


def sign(a: int, b: int, roster: Roster) -> int:
    """Pairwise masks cancel: the lower point adds, the higher subtracts."""
    return 1 if roster.point(a) < roster.point(b) else -1


def mask_seed(pair_secret: bytes, ctx: bytes) -> bytes:
    return sa.derive(pair_secret, "mask", ctx)


def self_mask_seed(b: bytes, ctx: bytes) -> bytes:
    return sa.derive(b, "self", ctx)


SHARE = 66  # bytes of one share of GF(2^521 - 1)


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
    _fresh: bool = field(default=False, init=False)
    _peers: dict[int, dict[str, bytes]] = field(default_factory=dict, init=False)
    _channel: dict[int, bytes] = field(default_factory=dict, init=False)
    _pair: dict[int, bytes] = field(default_factory=dict, init=False)
    _s_shares: dict[int, int] = field(default_factory=dict, init=False)  # peers' s_sk shares we hold
    _revealed: set[int] = field(default_factory=set, init=False)  # peers whose s_sk share we gave out
    _round: dict[str, Any] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.roster = Roster.of(self.fed)
        self.graph = neighborhoods(self.roster.order, self.setting.neighbors, self.setting.context)

    @property
    def me(self) -> int:
        return self.fed.party_id

    def _get(self, round_no: int, phase: str) -> Any:
        return self.fed.get(tag(self.prefix, round_no, phase), ARBITER, timeout=self.wait)

    def _send(self, value: Any, round_no: int, phase: str) -> None:
        self.fed.remote(value, tag(self.prefix, round_no, phase), ARBITER)

    def submit(self, round_no: int, vector: np.ndarray) -> bool:
        """All four phases; False when the aggregator left this client out of the round."""
        self.advertise(round_no)
        return self.share_keys(round_no) and self.masked_input(round_no, vector) and self.unmask(round_no)

    def advertise(self, round_no: int) -> None:
        self._fresh = self.setting.rekey or self._keys is None
        if self._fresh:
            self._keys = (sa.KeyPair.generate(), sa.KeyPair.generate())
            self._send({"c": self._keys[0].public, "s": self._keys[1].public}, round_no, "adv")

    def _learn_keys(self, keys: dict[int, dict[str, bytes]]) -> None:
        assert self._keys is not None
        channel, mask = self._keys
        publics = [k["c"] for k in keys.values()] + [k["s"] for k in keys.values()]
        if len(set(publics)) != len(publics) or keys[self.me] != {"c": channel.public, "s": mask.public}:
            raise SecAggAbort("the advertised key list was tampered with (repeated keys, or not our own)")
        job_ctx = self.setting.context.encode()
        self._peers = keys
        mine = self.graph[self.me]
        self._channel = {p: sa.agree(channel, k["c"], "channel", job_ctx) for p, k in keys.items() if p in mine}
        self._pair = {p: sa.exchange(mask, k["s"]) for p, k in keys.items() if p in mine}
        self._s_shares, self._revealed = {}, set()

    def share_keys(self, round_no: int) -> bool:
        keys: dict[int, dict[str, bytes]] = self._get(round_no, "keys")
        if self.me not in keys or self._keys is None:
            return False
        self._check_members(keys, "clients with keys")
        if self._fresh:
            self._learn_keys(keys)
        elif any(self._peers.get(p) != k for p, k in keys.items()):
            raise SecAggAbort("the aggregator changed clients' public keys in the middle of the job")
        ctx, t = round_ctx(self.setting, round_no), self.setting.threshold
        points = {p: self.roster.point(p) for p in keys if p == self.me or p in self.graph[self.me]}
        if len(points) < t:
            raise SecAggAbort(f"only {len(points)} of this client's neighbourhood hold keys; the threshold is {t}")
        b = sa.random_seed()
        b_shares = sa.split(b, t, list(points.values()))
        s_shares = sa.split(self._keys[1].private, t, list(points.values())) if self._fresh else {}
        sealed = {}
        for peer, x in points.items():
            plain = sa.share_bytes(b_shares[x]) + (sa.share_bytes(s_shares[x]) if self._fresh else b"")
            if peer == self.me:
                self._round = {"b": b, "b_shares": {self.me: b_shares[x]}, "keys": set(keys)}
                if self._fresh:
                    self._s_shares[self.me] = s_shares[x]
            else:
                sealed[peer] = sa.seal(self._channel[peer], plain, aad(ctx, self.me, peer))
        self._send(sealed, round_no, "cts")
        return True

    def masked_input(self, round_no: int, vector: np.ndarray) -> bool:
        relayed: dict[str, Any] = self._get(round_no, "fwd")
        members = set(relayed["members"])
        if self.me not in members:
            return False
        st, ctx, enc = self._round, round_ctx(self.setting, round_no), self.setting.encoding
        self._check_members(members, "clients that shared keys")
        if not members <= st["keys"] or set(relayed["shares"]) != (members & self.graph[self.me]):
            raise SecAggAbort("the aggregator relayed shares that do not match the members it named")
        for peer, sealed in relayed["shares"].items():
            plain = sa.open_sealed(self._channel[peer], sealed, aad(ctx, peer, self.me))
            if len(plain) != SHARE * (2 if self._fresh else 1):
                raise SecAggAbort(f"party {peer} sealed a share of the wrong size")
            st["b_shares"][peer] = sa.share_int(plain[:SHARE])
            if self._fresh:
                self._s_shares[peer] = sa.share_int(plain[SHARE:])
        st["members"] = members
        words, k = enc.encode(vector), enc.modulus_bits
        masked = words + sa.prg_words(self_mask_seed(st["b"], ctx), words.size, k)
        for peer in members & self.graph[self.me]:
            noise = sa.prg_words(mask_seed(self._pair[peer], ctx), words.size, k)
            (np.add if sign(self.me, peer, self.roster) > 0 else np.subtract)(masked, noise, out=masked)
        self._send(masked & np.uint64(sa.modulus_mask(k)), round_no, "y")
        return True

    def unmask(self, round_no: int) -> bool:
        ask: dict[str, list[int]] = self._get(round_no, "ask")
        survivors, dropped = set(ask["survivors"]), set(ask["dropped"])
        if self.me not in survivors:
            return False
        st = self._round
        problem = refusal(survivors, dropped, st["members"], self._revealed, self.setting.threshold)
        if problem:
            self._send({"refused": problem}, round_no, "shares")
            raise SecAggRefused(f"party {self.me} refused to unmask round {round_no}: {problem}")
        self._revealed |= dropped
        near = self.graph[self.me] | {self.me}  # we hold shares of our neighbourhood only
        self._send({
            "b": {p: sa.share_bytes(st["b_shares"][p]) for p in survivors & near},
            "s": {p: sa.share_bytes(self._s_shares[p]) for p in dropped & near},
        }, round_no, "shares")
        self._round = {}  # this round's secrets are spent
        return True

    def _check_members(self, members: Mapping[int, Any] | set[int], what: str) -> None:
        if len(members) < self.setting.threshold:
            raise SecAggAbort(f"only {len(members)} {what}; the threshold is {self.setting.threshold}")
        strangers = set(members) - set(self.roster.order)
        if strangers:
            raise SecAggAbort(f"the aggregator named parties {sorted(strangers)} that are not clients of this job")


def refusal(survivors: set[int], dropped: set[int], members: set[int], revealed: set[int], threshold: int) -> str:
    """Why an unmasking request must not be answered ('' when it may be)."""
    both = survivors & dropped
    if both:
        return f"asked for both the self-mask and the mask-key shares of parties {sorted(both)}"
    again = survivors & revealed
    if again:
        return (f"asked for the self-mask shares of parties {sorted(again)}, whose mask-key shares were "
                "revealed in an earlier round (both shares of one client)")
    if not (survivors | dropped) <= members:
        return "asked about parties that did not share keys this round"
    if survivors | dropped != members:
        return "the request leaves out some members"
    if len(survivors) < threshold:
        return f"only {len(survivors)} survivors; revealing would expose a sum of fewer than {threshold} inputs"
    return ""
