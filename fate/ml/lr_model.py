"""What hetero LR training and prediction share: weights, batches, the stored per-party model.

Each party stores only its own slice of the model: a host keeps its feature weights,
the guest its weights and the intercept, the arbiter nothing but the training history.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fate.ml.component import ComponentError
from fate.ml.lr_params import HeteroLRParams, InitParams, params_to_dict, parse_params

MODEL_FORMAT = "fate.hetero_lr/1"


def init_weights(init: InitParams, n_features: int, with_intercept: bool) -> np.ndarray:
    """Initial weights (intercept last when present), as FATE's init_param describes them."""
    size = n_features + (1 if with_intercept else 0)
    method = init.init_method
    if method == "zeros":
        return np.zeros(size)
    if method == "ones":
        return np.ones(size)
    if method == "const":
        return np.full(size, float(init.init_const))
    rng = np.random.default_rng(init.random_seed)
    if method == "random_normal":
        return rng.standard_normal(size)
    return rng.random(size)


def check_labels(labels: np.ndarray | None, n_rows: int) -> None:
    """The guest's labels: one per row, two classes (0/1 or -1/+1)."""
    if labels is None or len(labels) != n_rows:
        raise ComponentError("the guest's table must carry a label for every row")
    classes = np.unique(labels)
    if not set(classes.tolist()) <= {0.0, 1.0, -1.0} or len(classes) != 2:
        shown = ", ".join(f"{c:g}" for c in classes[:5])
        raise ComponentError(f"hetero_lr is a binary classifier: labels must take two values, 0/1 or -1/+1 (found {shown})")


def sigmoid(z: np.ndarray) -> np.ndarray:
    # Split by sign so large |z| never overflows exp.
    out = np.empty_like(z, dtype=np.float64)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    ez = np.exp(z[~pos])
    out[~pos] = ez / (1.0 + ez)
    return out


def signed_labels(labels: np.ndarray) -> np.ndarray:
    """FATE's hetero LR works with y in {-1, +1}: anything but 1 is the negative class."""
    return np.where(np.asarray(labels) == 1, 1.0, -1.0)


def align_rows(own_ids: Sequence[str], features: np.ndarray, order: Sequence[str]) -> np.ndarray:
    """This party's feature rows in the guest's order; every guest id must be present."""
    position = {v: i for i, v in enumerate(own_ids)}
    missing = [i for i in order if i not in position]
    if missing:
        raise ComponentError(f"{len(missing)} of the guest's ids are not in this party's table (e.g. {missing[0]!r}); "
                             "run psi first")
    return features[[position[i] for i in order]]


@dataclass(frozen=True, eq=False)
class PartyModel:
    """One party's share of a trained hetero LR model."""

    role: str
    party_id: int
    header: tuple[str, ...]
    weights: np.ndarray  # one per header column
    intercept: float | None  # guest only, when fit_intercept
    params: HeteroLRParams
    iterations: int
    converged: bool
    loss: tuple[float, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": MODEL_FORMAT,
            "role": self.role,
            "party_id": self.party_id,
            "header": list(self.header),
            "weights": [float(w) for w in self.weights],
            "intercept": self.intercept,
            "params": params_to_dict(self.params),
            "iterations": self.iterations,
            "converged": self.converged,
            "loss": list(self.loss),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> PartyModel:
        if raw.get("format") != MODEL_FORMAT:
            raise ComponentError(f"not a hetero LR model (format {raw.get('format')!r}, expected {MODEL_FORMAT})")
        try:
            return cls(
                role=str(raw["role"]),
                party_id=int(raw["party_id"]),
                header=tuple(str(h) for h in raw["header"]),
                weights=np.asarray(raw["weights"], dtype=np.float64),
                intercept=None if raw["intercept"] is None else float(raw["intercept"]),
                params=parse_params(raw["params"]),
                iterations=int(raw["iterations"]),
                converged=bool(raw["converged"]),
                loss=tuple(float(v) for v in raw.get("loss", ())),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise ComponentError(f"hetero LR model is damaged: {err}") from None


def taylor_loss(wx: np.ndarray, y_signed: np.ndarray) -> float:
    """FATE's second-order Taylor expansion of the logistic loss around wx = 0, averaged."""
    return float(np.log(2.0) - 0.5 * np.mean(y_signed * wx) + 0.125 * np.mean(np.square(wx)))


def has_converged(early_stop: str, tol: float, losses: list[float], delta: np.ndarray) -> bool:
    """FATE's stopping rules, checked by the arbiter after each epoch."""
    if early_stop == "weight_diff":
        return bool(np.linalg.norm(delta) < tol)
    if not losses:
        return False
    if early_stop == "abs":
        return losses[-1] < tol
    return len(losses) > 1 and abs(losses[-1] - losses[-2]) < tol
