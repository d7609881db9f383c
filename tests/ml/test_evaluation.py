from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics

from fate.ml.evaluation import EvaluationError, auc, evaluate_binary, ks, roc_curve


def _scores(seed: int, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n).astype(float)
    # Rounded so that many scores tie, which is where AUC implementations disagree.
    scores = np.round(rng.random(n) * 0.6 + 0.4 * labels, 2)
    return labels, scores


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auc_and_roc_match_sklearn_with_ties(seed: int) -> None:
    labels, scores = _scores(seed)
    assert auc(labels, scores) == pytest.approx(metrics.roc_auc_score(labels, scores), abs=1e-12)
    fpr, tpr, _ = metrics.roc_curve(labels, scores, drop_intermediate=False)
    curve = roc_curve(labels, scores)
    np.testing.assert_allclose(curve.fpr, fpr)
    np.testing.assert_allclose(curve.tpr, tpr)
    assert ks(labels, scores) == pytest.approx(float(np.max(tpr - fpr)))


def test_threshold_metrics_match_sklearn() -> None:
    labels, scores = _scores(5)
    report = evaluate_binary(labels, scores, threshold=0.5, loss=[0.7, 0.6])
    predicted = (scores >= 0.5).astype(int)
    assert report.accuracy == pytest.approx(metrics.accuracy_score(labels, predicted))
    assert report.precision == pytest.approx(metrics.precision_score(labels, predicted))
    assert report.recall == pytest.approx(metrics.recall_score(labels, predicted))
    as_dict = report.as_dict()
    assert as_dict["loss"] == [0.7, 0.6]
    assert len(as_dict["roc"]["fpr"]) == len(as_dict["roc"]["thresholds"])  # type: ignore[index]


def test_minus_one_labels_count_as_negative() -> None:
    labels, scores = _scores(3)
    assert auc(np.where(labels > 0, 1, -1), scores) == auc(labels, scores)


@pytest.mark.parametrize(
    ("labels", "scores", "message"),
    [
        ([], [], "no rows"),
        ([0, 1], [0.5], "2 labels but 1 scores"),
        ([1, 1], [0.2, 0.3], "single class"),
        ([0, 1], [0.2, float("nan")], "NaN"),
    ],
)
def test_bad_input_is_a_clear_error(labels: list[float], scores: list[float], message: str) -> None:
    with pytest.raises(EvaluationError, match=message):
        evaluate_binary(labels, scores)


@pytest.mark.parametrize("seed", [0, 3])
def test_confusion_matrix_gain_and_lift_match_a_direct_count(seed: int) -> None:
    from fate.ml.evaluation import gain_curve

    labels, scores = _scores(seed)
    report = evaluate_binary(labels, scores, threshold=0.55)
    cm = report.confusion
    assert cm is not None
    called, positive = scores >= 0.55, labels > 0
    assert (cm.tp, cm.fp, cm.tn, cm.fn) == (
        int(np.sum(called & positive)), int(np.sum(called & ~positive)),
        int(np.sum(~called & ~positive)), int(np.sum(~called & positive)))
    curve = gain_curve(labels, scores)
    assert curve.depth[0] == curve.gain[0] == 0.0 and curve.depth[-1] == curve.gain[-1] == 1.0
    assert len(curve.lift) == len(curve.depth) - 1 <= 100 and curve.lift[-1] == pytest.approx(1.0)
    assert list(curve.depth) == sorted(curve.depth) and list(curve.gain) == sorted(curve.gain)
    for depth, gain, lift in zip(curve.depth[1:], curve.gain[1:], curve.lift, strict=True):
        # Every point is a threshold: the rows scoring at or above it are exactly `depth` of all.
        cut = np.sort(scores)[::-1][round(depth * len(scores)) - 1]
        taken = scores >= cut
        assert taken.mean() == pytest.approx(depth)
        assert gain == pytest.approx(np.sum(taken & positive) / positive.sum())
        assert lift == pytest.approx((np.sum(taken & positive) / taken.sum()) / positive.mean())
    as_dict = report.as_dict()
    assert as_dict["confusion_matrix"] == {"threshold": 0.55, "tp": cm.tp, "fp": cm.fp, "tn": cm.tn, "fn": cm.fn}
    assert as_dict["gain"] == {"depth": list(curve.depth), "gain": list(curve.gain)}
    assert as_dict["lift"] == {"depth": list(curve.depth[1:]), "lift": list(curve.lift)}
    # The keys the board and older readers know are all still there.
    assert {"auc", "ks", "accuracy", "precision", "recall", "threshold", "roc", "loss"} <= set(as_dict)
