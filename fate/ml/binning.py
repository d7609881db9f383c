"""Bins of one party's columns, FATE's way, and weight of evidence / information value from bin counts.

Split points come from exact quantiles: the value at 1-based rank floor(q * n) of the
column's non-missing values, which is what FATE's GK sketch returns when its error
(relative_error * n) is under one row, and within that many rows of it otherwise.
Bin b holds edges[b-1] < x <= edges[b]; the last bin is open above; a missing value
(NaN) gets its own bin, MISSING in the bin matrix.

- SecureBoost (`sbt_edges`): quantiles at q = 0, 1/max_bin, ..., (max_bin-1)/max_bin, duplicates
  dropped, the last one replaced by +inf (FATE 2.2's ensemble binning), so at most max_bin bins.
- hetero_feature_binning `quantile` (`quantile_edges`): q = 1/n_bins, ..., 1; `bucket`: equal widths
  between the column's min and max (FATE's qcut). The top edge is the max, so the last bin is open.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MISSING = -1


def _rank_values(values: np.ndarray, qs: Sequence[float]) -> np.ndarray:
    present = np.sort(values[~np.isnan(values)])
    if present.size == 0:
        return np.zeros(0)
    n = present.size
    ranks = [max(0, int(np.floor(q * n + 1e-9)) - 1) for q in qs]
    return present[np.minimum(ranks, n - 1)]


def sbt_edges(values: np.ndarray, max_bin: int) -> np.ndarray:
    """Inner split points (every bin's upper edge but the last) for SecureBoost."""
    points = np.unique(_rank_values(values, [i / max_bin for i in range(max_bin)]))
    return points[:-1]


def quantile_edges(values: np.ndarray, n_bins: int) -> np.ndarray:
    points = np.unique(_rank_values(values, [i / n_bins for i in range(1, n_bins + 1)]))
    return points[:-1]


def bucket_edges(values: np.ndarray, n_bins: int) -> np.ndarray:
    present = values[~np.isnan(values)]
    if present.size == 0:
        return np.zeros(0)
    low, high = float(present.min()), float(present.max())
    if high == low:
        return np.zeros(0)
    return np.unique(np.array([low + i * (high - low) / n_bins for i in range(1, n_bins)]))


def bucketize(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin index per value (edges[b-1] < x <= edges[b]); MISSING for NaN."""
    out = np.searchsorted(edges, values, side="left").astype(np.int16)
    out[np.isnan(values)] = MISSING
    return out


@dataclass(frozen=True, eq=False)
class Binned:
    """One party's columns as bin indices, with the edges that made them."""

    edges: tuple[np.ndarray, ...]  # per column, inner split points (ascending)
    bins: np.ndarray  # (rows, columns) int16, MISSING for NaN

    @property
    def bin_counts(self) -> list[int]:
        """Non-missing bins per column (len(edges) + 1)."""
        return [len(e) + 1 for e in self.edges]

    def has_missing(self) -> np.ndarray:
        return (self.bins == MISSING).any(axis=0) if self.bins.size else np.zeros(len(self.edges), dtype=bool)


def bin_columns(features: np.ndarray, edge_fn: str, n_bins: int) -> Binned:
    make = {"sbt": sbt_edges, "quantile": quantile_edges, "bucket": bucket_edges}[edge_fn]
    edges = tuple(make(features[:, j], n_bins) for j in range(features.shape[1]))
    return apply_edges(features, edges)


def apply_edges(features: np.ndarray, edges: Sequence[np.ndarray]) -> Binned:
    bins = np.empty(features.shape, dtype=np.int16)
    for j, e in enumerate(edges):
        bins[:, j] = bucketize(features[:, j], e)
    return Binned(tuple(np.asarray(e, dtype=np.float64) for e in edges), bins)


@dataclass(frozen=True)
class WoeIv:
    event: tuple[int, ...]  # per bin (missing bin last when present)
    non_event: tuple[int, ...]
    woe: tuple[float, ...]
    iv_per_bin: tuple[float, ...]
    iv: float


def woe_iv(event: np.ndarray, non_event: np.ndarray, total_event: int, total_non_event: int,
           adjustment_factor: float = 0.5) -> WoeIv:
    """FATE's WOE and IV: a bin with no (non-)events counts `adjustment_factor` of them.

    rate = count / total (adjustment_factor + 0 when the count is 0); woe = ln(event rate / non-event rate);
    iv per bin = (event rate - non-event rate) * woe; the feature's IV sums every bin. (FATE 2.2 sums
    `iv_array[1:]`, leaving out the first bin; we take that for a slip and sum them all.)
    """
    ev, ne = np.asarray(event, dtype=np.float64), np.asarray(non_event, dtype=np.float64)
    er = (ev == 0) * adjustment_factor + ev / max(total_event, 1)
    nr = (ne == 0) * adjustment_factor + ne / max(total_non_event, 1)
    woe = np.log(er / nr)
    iv = (er - nr) * woe
    return WoeIv(tuple(int(v) for v in ev), tuple(int(v) for v in ne), tuple(woe.tolist()), tuple(iv.tolist()),
                 float(iv.sum()))


def bin_label_counts(bins: np.ndarray, labels: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """(events, non-events) per bin of one column, the missing bin (index n_bins) last."""
    idx = np.where(bins == MISSING, n_bins, bins).astype(np.int64)
    events = np.bincount(idx, weights=labels, minlength=n_bins + 1)
    totals = np.bincount(idx, minlength=n_bins + 1)
    return np.rint(events).astype(np.int64), (totals - np.rint(events)).astype(np.int64)
