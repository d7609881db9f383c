from __future__ import annotations

import numpy as np
import pytest

from fate.ml.optimizer import (
    Optimizer,
    OptimizerError,
    OptimizerParams,
    add_penalty_gradient,
    apply_update,
    decayed_rate,
    penalty_loss,
)


def test_learning_rate_decays_with_the_square_root_of_the_epoch() -> None:
    params = OptimizerParams(learning_rate=0.15)
    assert [decayed_rate(params, t) for t in range(3)] == pytest.approx([0.15, 0.15 / np.sqrt(2), 0.15 / np.sqrt(3)])
    linear = OptimizerParams(learning_rate=0.15, decay=0.5, decay_sqrt=False)
    assert decayed_rate(linear, 2) == pytest.approx(0.15 / 2.0)


def test_sgd_step_is_rate_times_gradient() -> None:
    opt = Optimizer(OptimizerParams(method="sgd", learning_rate=0.1))
    np.testing.assert_allclose(opt.step(np.array([1.0, -2.0]), epoch=3), 0.1 / 2 * np.array([1.0, -2.0]))


def test_rmsprop_and_adam_first_steps_follow_the_gradient_sign() -> None:
    grad = np.array([0.3, -0.02, 5.0])
    rms = Optimizer(OptimizerParams(method="rmsprop", learning_rate=0.15)).step(grad, 0)
    # m = 0.01 g^2, so the first step is about lr * g / (0.1 |g|) = 1.5 sign(g) for |g| >> 1e-2.
    np.testing.assert_allclose(rms, 0.15 * grad / np.sqrt(0.01 * grad**2 + 1e-6))
    adam = Optimizer(OptimizerParams(method="adam", learning_rate=0.1)).step(grad, 0)
    np.testing.assert_allclose(adam, 0.1 * np.sign(grad), rtol=1e-6)


def test_state_accumulates_across_steps() -> None:
    opt = Optimizer(OptimizerParams(method="adagrad", learning_rate=1.0, decay=0.0))
    opt.step(np.array([3.0]), 0)
    np.testing.assert_allclose(opt.step(np.array([4.0]), 1), 4.0 / (5.0 + 1e-7))
    nesterov = Optimizer(OptimizerParams(method="nesterov_momentum_sgd", learning_rate=1.0, decay=0.0))
    np.testing.assert_allclose(nesterov.step(np.array([1.0]), 0), 1.9)


def test_l2_is_added_to_the_gradient_but_not_to_the_intercept() -> None:
    params = OptimizerParams(penalty="L2", alpha=0.5)
    weights = np.array([2.0, -4.0, 10.0])
    np.testing.assert_allclose(add_penalty_gradient(params, np.zeros(3), weights, True), [1.0, -2.0, 0.0])
    np.testing.assert_allclose(add_penalty_gradient(params, np.zeros(3), weights, False), [1.0, -2.0, 5.0])
    assert penalty_loss(params, weights, True) == pytest.approx(0.25 * 20)


def test_l1_soft_thresholds_coefficients_after_the_step() -> None:
    params = OptimizerParams(method="sgd", penalty="L1", alpha=1.0, learning_rate=0.1)
    updated = apply_update(params, np.array([0.5, -0.05, 3.0]), np.zeros(3), fit_intercept=True, epoch=0)
    np.testing.assert_allclose(updated, [0.4, 0.0, 3.0])
    assert add_penalty_gradient(params, np.ones(2), np.ones(2), False) is not None
    assert penalty_loss(params, np.array([1.0, -2.0]), False) == pytest.approx(3.0)


def test_bad_params_name_every_problem() -> None:
    with pytest.raises(OptimizerError) as err:
        OptimizerParams(method="lbfgs", penalty="L3", learning_rate=0.0, alpha=-1.0)
    text = str(err.value)
    for fragment in ("lbfgs", "L3", "learning_rate", "alpha"):
        assert fragment in text
