"""Hetero LR prediction through the federation, FATE's way.

The guest sends the ids to score; each host answers with W_h . X_h for those rows
(its weights stay home); the guest adds its own W_g . X_g + b and applies the
sigmoid. Only the guest learns the scores.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fate.federation.federation import Federation
from fate.ml.component import ComponentError
from fate.ml.lr_model import PartyModel, align_rows, sigmoid


def _columns(model: PartyModel, header: Sequence[str], features: np.ndarray) -> np.ndarray:
    """The table's columns in the order the model was trained on; extra columns are ignored."""
    if tuple(header) == model.header:
        return features
    position = {name: i for i, name in enumerate(header)}
    missing = [name for name in model.header if name not in position]
    if missing:
        raise ComponentError(f"the table lacks feature columns the model was trained on: {', '.join(missing)}")
    return features[:, [position[name] for name in model.header]]


def predict_guest(
    fed: Federation,
    model: PartyModel,
    ids: Sequence[str],
    header: Sequence[str],
    features: np.ndarray,
    prefix: str = "hetero_lr",
) -> np.ndarray:
    """Probabilities of the positive class for `ids`, in that order."""
    fed.remote(list(ids), f"{prefix}.predict.ids", "host")
    own = _columns(model, header, features) @ model.weights + (model.intercept or 0.0)
    host_parts = fed.get_all(f"{prefix}.predict.wx", "host")
    total = own + np.sum([np.asarray(part, dtype=np.float64) for part in host_parts], axis=0)
    return sigmoid(total)


def predict_host(
    fed: Federation,
    model: PartyModel,
    ids: Sequence[str],
    header: Sequence[str],
    features: np.ndarray,
    prefix: str = "hetero_lr",
) -> None:
    order = fed.get(f"{prefix}.predict.ids", "guest")
    rows = align_rows(ids, _columns(model, header, features), order)
    fed.remote(rows @ model.weights, f"{prefix}.predict.wx", "guest")
