"""A host's encrypted SecureBoost histograms: ciphertext sums per (node, feature, bin), then per threshold.

A sum of rows is the product of their ciphertexts mod n^2, one multiplication per row and
feature: that is the whole cost of SecureBoost on a wide host. Features are taken in pairs:
rows are first multiplied into cells of (bin of feature a, bin of feature b), then each
cell into its bin of a and its bin of b. That costs rows + 2 x cells multiplications per
pair instead of 2 x rows, almost halving the work when rows outnumber the (max_bin + 1)^2
cells. Rows are split across the party's compute backend's workers (fate.compute); their partial
sums multiply together (`merge_cells`).

What leaves the host per node and feature are the cumulative sums "bins <= t" for every
threshold t and the missing bin's sum, in the host's per-tree shuffled feature order. A bin
with no row of the node adds nothing: its threshold repeats the previous one, so the host
marks it absent instead of sending it (the guest could tell from the equal sums anyway).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Optional

import numpy as np
from gmpy2 import mpz

from fate.ml.sbt_grow import FeatureHist

if TYPE_CHECKING:
    from fate.compute.contract import ComputeBackend

Cell = Optional["mpz"]


def _products(cts: Sequence[mpz], keys: np.ndarray, nsquare: mpz) -> tuple[list[int], list[mpz]]:
    """Product of the ciphertexts sharing each key (sorted keys, their products)."""
    if not len(keys):  # no rows (an empty node, or a worker's empty share): no cells
        return [], []
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]]).tolist()
    ends = [*starts[1:], len(ordered)]
    rows = [cts[i] for i in order.tolist()]
    out = []
    for s, e in zip(starts, ends, strict=True):
        acc = rows[s]
        for c in rows[s + 1 : e]:
            acc = acc * c % nsquare
        out.append(acc)
    return ordered[starts].tolist(), out


def _into(table: list[Cell], index: int, value: mpz, nsquare: mpz) -> None:
    held = table[index]
    table[index] = value if held is None else held * value % nsquare


def task_hist(nsquare: mpz, slots: int, n_nodes: int, cts: Sequence[mpz], bins: np.ndarray,
              nodes: np.ndarray) -> list[Cell]:
    """Sums per (node, feature, bin slot), flat; `bins` has the missing bin as slot `slots - 1`. A pool task."""
    n_features = bins.shape[1]
    out: list[Cell] = [None] * (n_nodes * n_features * slots)
    base = nodes.astype(np.int64)
    for a in range(0, n_features, 2):
        if a + 1 < n_features:
            keys = (base * slots + bins[:, a]) * slots + bins[:, a + 1]
            cell_keys, cells = _products(cts, keys, nsquare)
            for key, value in zip(cell_keys, cells, strict=True):
                node_bin_a, bin_b = divmod(key, slots)
                node, bin_a = divmod(node_bin_a, slots)
                _into(out, (node * n_features + a) * slots + bin_a, value, nsquare)
                _into(out, (node * n_features + a + 1) * slots + bin_b, value, nsquare)
        else:
            cell_keys, cells = _products(cts, base * slots + bins[:, a], nsquare)
            for key, value in zip(cell_keys, cells, strict=True):
                node, bin_a = divmod(key, slots)
                out[(node * n_features + a) * slots + bin_a] = value
    return out


def merge_cells(partials: Sequence[list[Cell]], nsquare: mpz) -> list[Cell]:
    """Cell-wise products of partial histograms over disjoint rows (a backend's workers' answers)."""
    out = list(partials[0])
    for part in partials[1:]:
        for i, value in enumerate(part):
            if value is not None:
                _into(out, i, value, nsquare)
    return out


def bin_sums(nsquare: mpz, cts: Sequence[mpz], bins: np.ndarray, build: Sequence[np.ndarray], slots: int,
             compute: ComputeBackend | None = None) -> list[Cell]:
    """Encrypted sums per (build node, feature, slot) over the rows of each build node."""
    rows = np.concatenate(build) if build else np.zeros(0, dtype=np.int64)
    nodes = np.concatenate([np.full(len(r), k, dtype=np.int64) for k, r in enumerate(build)]) if build else rows
    codes = np.where(bins[rows] < 0, slots - 1, bins[rows]).astype(np.int64)
    picked = [cts[i] for i in rows.tolist()]
    if compute is None:
        return task_hist(nsquare, slots, len(build), picked, codes, nodes)
    return compute.histogram(nsquare, slots, len(build), picked, codes, nodes)


def threshold_entries(cells: list[Cell], n_nodes: int, n_bins: Sequence[int], order: Sequence[int], slots: int,
                      nsquare: mpz) -> tuple[list[mpz], list[bool]]:
    """Per node, per feature in `order`: cumulative sums for thresholds 0..B-2 and the missing sum.

    Absent entries (an empty bin's threshold, an empty missing bin) are skipped and marked False.
    """
    entries: list[mpz] = []
    present: list[bool] = []
    n_features = len(n_bins)
    for node in range(n_nodes):
        for j in order:
            base = (node * n_features + j) * slots
            running: Cell = None
            for b in range(n_bins[j] - 1):
                value = cells[base + b]
                if value is None:
                    present.append(False)
                    continue
                running = value if running is None else running * value % nsquare
                entries.append(running)
                present.append(True)
            missing = cells[base + slots - 1]
            present.append(missing is not None)
            if missing is not None:
                entries.append(missing)
    return entries, present


def feature_hists(decoded: np.ndarray, present: np.ndarray, thresholds: Sequence[int],
                  n_nodes: int) -> list[list[FeatureHist]]:
    """The guest's side: per node, per group (cum (T, 3), missing (3,)), absent entries filled forward."""
    out: list[list[FeatureHist]] = []
    at, flag = 0, 0
    for _ in range(n_nodes):
        groups: list[FeatureHist] = []
        for t_count in thresholds:
            cum = np.zeros((t_count, 3), dtype=np.int64)
            last = np.zeros(3, dtype=np.int64)
            for t in range(t_count):
                if present[flag]:
                    last = decoded[at]
                    at += 1
                flag += 1
                cum[t] = last
            missing = np.zeros(3, dtype=np.int64)
            if present[flag]:
                missing = decoded[at]
                at += 1
            flag += 1
            groups.append((cum, missing))
        out.append(groups)
    if at != len(decoded) or flag != len(present):
        raise ValueError("histogram entries do not match their presence flags")
    return out
