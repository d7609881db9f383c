"""Binary-classification metrics as plain data: what the evaluation component reports.

Scores are predicted probabilities of the positive class, labels are 0/1 (or -1/+1:
anything > 0 counts as positive). Curves are returned as lists so they travel
through JSON and msgpack unchanged. Besides the ROC (whose thresholds also give the
KS curve) a report holds the gain and lift curves and the confusion matrix at the
threshold, which the board draws as FATE-Board does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


class EvaluationError(ValueError):
    """Scores and labels that cannot be evaluated (empty, mismatched, one class only)."""


@dataclass(frozen=True)
class RocCurve:
    fpr: tuple[float, ...]
    tpr: tuple[float, ...]
    thresholds: tuple[float, ...]  # score at or above which a row is called positive


@dataclass(frozen=True)
class Confusion:
    """Rows by actual class and by the call at `threshold` (a score at or above it is positive)."""

    threshold: float
    tp: int
    fp: int
    tn: int
    fn: int


@dataclass(frozen=True)
class GainCurve:
    """Cumulative gain and lift against depth (the share of rows called positive, best scores first).

    One point per percentile of depth: the first threshold whose depth reaches it (rows with tied
    scores are called together, so a point may sit past its percentile). Gain is the share of all
    positives found by then; lift is the precision there over the positives' base rate. `depth`
    and `gain` start at the origin; `lift` (undefined there) belongs to `depth[1:]`.
    """

    depth: tuple[float, ...]
    gain: tuple[float, ...]
    lift: tuple[float, ...]


@dataclass(frozen=True)
class BinaryReport:
    auc: float
    ks: float
    accuracy: float
    precision: float
    recall: float
    threshold: float
    roc: RocCurve
    loss: tuple[float, ...] = ()  # training loss per epoch, when the model reported one
    confusion: Confusion | None = None
    gains: GainCurve | None = None

    def summary(self) -> dict[str, float]:
        return {
            "auc": self.auc,
            "ks": self.ks,
            "accuracy": self.accuracy,
            "precision": self.precision,
            "recall": self.recall,
        }

    def as_dict(self) -> dict[str, object]:
        return {
            **self.summary(),
            "threshold": self.threshold,
            "roc": {"fpr": list(self.roc.fpr), "tpr": list(self.roc.tpr), "thresholds": list(self.roc.thresholds)},
            "loss": list(self.loss),
            **({"confusion_matrix": vars(self.confusion).copy()} if self.confusion else {}),
            **({"gain": {"depth": list(self.gains.depth), "gain": list(self.gains.gain)},
                "lift": {"depth": list(self.gains.depth[1:]), "lift": list(self.gains.lift)}}
               if self.gains else {}),
        }


def _checked(labels: np.ndarray | Sequence[float], scores: np.ndarray | Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels, dtype=np.float64).ravel() > 0
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise EvaluationError(f"{y.size} labels but {s.size} scores")
    if y.size == 0:
        raise EvaluationError("nothing to evaluate: no rows")
    if not np.isfinite(s).all():
        raise EvaluationError("scores contain NaN or infinity")
    if y.all() or not y.any():
        raise EvaluationError("labels hold a single class; AUC and KS need both")
    return y, s


def _cumulative(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True and false positives at each distinct score (highest first), and those scores."""
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    # The last row of each run of equal scores closes that threshold's point.
    closes = np.r_[np.flatnonzero(np.diff(s_sorted)), s_sorted.size - 1]
    tp = np.cumsum(y_sorted)[closes]
    return tp, (closes + 1) - tp, s_sorted[closes]


def roc_curve(labels: np.ndarray | Sequence[float], scores: np.ndarray | Sequence[float]) -> RocCurve:
    """One point per distinct score (highest first), starting at (0, 0)."""
    y, s = _checked(labels, scores)
    tp, fp, cuts = _cumulative(y, s)
    tpr = np.r_[0.0, tp / y.sum()]
    fpr = np.r_[0.0, fp / (~y).sum()]
    thresholds = np.r_[np.inf, cuts]
    return RocCurve(tuple(fpr.tolist()), tuple(tpr.tolist()), tuple(thresholds.tolist()))


def gain_curve(labels: np.ndarray | Sequence[float], scores: np.ndarray | Sequence[float],
               points: int = 100) -> GainCurve:
    """Gain and lift at (at most) `points` depths; see GainCurve."""
    y, s = _checked(labels, scores)
    tp, fp, _ = _cumulative(y, s)
    called = tp + fp
    picks = np.unique(np.searchsorted(called, np.ceil(np.arange(1, points + 1) * y.size / points)))
    tp, called = tp[picks], called[picks]
    base_rate = y.sum() / y.size
    return GainCurve(
        depth=(0.0, *(called / y.size).tolist()),
        gain=(0.0, *(tp / y.sum()).tolist()),
        lift=tuple((tp / called / base_rate).tolist()),
    )


def _area(curve: RocCurve) -> float:
    fpr, tpr = np.asarray(curve.fpr), np.asarray(curve.tpr)
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1])) / 2.0)


def auc(labels: np.ndarray | Sequence[float], scores: np.ndarray | Sequence[float]) -> float:
    """Area under the ROC curve (ties count one half), via the trapezoid rule over roc_curve."""
    return _area(roc_curve(labels, scores))


def ks(labels: np.ndarray | Sequence[float], scores: np.ndarray | Sequence[float]) -> float:
    """Kolmogorov-Smirnov statistic: the largest gap between TPR and FPR over all thresholds."""
    curve = roc_curve(labels, scores)
    return float(np.max(np.subtract(curve.tpr, curve.fpr)))


def evaluate_binary(
    labels: np.ndarray | Sequence[float],
    scores: np.ndarray | Sequence[float],
    threshold: float = 0.5,
    loss: Sequence[float] = (),
) -> BinaryReport:
    y, s = _checked(labels, scores)
    predicted = s >= threshold
    true_pos = int(np.sum(predicted & y))
    called = int(predicted.sum())
    curve = roc_curve(y, s)
    positives = int(y.sum())
    confusion = Confusion(float(threshold), true_pos, called - true_pos, int((~y).sum()) - (called - true_pos),
                          positives - true_pos)
    return BinaryReport(
        auc=_area(curve),
        ks=float(np.max(np.subtract(curve.tpr, curve.fpr))),
        accuracy=float(np.mean(predicted == y)),
        precision=true_pos / called if called else 0.0,
        recall=true_pos / int(y.sum()),
        threshold=float(threshold),
        roc=curve,
        loss=tuple(float(v) for v in loss),
        confusion=confusion,
        gains=gain_curve(y, s),
    )
