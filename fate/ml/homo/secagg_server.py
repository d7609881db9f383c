"""The aggregator's side of secure aggregation (the arbiter): relays, waits, unmasks the sum.

It keeps the clients' public keys across rounds (unless the setting rekeys every round)
and, per round, relays the sealed shares, collects masked inputs, asks the survivors for
the shares it needs and removes the masks. Clients that miss a phase's deadline are left
out of the round; the caller does not invite them again.
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
from fate.ml.homo.secagg import (
    Roster,
    SecAggAbort,
    Setting,
    mask,
    neighborhoods,
    sign,
    tag,
)


@dataclass(frozen=True)
class Collected:
    total: np.ndarray  # the decoded sum of the included clients' inputs
    included: tuple[int, ...]  # whose inputs the sum holds
    dropped: tuple[int, ...]  # invited clients left out of this round


@dataclass
class SecAggServer:
    fed: Federation
    prefix: str
    setting: Setting
    log: Callable[[str], None] = lambda message: None
    roster: Roster = field(init=False)
    graph: dict[int, frozenset[int]] = field(init=False)
    keys: dict[int, dict[str, bytes]] = field(default_factory=dict, init=False)
    # Sealed shares each dealer dealt for the coming round (dealer -> holder -> ciphertext), and
    # the peers each dealer's packed mask seeds are for (roster order): the next round's members.
    deals: dict[int, dict[int, bytes]] = field(default_factory=dict, init=False)
    dealt_peers: dict[int, tuple[int, ...]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.roster = Roster.of(self.fed)
        self.graph = neighborhoods(self.roster.order, self.setting.neighbors, self.setting.context)

    def _gather(self, round_no: int, phase: str, parties: Sequence[int]) -> dict[int, Any]:
        deadline = time.monotonic() + self.setting.timeout
        got = {}
        for p in parties:
            try:
                got[p] = self.fed.get(tag(self.prefix, round_no, phase), self.roster.roles[p], p,
                                      timeout=max(0.0, deadline - time.monotonic()))
            except TransportError as err:
                self.log(f"round {round_no}: party {p} dropped in phase {phase}: {err}")
        return got

    def _tell(self, round_no: int, phase: str, clients: Sequence[int], message: Callable[[int], Any]) -> None:
        for p in clients:
            self.fed.remote(message(p), tag(self.prefix, round_no, phase), self.roster.roles[p], [p])

    def _need(self, got: Mapping[int, Any] | Sequence[int], round_no: int, phase: str) -> tuple[int, ...]:
        if len(got) < self.setting.threshold:
            raise SecAggAbort(f"round {round_no}: only {len(got)} clients in phase {phase}; "
                              f"the threshold is {self.setting.threshold}")
        return self.roster.sort(set(got))

    def round(self, round_no: int, clients: Sequence[int], size: int) -> Collected:
        """One round with `clients` (roster order) invited; the sum of those whose masked input arrived."""
        if self.setting.rekey or not self.deals:
            self._agree(round_no, clients)
        members = self._need([p for p in clients if p in self.deals], round_no, "dealing")
        deals, peers = self.deals, self.dealt_peers
        self.deals, self.dealt_peers = {}, {}
        self._tell(round_no, "fwd", clients, lambda p: {
            "members": list(members), "shares": {q: deals[q][p] for q in members if p in deals[q]}})
        masked = {q: v for q, v in self._gather(round_no, "y", members).items()
                  if isinstance(v, np.ndarray) and v.dtype == np.uint64 and v.shape == (size,)}
        u3 = self._need(masked, round_no, "masked input")
        dropped = tuple(p for p in members if p not in masked)
        self._tell(round_no, "ask", members, lambda p: {"survivors": list(u3), "dropped": list(dropped)})
        answers = self._gather(round_no, "shares", u3)
        refusals = {p: a["refused"] for p, a in answers.items() if isinstance(a, dict) and "refused" in a}
        if refusals:
            raise SecAggAbort(f"round {round_no}: clients refused to unmask: {refusals}")
        answers = {p: a for p, a in answers.items()
                   if isinstance(a, dict) and isinstance(a.get("b"), dict) and isinstance(a.get("s"), dict)}
        self._need(answers, round_no, "unmasking")
        total, noise = np.zeros(size, dtype=np.uint64), np.empty(size, dtype=np.uint64)
        for p in u3:
            np.add(total, masked[p], out=total)
            np.subtract(total, mask(self._rebuild(answers, "b", p, round_no)[0], size, self.setting, noise), out=total)
        for d in dropped:
            seeds = dict(zip(peers[d], self._rebuild(answers, "s", d, round_no, len(peers[d])), strict=True))
            for p in set(u3) & self.graph[d]:
                mask(seeds[p], size, self.setting, noise)
                (np.subtract if sign(p, d, self.roster) > 0 else np.add)(total, noise, out=total)
        if not self.setting.rekey:  # the next round's deals came with the answers
            for q, a in answers.items():
                near = set(u3) & self.graph[q]
                if isinstance(a.get("deal"), dict) and set(a["deal"]) == near:
                    self.deals[q], self.dealt_peers[q] = a["deal"], self.roster.sort(near)
        gone = tuple(p for p in clients if p not in u3)
        return Collected(self.setting.encoding.decode(total), u3, gone)

    def _agree(self, round_no: int, clients: Sequence[int]) -> None:
        """Keys (advertised once per job, or every round) and this round's deals."""
        if self.setting.rekey or not self.keys:
            advertised = self._gather(round_no, "adv", clients)
            self.keys = {p: advertised[p] for p in self._need(advertised, round_no, "advertise")}
        u1 = self._need([p for p in clients if p in self.keys], round_no, "advertise")
        self._tell(round_no, "keys", clients, lambda p: {q: self.keys[q] for q in u1})
        # A client whose sealed shares do not cover every neighbour holding keys is treated as dropped.
        for q, v in self._gather(round_no, "cts", u1).items():
            if isinstance(v, dict) and set(v) == set(u1) & self.graph[q]:
                self.deals[q], self.dealt_peers[q] = v, self.roster.sort(set(u1) & self.graph[q])

    def _rebuild(self, answers: Mapping[int, Any], kind: str, owner: int, round_no: int,
                 count: int = 1) -> list[bytes]:
        """A client's b (kind "b") or its `count` packed mask seeds ("s") from its holders' revealed shares."""
        shares = {self.roster.point(q): a[kind][owner] for q, a in answers.items() if owner in a[kind]}
        t = self.setting.threshold
        if len(shares) < t:
            raise SecAggAbort(f"round {round_no}: only {len(shares)} of party {owner}'s neighbours answered; "
                              f"its {'self-mask seed' if kind == 'b' else 'mask seeds'} need {t}")
        if kind == "b":
            return [sa.combine({x: sa.share_int(v) for x, v in shares.items()}, t)]
        return sa.combine_packed(shares, t, count)
