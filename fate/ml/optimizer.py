"""Gradient-step rules of FATE's linear models, as the arbiter applies them.

FATE's arbiter decrypts the parties' gradients (the L2 term already added by each
party), turns them into one update with sgd / rmsprop / adam / adagrad /
nesterov-momentum sgd, and each party subtracts its slice. The learning rate decays
as lr / sqrt(1 + decay * t) (or lr / (1 + decay * t)) with t the zero-based epoch.
L1 is not part of the gradient: each party shrinks its own weights after the step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

METHODS = ("sgd", "rmsprop", "adam", "adagrad", "nesterov_momentum_sgd")
PENALTIES = ("L2", "L1", "none")


class OptimizerError(ValueError):
    """Optimizer parameters that FATE would refuse; `problems` lists each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = tuple(problems)


@dataclass(frozen=True)
class OptimizerParams:
    method: str = "rmsprop"
    learning_rate: float = 0.01
    penalty: str = "L2"
    alpha: float = 1.0
    decay: float = 1.0
    decay_sqrt: bool = True

    def __post_init__(self) -> None:
        problems = []
        if self.method not in METHODS:
            problems.append(f"optimizer {self.method!r} is not one of {', '.join(METHODS)}")
        if self.penalty not in PENALTIES:
            problems.append(f"penalty {self.penalty!r} is not one of {', '.join(PENALTIES)}")
        if not self.learning_rate > 0:
            problems.append(f"learning_rate must be > 0, got {self.learning_rate}")
        if self.alpha < 0:
            problems.append(f"alpha must be >= 0, got {self.alpha}")
        if self.decay < 0:
            problems.append(f"decay must be >= 0, got {self.decay}")
        if problems:
            raise OptimizerError(problems)


def decayed_rate(params: OptimizerParams, epoch: int) -> float:
    """The learning rate in effect during zero-based `epoch`."""
    scale = 1.0 + params.decay * epoch
    return params.learning_rate / (np.sqrt(scale) if params.decay_sqrt else scale)


def add_penalty_gradient(
    params: OptimizerParams, gradient: np.ndarray, weights: np.ndarray, fit_intercept: bool
) -> np.ndarray:
    """The L2 term alpha * w a party adds to its own gradient; the intercept (last) is not penalized."""
    if params.penalty != "L2":
        return gradient
    coef = weights[:-1] if fit_intercept else weights
    penalty = np.zeros_like(gradient, dtype=np.float64)
    penalty[: len(coef)] = params.alpha * coef
    return gradient + penalty


def penalty_loss(params: OptimizerParams, weights: np.ndarray, fit_intercept: bool) -> float:
    """The regularization part of the loss for one party's weights."""
    coef = weights[:-1] if fit_intercept else weights
    if params.penalty == "L2":
        return float(0.5 * params.alpha * np.dot(coef, coef))
    if params.penalty == "L1":
        return float(params.alpha * np.abs(coef).sum())
    return 0.0


class Optimizer:
    """Per-coordinate state of one training run, held by whoever applies the steps (the arbiter)."""

    def __init__(self, params: OptimizerParams) -> None:
        self.params = params
        self._m: np.ndarray | None = None
        self._v: np.ndarray | None = None
        self._beta1_power = 1.0
        self._beta2_power = 1.0

    def step(self, gradient: np.ndarray, epoch: int) -> np.ndarray:
        """The update `delta` (weights become w - delta) for this gradient in `epoch`."""
        lr = decayed_rate(self.params, epoch)
        g = np.asarray(gradient, dtype=np.float64)
        method = self.params.method
        if method == "sgd":
            return lr * g
        if self._m is None:
            self._m = np.zeros_like(g)
        if method == "rmsprop":
            self._m = 0.99 * self._m + 0.01 * np.square(g)
            return lr * g / np.sqrt(self._m + 1e-6)
        if method == "adagrad":
            self._m = self._m + np.square(g)
            return lr * g / (np.sqrt(self._m) + 1e-7)
        if method == "nesterov_momentum_sgd":
            velocity = 0.9 * self._m - lr * g
            delta = 0.9 * self._m - 1.9 * velocity
            self._m = velocity
            return delta
        # adam
        if self._v is None:
            self._v = np.zeros_like(g)
        self._beta1_power *= 0.9
        self._beta2_power *= 0.999
        self._m = 0.9 * self._m + 0.1 * g
        self._v = 0.999 * self._v + 0.001 * np.square(g)
        m_hat = self._m / (1.0 - self._beta1_power)
        v_hat = self._v / (1.0 - self._beta2_power)
        return lr * m_hat / (np.sqrt(v_hat) + 1e-8)


def apply_update(
    params: OptimizerParams, weights: np.ndarray, delta: np.ndarray, fit_intercept: bool, epoch: int
) -> np.ndarray:
    """A party's new weights after the arbiter's update; L1 soft-thresholds the coefficients here.

    FATE shrinks by alpha * lr / sqrt(t) and divides by zero in the first epoch; we count
    epochs from one in that formula instead.
    """
    updated = np.asarray(weights, dtype=np.float64) - np.asarray(delta, dtype=np.float64)
    if params.penalty != "L1":
        return updated
    shrink = params.alpha * params.learning_rate / np.sqrt(epoch + 1)
    end = len(updated) - 1 if fit_intercept else len(updated)
    coef = updated[:end]
    updated[:end] = np.sign(coef) * np.maximum(np.abs(coef) - shrink, 0.0)
    return updated
