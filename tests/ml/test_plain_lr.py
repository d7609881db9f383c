"""The plaintext oracle reproduces FATE's published numbers; the encrypted protocol is checked against it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from sklearn.linear_model import LogisticRegression

from fate.ml.evaluation import auc
from fate.ml.lr_params import parse_params
from fate.ml.plain_lr import fit_plain
from tests.ml.conftest import DATA, Breast

_spec = importlib.util.spec_from_file_location("make_breast", DATA / "make_breast.py")
assert _spec is not None and _spec.loader is not None
_make_breast = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_make_breast)
write_breast = _make_breast.write_breast

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


def test_shipped_breast_files_are_what_make_breast_writes(tmp_path: Path) -> None:
    guest, host = write_breast(tmp_path)
    assert guest.read_bytes() == (DATA / "breast_hetero_guest.csv").read_bytes()
    assert host.read_bytes() == (DATA / "breast_hetero_host.csv").read_bytes()
