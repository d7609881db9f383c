"""Binary-classification metrics as plain data: what the evaluation component reports.

Scores are predicted probabilities of the positive class, labels are 0/1 (or -1/+1:
anything > 0 counts as positive). Curves are returned as lists so they travel
through JSON and msgpack unchanged.
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
class BinaryReport:
    auc: float
    ks: float
    accuracy: float
    precision: float
    recall: float
    threshold: float
    roc: RocCurve
    loss: tuple[float, ...] = ()  # training loss per epoch, when the model reported one

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


def roc_curve(labels: np.ndarray | Sequence[float], scores: np.ndarray | Sequence[float]) -> RocCurve:
    """One point per distinct score (highest first), starting at (0, 0)."""
    y, s = _checked(labels, scores)
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    # The last row of each run of equal scores closes that threshold's point.
    closes = np.r_[np.flatnonzero(np.diff(s_sorted)), s_sorted.size - 1]
    tp = np.cumsum(y_sorted)[closes]
    fp = (closes + 1) - tp
    tpr = np.r_[0.0, tp / y.sum()]
    fpr = np.r_[0.0, fp / (~y).sum()]
    thresholds = np.r_[np.inf, s_sorted[closes]]
    return RocCurve(tuple(fpr.tolist()), tuple(tpr.tolist()), tuple(thresholds.tolist()))


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
    return BinaryReport(
        auc=_area(curve),
        ks=float(np.max(np.subtract(curve.tpr, curve.fpr))),
        accuracy=float(np.mean(predicted == y)),
        precision=true_pos / called if called else 0.0,
        recall=true_pos / int(y.sum()),
        threshold=float(threshold),
        roc=curve,
        loss=tuple(float(v) for v in loss),
    )
