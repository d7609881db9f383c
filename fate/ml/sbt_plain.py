"""SecureBoost on joined plaintext data: the reference the federated protocol must reproduce.

Same binning per column, same fixed-point gradients, same tree growth (fate.ml.sbt_grow);
host histograms are summed in the clear from the hosts' bins instead of through Paillier.
Tests assert that the federated guest grows the same trees (same party, feature, bin and
default direction at every node, same leaf weights). No party ever runs this.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fate.ml.binning import Binned, bin_columns
from fate.ml.sbt_core import bin_sums, candidates, gradients, initial_score, log_loss
from fate.ml.sbt_grow import Ask, FeatureHist, Tree, grow_tree
from fate.ml.sbt_params import SBTParams


class PlainHosts:
    """HostSide over the hosts' binned columns, in the clear; group j is host column j."""

    def __init__(self, hosts: Sequence[Binned]) -> None:
        self.hosts = hosts
        self.g_off = np.zeros(0, dtype=np.int64)
        self.h = np.zeros(0, dtype=np.int64)
        self.next_id = [0] * len(hosts)

    def histograms(self, build: Sequence[tuple[int, np.ndarray]]) -> list[dict[int, list[FeatureHist]]]:
        out = []
        for binned in self.hosts:
            per_node = {}
            for node, rows in build:
                per_node[node] = [
                    candidates(bin_sums(binned.bins[rows, j], self.g_off[rows], self.h[rows], n_bins))
                    for j, n_bins in enumerate(binned.bin_counts)
                ]
            out.append(per_node)
        return out

    def assign(self, asks: dict[int, list[Ask]]) -> dict[int, list[tuple[np.ndarray, int]]]:
        out: dict[int, list[tuple[np.ndarray, int]]] = {}
        for host, mine in asks.items():
            for ask in mine:
                column = self.hosts[host].bins[ask.rows, ask.group]
                left = np.where(column < 0, ask.missing_left, column <= ask.threshold)
                out.setdefault(host, []).append((left, self.next_id[host]))
                self.next_id[host] += 1
        return out


@dataclass(frozen=True, eq=False)
class PlainFit:
    trees: tuple[Tree, ...]
    scores: np.ndarray  # raw training scores (logits)
    loss: tuple[float, ...]


def fit_plain(guest: np.ndarray, hosts: Sequence[np.ndarray], labels: np.ndarray, p: SBTParams) -> PlainFit:
    guest_bins = bin_columns(guest, "sbt", p.max_bin)
    side = PlainHosts([bin_columns(x, "sbt", p.max_bin) for x in hosts])
    scores = np.full(len(labels), initial_score(labels, p))
    trees, losses = [], []
    for _ in range(p.num_trees):
        g_off, h = gradients(scores, labels)
        side.g_off, side.h = g_off, h
        tree = grow_tree(guest_bins, g_off, h, p, side, len(hosts))
        scores = scores + p.learning_rate * tree.row_weights(len(labels))
        trees.append(tree)
        losses.append(log_loss(labels, scores))
    return PlainFit(tuple(trees), scores, tuple(losses))
