"""Growing one SecureBoost tree on the guest, layer by layer; where host histograms come from is pluggable.

The guest holds labels, gradients and its own features. Per layer it needs, for each node,
every host feature's cumulative (G, H, N) per threshold, and for a node split on a host
feature, which of its rows go left. `HostSide` answers both: the federated protocol
(fate.ml.sbt_guest) through Paillier and the hosts, the plaintext reference (fate.ml.sbt_plain)
from the joined data. Everything else, the histogram subtraction, split choice, leaves and
feature importance, is this one code, so the two grow identical trees exactly when the host
sums agree.

Histogram subtraction (FATE's hist_sub): of two siblings only the smaller is built; the
other is its parent minus it, on decrypted integers, so a host builds each row's
contribution about once per two layers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from fate.ml.binning import Binned
from fate.ml.sbt_core import Best, best_split, bin_sums, candidates, leaf_weight, sums
from fate.ml.sbt_params import SBTParams

GUEST = -1  # `party` of a guest split; host splits carry the host's index in role order

# One feature's view at one node: (cumulative sums per threshold (T, 3), missing sums (3,)).
FeatureHist = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class Ask:
    """A split the guest chose on a host feature: which of `rows` go left."""

    node: int
    rows: np.ndarray
    group: int  # the host's feature, as the host numbered it for this tree
    threshold: int
    missing_left: bool


class HostSide(Protocol):
    def histograms(self, build: Sequence[tuple[int, np.ndarray]]) -> list[dict[int, list[FeatureHist]]]:
        """Per host: node id -> per host feature group (cum, missing), for each (node id, rows) to build."""
        ...

    def assign(self, asks: dict[int, list[Ask]]) -> dict[int, list[tuple[np.ndarray, int]]]:
        """Per host index with asks, per ask: (bool mask over ask.rows, True = left; the host's opaque split id).

        Called once per layer, after `histograms`, even with no asks: every host moves on a layer.
        """
        ...


@dataclass
class TreeNode:
    id: int
    depth: int
    rows: np.ndarray
    total: np.ndarray  # (G, H, N) int64
    party: int | None = None  # GUEST, a host index, or None for a leaf
    feature: int = -1  # guest column index, or the host's group for this tree
    threshold: int = -1
    missing_left: bool = False
    gain: float = 0.0
    split_id: int = -1  # a host's opaque id
    left: int = -1
    right: int = -1
    weight: float = 0.0


@dataclass
class Tree:
    nodes: list[TreeNode] = field(default_factory=list)

    def leaf_of_rows(self, n_rows: int) -> np.ndarray:
        out = np.full(n_rows, -1, dtype=np.int64)
        for node in self.nodes:
            if node.party is None:
                out[node.rows] = node.id
        return out

    def row_weights(self, n_rows: int) -> np.ndarray:
        weights = np.zeros(n_rows)
        for node in self.nodes:
            if node.party is None:
                weights[node.rows] = node.weight
        return weights


def _guest_hists(binned: Binned, g_off: np.ndarray, h: np.ndarray, rows: np.ndarray) -> list[FeatureHist]:
    out = []
    for j, n_bins in enumerate(binned.bin_counts):
        out.append(candidates(bin_sums(binned.bins[rows, j], g_off[rows], h[rows], n_bins)))
    return out


def _best(node: TreeNode, own: list[FeatureHist], hosts: list[list[FeatureHist]],
          p: SBTParams) -> tuple[int, int, Best] | None:
    """(party, feature or group, best) over guest features first, then hosts in order; first maximum wins."""
    found: tuple[int, int, Best] | None = None
    for party, hists in [(GUEST, own), *enumerate(hosts)]:
        for j, (cum, missing) in enumerate(hists):
            best = best_split(cum, missing, node.total, p)
            if best is not None and (found is None or best.gain > found[2].gain):
                found = (party, j, best)
    return found


def grow_tree(binned: Binned, g_off: np.ndarray, h: np.ndarray, p: SBTParams, hosts: HostSide | None,
              n_hosts: int) -> Tree:
    n = len(g_off)
    root = TreeNode(0, 0, np.arange(n), sums(g_off, h, np.arange(n)))
    tree = Tree([root])
    active = [root]
    host_hist: dict[int, list[list[FeatureHist]]] = {}
    for depth in range(p.max_depth):
        if not active:
            break
        if n_hosts and hosts is not None:
            _host_layer(tree, active, host_hist, hosts, n_hosts, p.hist_sub)
        splits: dict[int, list[Ask]] = {}
        chosen: dict[int, tuple[int, int, Best]] = {}
        for node in active:
            found = None
            if len(node.rows) >= p.min_sample_split:
                own = _guest_hists(binned, g_off, h, node.rows)
                found = _best(node, own, host_hist.get(node.id, [[] for _ in range(n_hosts)]), p)
            if found is None:
                node.weight = leaf_weight(node.total, p)
                continue
            chosen[node.id] = found
            party, j, best = found
            if party != GUEST:
                splits.setdefault(party, []).append(Ask(node.id, node.rows, j, best.threshold, best.missing_left))
        replies = hosts.assign(splits) if n_hosts and hosts is not None else {}
        host_answers = {ask.node: answer for party, asks in splits.items()
                        for ask, answer in zip(asks, replies[party], strict=True)}
        nxt = []
        for node in active:
            if node.id not in chosen:
                continue
            party, j, best = chosen[node.id]
            if party == GUEST:
                column = binned.bins[node.rows, j]
                goes_left = np.where(column < 0, best.missing_left, column <= best.threshold)
            else:
                goes_left, node.split_id = host_answers[node.id]
            node.party, node.feature, node.threshold = party, j, best.threshold
            node.missing_left, node.gain = best.missing_left, best.gain
            for side, rows in (("left", node.rows[goes_left]), ("right", node.rows[~goes_left])):
                child = TreeNode(len(tree.nodes), depth + 1, rows, sums(g_off, h, rows))
                setattr(node, side, child.id)
                tree.nodes.append(child)
                nxt.append(child)
        active = nxt if depth + 1 < p.max_depth else []
        for child in nxt if depth + 1 == p.max_depth else []:
            child.weight = leaf_weight(child.total, p)
    return tree


def _host_layer(tree: Tree, active: list[TreeNode], host_hist: dict[int, list[list[FeatureHist]]],
                hosts: HostSide, n_hosts: int, hist_sub: bool) -> None:
    """Build the layer's host histograms: the smaller of two siblings, the other by subtraction."""
    by_id = {node.id: node for node in tree.nodes}
    build: list[TreeNode] = []
    derive: list[tuple[TreeNode, TreeNode, int]] = []  # (derived, built sibling, parent id)
    seen: set[int] = set()
    for node in active:
        if node.id in seen:
            continue
        parent = next((q for q in tree.nodes if q.left == node.id or q.right == node.id), None)
        if parent is None or not hist_sub or parent.id not in host_hist:
            build.append(node)
            seen.add(node.id)
            continue
        left, right = by_id[parent.left], by_id[parent.right]
        small, large = (left, right) if len(left.rows) <= len(right.rows) else (right, left)
        build.append(small)
        derive.append((large, small, parent.id))
        seen.update((left.id, right.id))
    answers = hosts.histograms([(node.id, node.rows) for node in build])
    for node in build:
        host_hist[node.id] = [answers[k][node.id] for k in range(n_hosts)]
    for large, small, parent_id in derive:
        host_hist[large.id] = [
            [(pc - sc, pm - sm) for (pc, pm), (sc, sm) in zip(parent, built, strict=True)]
            for parent, built in zip(host_hist[parent_id], host_hist[small.id], strict=True)
        ]
    keep = {node.id for node in active}
    for stale in [k for k in host_hist if k not in keep]:
        del host_hist[stale]
