"""FATE's hetero LR arithmetic on joined plaintext data: the oracle the encrypted protocol must match.

Same initialisation per party, same batches, same Taylor loss, same optimizer and
stopping rule as `fate.ml.hetero_lr`, only without encryption or messages. Tests and
benchmarks compare the federated result against it; no party ever runs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fate.ml.lr_floors import batch_sizes
from fate.ml.lr_model import has_converged, init_weights, signed_labels, taylor_loss
from fate.ml.lr_params import HeteroLRParams
from fate.ml.optimizer import Optimizer, add_penalty_gradient, apply_update, penalty_loss


@dataclass(frozen=True, eq=False)
class PlainFit:
    weights: tuple[np.ndarray, ...]  # guest's feature weights first, then each host's
    intercept: float
    loss: tuple[float, ...]
    iterations: int
    converged: bool

    def decision(self, parts: Sequence[np.ndarray]) -> np.ndarray:
        return sum((x @ w for x, w in zip(parts, self.weights, strict=True)), np.zeros(len(parts[0]))) + self.intercept


def fit_plain(parts: Sequence[np.ndarray], labels: np.ndarray, params: HeteroLRParams,
              batches: Sequence[np.ndarray] | None = None) -> PlainFit:
    """Train on feature blocks `parts` (guest block first) as the federation would.

    `batches` are the row positions of each batch (the federation's joint order, see
    fate.ml.joint_batches); by default consecutive cuts of the same sizes.
    """
    if batches is None:
        bounds = np.cumsum(batch_sizes(len(labels), params.batch_size))[:-1]
        batches = np.split(np.arange(len(labels)), bounds)
    fit_intercept = params.init.fit_intercept
    weights = [init_weights(params.init, parts[0].shape[1], fit_intercept)]
    weights += [init_weights(params.init, x.shape[1], False) for x in parts[1:]]
    y = signed_labels(labels)
    optimizer = Optimizer(params.optimizer)
    opt = params.optimizer
    losses: list[float] = []
    converged = False
    epoch = 0
    for epoch in range(params.max_iter):  # noqa: B007 - the last epoch is reported
        batch_losses = []
        delta_all = np.zeros(0)
        for rows in batches:
            xs = [x[rows] for x in parts]
            wx = sum(x @ w[: x.shape[1]] for x, w in zip(xs, weights, strict=True))
            if fit_intercept:
                wx = wx + weights[0][-1]
            d = 0.25 * wx - 0.5 * y[rows]
            grads = []
            for i, (x, w) in enumerate(zip(xs, weights, strict=True)):
                g = x.T @ d / len(d)
                if i == 0 and fit_intercept:
                    g = np.append(g, d.mean())
                grads.append(add_penalty_gradient(opt, g, w, i == 0 and fit_intercept))
            reg = sum(penalty_loss(opt, w, i == 0 and fit_intercept) for i, w in enumerate(weights))
            batch_losses.append(taylor_loss(wx, y[rows]) + reg)
            # The arbiter sees hosts' gradients first, then the guest's; order only matters for adam/rmsprop state layout.
            sizes = [len(g) for g in grads[1:]] + [len(grads[0])]
            delta_all = optimizer.step(np.concatenate(grads[1:] + grads[:1]), epoch)
            pieces = np.split(delta_all, np.cumsum(sizes)[:-1])
            deltas = pieces[-1:] + pieces[:-1]
            weights = [
                apply_update(opt, w, dl, i == 0 and fit_intercept, epoch)
                for i, (w, dl) in enumerate(zip(weights, deltas, strict=True))
            ]
        losses.append(float(np.mean(batch_losses)))
        if has_converged(params.early_stop, params.tol, losses, delta_all):
            converged = True
            break
    guest = weights[0]
    return PlainFit(
        weights=(guest[:-1] if fit_intercept else guest, *weights[1:]),
        intercept=float(guest[-1]) if fit_intercept else 0.0,
        loss=tuple(losses),
        iterations=epoch + 1,
        converged=converged,
    )
