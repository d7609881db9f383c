"""One round of secure aggregation over the federation: clients (guest, hosts) and the aggregator (arbiter).

The four phases of Bonawitz et al. (2017), every message relayed by the aggregator:

0. advertise: each client sends two fresh X25519 public keys (channel c, mask s).
1. share keys: each client Shamir-shares (threshold t) its mask private key s_sk and a
   fresh self-mask seed b, and seals the share for peer v with their channel key.
2. masked input: y_u = x_u + PRG(b_u) + sum_v +-PRG(KA(s_u, s_v)) modulo 2^k.
3. unmasking: the aggregator names survivors (sent y) and dropped clients (shared keys
   but sent no y); each survivor reveals its shares of the survivors' b and of the
   dropped clients' s_sk, never both for one client, and refuses a request that asks.

The aggregator waits `timeout` seconds per phase; a client that has not answered by
then is dropped for this round (it may join the next one). Any phase with fewer than t
clients aborts the round: t is also the smallest number of inputs a revealed sum holds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fate.crypto import secagg as sa
from fate.federation.federation import Federation
from fate.federation.transport import TransportError

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


def _ctx(setting: Setting, round_no: int) -> bytes:
    return f"{setting.context}/round{round_no}".encode()


def _tag(prefix: str, round_no: int, phase: str) -> str:
    return f"{prefix}.sa{round_no}.{phase}"


def _aad(ctx: bytes, src: int, dst: int) -> bytes:
    return ctx + f"|{src}>{dst}".encode()


def _sign(a: int, b: int, roster: Roster) -> int:
    """Pairwise masks cancel: the lower point adds, the higher subtracts."""
    return 1 if roster.point(a) < roster.point(b) else -1


@dataclass
class SecAggClient:
    """One client's side of one round; tests drive the phases one by one to simulate dropouts."""

    fed: Federation
    prefix: str
    setting: Setting
    wait: float = 600.0  # how long a client waits for the aggregator
    roster: Roster = field(init=False)
    _state: dict[str, Any] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.roster = Roster.of(self.fed)

    @property
    def me(self) -> int:
        return self.fed.party_id

    def _get(self, round_no: int, phase: str) -> Any:
        return self.fed.get(_tag(self.prefix, round_no, phase), ARBITER, timeout=self.wait)

    def _send(self, value: Any, round_no: int, phase: str) -> None:
        self.fed.remote(value, _tag(self.prefix, round_no, phase), ARBITER)

    def submit(self, round_no: int, vector: np.ndarray) -> bool:
        """All four phases; False when the aggregator left this client out of the round."""
        self.advertise(round_no)
        return self.share_keys(round_no) and self.masked_input(round_no, vector) and self.unmask(round_no)

    def advertise(self, round_no: int) -> None:
        channel, mask = sa.KeyPair.generate(), sa.KeyPair.generate()
        self._state = {"round": round_no, "c": channel, "s": mask, "b": sa.random_seed()}
        self._send({"c": channel.public, "s": mask.public}, round_no, "adv")

    def share_keys(self, round_no: int) -> bool:
        keys: dict[int, dict[str, bytes]] = self._get(round_no, "keys")
        if self.me not in keys:
            return False
        self._check_members(keys, "advertised keys")
        publics = [k["c"] for k in keys.values()] + [k["s"] for k in keys.values()]
        if len(set(publics)) != len(publics):
            raise SecAggAbort("two advertised public keys are equal: the aggregator tampered with the key list")
        ctx, st = _ctx(self.setting, round_no), self._state
        points = [self.roster.point(p) for p in keys]
        s_shares = sa.split(st["s"].private, self.setting.threshold, points)
        b_shares = sa.split(st["b"], self.setting.threshold, points)
        sealed = {}
        for peer in keys:
            s, b = s_shares[self.roster.point(peer)], b_shares[self.roster.point(peer)]
            if peer == self.me:
                st["own"] = (s, b)
                continue
            key = sa.agree(st["c"].private, keys[peer]["c"], "channel", ctx)
            sealed[peer] = sa.seal(key, sa.share_bytes(s) + sa.share_bytes(b), _aad(ctx, self.me, peer))
        st["keys"] = keys
        self._send(sealed, round_no, "cts")
        return True

    def masked_input(self, round_no: int, vector: np.ndarray) -> bool:
        relayed: dict[str, Any] = self._get(round_no, "fwd")
        members = set(relayed["members"])
        if self.me not in members:
            return False
        st, ctx, enc = self._state, _ctx(self.setting, round_no), self.setting.encoding
        self._check_members(members, "clients that shared keys")
        if not members <= set(st["keys"]):
            raise SecAggAbort("the aggregator named clients that never advertised keys")
        shares: dict[int, tuple[int, int]] = {self.me: st["own"]}
        for peer, sealed in relayed["shares"].items():
            if peer not in members or peer == self.me:
                raise SecAggAbort(f"the aggregator relayed a share from party {peer}, not a member")
            key = sa.agree(st["c"].private, st["keys"][peer]["c"], "channel", ctx)
            plain = sa.open_sealed(key, sealed, _aad(ctx, peer, self.me))
            shares[peer] = (sa.share_int(plain[:66]), sa.share_int(plain[66:]))
        if set(shares) != members:
            raise SecAggAbort("the aggregator withheld shares of some members")
        st["shares"], st["members"] = shares, members
        words = enc.encode(vector)
        k = enc.modulus_bits
        masked = words + sa.prg_words(self_mask_seed(st["b"], ctx), words.size, k)
        for peer in members - {self.me}:
            pair = sa.agree(st["s"].private, st["keys"][peer]["s"], "mask", ctx)
            noise = sa.prg_words(pair, words.size, k)
            masked = masked + noise if _sign(self.me, peer, self.roster) > 0 else masked - noise
        self._send(masked & np.uint64(sa.modulus_mask(k)), round_no, "y")
        return True

    def unmask(self, round_no: int) -> bool:
        ask: dict[str, list[int]] = self._get(round_no, "ask")
        survivors, dropped = set(ask["survivors"]), set(ask["dropped"])
        if self.me not in survivors:
            return False
        st = self._state
        problem = _refusal(survivors, dropped, st["members"], self.setting.threshold)
        if problem:
            self._send({"refused": problem}, round_no, "shares")
            raise SecAggRefused(f"party {self.me} refused to unmask round {round_no}: {problem}")
        self._send({
            "b": {p: sa.share_bytes(st["shares"][p][1]) for p in survivors},
            "s": {p: sa.share_bytes(st["shares"][p][0]) for p in dropped},
        }, round_no, "shares")
        self._state = {}  # this round's secrets are spent
        return True

    def _check_members(self, members: Mapping[int, Any] | set[int], what: str) -> None:
        if len(members) < self.setting.threshold:
            raise SecAggAbort(f"only {len(members)} {what}; the threshold is {self.setting.threshold}")
        strangers = set(members) - set(self.roster.order)
        if strangers:
            raise SecAggAbort(f"the aggregator named parties {sorted(strangers)} that are not clients of this job")


