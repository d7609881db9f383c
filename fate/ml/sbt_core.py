"""SecureBoost's arithmetic, shared by the federated protocol and the plaintext reference.

Gradients and hessians are fixed point with GH_FRAC_BITS fractional bits, the gradient
offset by +1 so both are non-negative (binary log loss: g = p - y in [-1, 1], h = p (1 - p)
in [0, 1/4]). One row is one integer record, lowest field first:

    record = 1 | h << c | (g + 1) << (c + hb)        c, hb, gb: bits for n rows' sums

so the sum of any set of records holds the set's count, hessian sum and offset gradient
sum, each in its own field, exactly. Every histogram entry, encrypted or not, is such a sum
of integers: the federated and the plaintext trees see bit-identical sums, hence identical
gains and splits. 24 fractional bits resolve 6e-8 per row (finer than XGBoost's float32
gradient pairs) and keep a record at 3 x ~40 bits for 100,000 rows.

Gains and leaf weights follow FATE 2.2's SBTSplitter: scores G^2 / (H + l2) with l1
soft-thresholding, truncated to 10 decimals; candidates failing min_leaf_node or
min_child_weight, or gaining under min_impurity_split, are out. A missing value goes to a
learned default direction: each threshold is tried with the node's missing rows on either
side (FATE 1.x's use_missing); a node without missing rows sends unseen ones to its larger child.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fate.ml.sbt_params import SBTParams

GH_FRAC_BITS = 24
ONE = 1 << GH_FRAC_BITS
TREE_DECIMALS = 10


@dataclass(frozen=True)
class GHLayout:
    rows: int
    count_bits: int
    h_bits: int
    g_bits: int

    @classmethod
    def for_rows(cls, rows: int) -> GHLayout:
        return cls(rows, rows.bit_length(), (rows * (ONE >> 2)).bit_length(), (rows * 2 * ONE).bit_length())

    @property
    def slot_bits(self) -> int:
        return self.count_bits + self.h_bits + self.g_bits

    @property
    def widths(self) -> tuple[int, int, int]:
        return self.count_bits, self.h_bits, self.g_bits


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def gradients(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-point (g + 1) and h per row for binary log loss, as int64."""
    p = sigmoid(scores)
    g = np.clip(p - labels, -1.0, 1.0)
    h = np.clip(p * (1.0 - p), 0.0, 0.25)
    return np.rint((g + 1.0) * ONE).astype(np.int64), np.rint(h * ONE).astype(np.int64)


def records(g_off: np.ndarray, h: np.ndarray, layout: GHLayout) -> list[int]:
    shift_h, shift_g = layout.count_bits, layout.count_bits + layout.h_bits
    return [1 | (hh << shift_h) | (gg << shift_g) for gg, hh in zip(g_off.tolist(), h.tolist(), strict=True)]


def decode(fields: np.ndarray) -> np.ndarray:
    """(count, h, g + 1 sums) fields -> (G, H, N) int64 rows, the offset removed exactly."""
    count, h, g_off = fields[:, 0], fields[:, 1], fields[:, 2]
    return np.stack([g_off - count * ONE, h, count], axis=1).astype(np.int64)


