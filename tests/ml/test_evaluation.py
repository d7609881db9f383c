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