def self_mask_seed(b: bytes, ctx: bytes) -> bytes:
    return sa.derive(b, "self", ctx)


def _refusal(survivors: set[int], dropped: set[int], members: set[int], threshold: int) -> str:
    """Why an unmasking request must not be answered ('' when it may be)."""
    both = survivors & dropped
    if both:
        return f"asked for both the self-mask and the mask-key shares of parties {sorted(both)}"
    if not (survivors | dropped) <= members:
        return "asked about parties that did not share keys this round"
    if survivors | dropped != members:
        return "the request leaves out some members"
    if len(survivors) < threshold:
        return f"only {len(survivors)} survivors; revealing would expose a sum of fewer than {threshold} inputs"
    return ""


@dataclass(frozen=True)
class Collected:
    total: np.ndarray  # the decoded sum of the included clients' inputs
    included: tuple[int, ...]  # whose inputs the sum holds
    dropped: tuple[int, ...]  # roster clients left out of this round


def serve_round(fed: Federation, prefix: str, setting: Setting, round_no: int, roster: Roster,
                clients: Sequence[int], size: int, log: Callable[[str], None] = lambda m: None) -> Collected:
    """The aggregator's side of one round with `clients` (in roster order) invited."""
    ctx, t = _ctx(setting, round_no), setting.threshold

    def gather(phase: str, parties: Sequence[int]) -> dict[int, Any]:
        deadline = time.monotonic() + setting.timeout
        got = {}
        for p in parties:
            try:
                got[p] = fed.get(_tag(prefix, round_no, phase), roster.roles[p], p,
                                 timeout=max(0.0, deadline - time.monotonic()))
            except TransportError as err:
                log(f"round {round_no}: party {p} dropped in phase {phase}: {err}")
        return got

    def tell(phase: str, message: Callable[[int], Any]) -> None:
        for p in clients:
            fed.remote(message(p), _tag(prefix, round_no, phase), roster.roles[p], [p])

    def need(got: Mapping[int, Any], phase: str) -> tuple[int, ...]:
        if len(got) < t:
            raise SecAggAbort(f"round {round_no}: only {len(got)} clients in phase {phase}; the threshold is {t}")
        return roster.sort(set(got))

    keys = gather("adv", clients)
    u1 = need(keys, "advertise")
    tell("keys", lambda p: {q: keys[q] for q in u1})
    # A client whose sealed shares do not cover every other advertiser is treated as dropped.
    sealed = {q: v for q, v in gather("cts", u1).items()
              if isinstance(v, dict) and set(v) == set(u1) - {q}}
    u2 = need(sealed, "share keys")
    tell("fwd", lambda p: {"members": list(u2), "shares": {q: sealed[q][p] for q in u2 if q != p and p in u2}})
    masked = {q: v for q, v in gather("y", u2).items()
              if isinstance(v, np.ndarray) and v.dtype == np.uint64 and v.shape == (size,)}
    u3 = need(masked, "masked input")
    dropped = tuple(p for p in u2 if p not in masked)
    tell("ask", lambda p: {"survivors": list(u3), "dropped": list(dropped)})
    answers = gather("shares", u3)
    refusals = {p: a["refused"] for p, a in answers.items() if "refused" in a}
    if refusals:
        raise SecAggAbort(f"round {round_no}: clients refused to unmask: {refusals}")
    need(answers, "unmasking")
    k = setting.encoding.modulus_bits
    total = np.zeros(size, dtype=np.uint64)
    for p in u3:
        total = total + np.asarray(masked[p], dtype=np.uint64)
    for p in u3:
        b = sa.combine({roster.point(q): sa.share_int(a["b"][p]) for q, a in answers.items()}, t)
        total = total - sa.prg_words(self_mask_seed(b, ctx), size, k)
    for d in dropped:
        s_private = sa.combine({roster.point(q): sa.share_int(a["s"][d]) for q, a in answers.items()}, t)
        for p in u3:
            noise = sa.prg_words(sa.agree(s_private, keys[p]["s"], "mask", ctx), size, k)
            total = total - noise if _sign(p, d, roster) > 0 else total + noise
    gone = tuple(p for p in clients if p not in u3)
    return Collected(setting.encoding.decode(total), u3, gone)
