"""The plaintext oracle reproduces FATE's published numbers; the encrypted protocol is checked against it."""

from __future__ import annotations

import pytest
from sklearn.linear_model import LogisticRegression

from fate.ml.evaluation import auc
from fate.ml.lr_params import parse_params
from fate.ml.plain_lr import fit_plain
from tests.ml.conftest import Breast

FLOW_TEST = {
    "max_iter": 5,
    "optimizer": "rmsprop",
    "learning_rate": 0.15,
    "alpha": 0.01,
    "penalty": "L2",
    "batch_size": -1,
    "init_param": {"init_method": "zeros"},
}
BENCHMARK = {
    "max_iter": 30,
    "optimizer": "rmsprop",
    "learning_rate": 0.15,
    "alpha": 0.01,
    "penalty": "L2",
    "batch_size": 5000,
    "init_param": {"init_method": "random_uniform", "random_seed": 42},
}


def test_flow_test_settings_give_fates_published_auc(breast: Breast) -> None:
    fit = fit_plain([breast.guest, breast.host], breast.labels, parse_params(FLOW_TEST))
    assert fit.iterations == 5
    assert auc(breast.labels, fit.decision([breast.guest, breast.host])) == pytest.approx(0.975186, abs=1e-6)


def test_benchmark_settings_are_close_to_sklearn(breast: Breast) -> None:
    fit = fit_plain([breast.guest, breast.host], breast.labels, parse_params(BENCHMARK))
    ours = auc(breast.labels, fit.decision([breast.guest, breast.host]))
    central = LogisticRegression().fit(breast.joined, breast.labels).decision_function(breast.joined)
    assert abs(ours - auc(breast.labels, central)) < 0.01


def test_mini_batches_and_convergence(breast: Breast) -> None:
    params = parse_params({**BENCHMARK, "batch_size": 100, "max_iter": 200, "tol": 1e-3})
    fit = fit_plain([breast.guest, breast.host], breast.labels, params)
    assert fit.converged and fit.iterations < 200
    assert abs(fit.loss[-1] - fit.loss[-2]) < 1e-3