def sums(g_off: np.ndarray, h: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """(G, H, N) of a set of rows, exactly."""
    return np.array([int(g_off[rows].sum()) - len(rows) * ONE, int(h[rows].sum()), len(rows)], dtype=np.int64)


def bin_sums(bins: np.ndarray, g_off: np.ndarray, h: np.ndarray, n_bins: int) -> np.ndarray:
    """(n_bins + 1, 3) decoded sums per bin of one column over some rows; the missing bin last."""
    idx = np.where(bins < 0, n_bins, bins).astype(np.int64)
    count = np.bincount(idx, minlength=n_bins + 1)
    # float64 sums of integers stay exact below 2^53: 2^25 per row allows 2^28 rows.
    gs = np.rint(np.bincount(idx, weights=g_off, minlength=n_bins + 1)).astype(np.int64)
    hs = np.rint(np.bincount(idx, weights=h, minlength=n_bins + 1)).astype(np.int64)
    return np.stack([gs - count * ONE, hs, count], axis=1)


def candidates(per_bin: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cumulative sums for thresholds 0..B-2, missing sums) from per-bin sums (missing bin last)."""
    non_missing = per_bin[:-1]
    return np.cumsum(non_missing, axis=0)[:-1], per_bin[-1]


def _trunc(x: np.ndarray) -> np.ndarray:
    scale = 10.0**TREE_DECIMALS
    return np.floor(x * scale) / scale


def _l1(g: np.ndarray, l1: float) -> np.ndarray:
    if l1 == 0:
        return g
    return np.where(g > l1, g - l1, np.where(g < -l1, g + l1, 0.0))


def _score(g: np.ndarray, h: np.ndarray, p: SBTParams) -> np.ndarray:
    g, h = _trunc(g), _trunc(h)
    g = _l1(g, p.l1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(h == 0, np.nan, g * g / (h + p.l2))


def gains(left: np.ndarray, total: np.ndarray, p: SBTParams) -> np.ndarray:
    """Gain of each candidate (rows of `left` are (G, H, N) int sums); -inf when not allowed."""
    right = total[None, :] - left
    lg, lh = left[:, 0] / ONE, left[:, 1] / ONE
    rg, rh = right[:, 0] / ONE, right[:, 1] / ONE
    tg, th = np.array([total[0] / ONE]), np.array([total[1] / ONE])
    with np.errstate(invalid="ignore"):
        out = _trunc(_score(lg, lh, p) + _score(rg, rh, p) - _score(tg, th, p))
    bad = np.isnan(out) | (out < p.min_impurity_split)
    bad |= (left[:, 2] < p.min_leaf_node) | (right[:, 2] < p.min_leaf_node)
    bad |= (lh < p.min_child_weight) | (rh < p.min_child_weight)
    return np.where(bad, -np.inf, out)


@dataclass(frozen=True)
class Best:
    gain: float
    threshold: int  # left = bins <= threshold
    missing_left: bool
    left: tuple[int, int, int]  # (G, H, N) going left


def best_split(cum: np.ndarray, missing: np.ndarray, total: np.ndarray, p: SBTParams) -> Best | None:
    """The best threshold of one feature (first maximum: lowest threshold, missing right first)."""
    if len(cum) == 0:
        return None
    has_missing = missing[2] > 0
    left = np.concatenate([cum, cum + missing[None, :]]) if has_missing else cum
    g = gains(left, total, p)
    i = int(np.argmax(g))
    if g[i] == -np.inf:
        return None
    t = i % len(cum)
    chosen = left[i]
    # Without missing rows in the node, unseen missing values follow the larger child.
    missing_left = i >= len(cum) if has_missing else bool(chosen[2] >= total[2] - chosen[2])
    return Best(float(g[i]), t, missing_left, (int(chosen[0]), int(chosen[1]), int(chosen[2])))


def leaf_weight(total: np.ndarray, p: SBTParams) -> float:
    g = _l1(np.array([total[0] / ONE]), p.l1)[0]
    return float(_trunc(np.array([-(g / (total[1] / ONE + p.l2))]))[0])


def log_loss(labels: np.ndarray, scores: np.ndarray) -> float:
    """Mean binary cross-entropy of raw scores (computed stably from the logits)."""
    return float(np.mean(np.logaddexp(0.0, scores) - labels * scores))


def initial_score(labels: np.ndarray, p: SBTParams) -> float:
    """FATE 2.2 starts binary boosting at 0; with boost_from_average, at the prior log-odds."""
    if not p.boost_from_average:
        return 0.0
    rate = float(np.clip(np.mean(labels), 1e-12, 1 - 1e-12))
    return float(np.log(rate / (1.0 - rate)))
