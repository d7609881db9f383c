"""The models homo clients train locally: logistic regression and a small multilayer perceptron, in numpy.

Both are one `Network`: layers [n_features, *hidden, 1], a sigmoid output and binary
cross-entropy (LR is the network without hidden layers). Parameters live in one flat
float64 vector, because that vector is what the aggregator averages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

MODEL_FORMAT = "fate.homo/1"
ACTIVATIONS = ("relu", "tanh", "sigmoid")


def sigmoid(z: np.ndarray) -> np.ndarray:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * z)))  # no overflow warnings for large |z|


def _act(name: str, z: np.ndarray) -> np.ndarray:
    if name == "relu":
        return np.asarray(np.maximum(z, 0.0))
    if name == "tanh":
        return np.asarray(np.tanh(z))
    return sigmoid(z)


def _act_grad(name: str, z: np.ndarray, a: np.ndarray) -> np.ndarray:
    if name == "relu":
        return np.asarray(z > 0, dtype=np.float64)
    if name == "tanh":
        return np.asarray(1.0 - a * a)
    return np.asarray(a * (1.0 - a))


@dataclass(frozen=True)
class Network:
    n_features: int
    hidden: tuple[int, ...] = ()
    activation: str = "relu"
    fit_intercept: bool = True  # LR only: without it the output bias stays 0

    @property
    def layers(self) -> tuple[int, ...]:
        return (self.n_features, *self.hidden, 1)

    @property
    def size(self) -> int:
        return sum(a * b + b for a, b in zip(self.layers[:-1], self.layers[1:], strict=True))

    def unflatten(self, flat: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        if flat.shape != (self.size,):
            raise ValueError(f"a {self.layers} network has {self.size} parameters, got {flat.shape}")
        out, pos = [], 0
        for a, b in zip(self.layers[:-1], self.layers[1:], strict=True):
            w = flat[pos : pos + a * b].reshape(a, b)
            pos += a * b
            out.append((w, flat[pos : pos + b]))
            pos += b
        return out

    def init(self, method: str, seed: int | None) -> np.ndarray:
        """Initial parameters; hidden layers need random ones (all-zero weights never break symmetry)."""
        rng = np.random.default_rng(seed)
        parts = []
        for i, (a, b) in enumerate(zip(self.layers[:-1], self.layers[1:], strict=True)):
            if method == "zeros" and not self.hidden:
                w = np.zeros((a, b))
            elif method == "random_normal":
                w = rng.normal(0.0, np.sqrt(2.0 / (a + b)), size=(a, b))
            else:  # random_uniform, Glorot's range
                limit = np.sqrt(6.0 / (a + b)) if self.hidden or i else 1.0 / np.sqrt(a)
                w = rng.uniform(-limit, limit, size=(a, b))
            parts += [w.ravel(), np.zeros(b)]
        return np.concatenate(parts)

    def _forward(self, x: np.ndarray, flat: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        zs, acts = [], [x]
        layers = self.unflatten(flat)
        for i, (w, b) in enumerate(layers):
            z = acts[-1] @ w + b
            zs.append(z)
            acts.append(_act(self.activation, z) if i < len(layers) - 1 else sigmoid(z))
        return zs, acts

    def predict_proba(self, x: np.ndarray, flat: np.ndarray) -> np.ndarray:
        return self._forward(x, flat)[1][-1].ravel()

    def loss_and_gradient(self, x: np.ndarray, y: np.ndarray, flat: np.ndarray, alpha: float) -> tuple[float, np.ndarray]:
        """Mean binary cross-entropy + alpha/2 * ||weights||^2 (biases unpenalized), and its gradient."""
        zs, acts = self._forward(x, flat)
        layers = self.unflatten(flat)
        logits = zs[-1].ravel()
        loss = float(np.mean(np.logaddexp(0.0, logits) - y * logits))
        loss += 0.5 * alpha * sum(float(np.sum(w * w)) for w, _ in layers)
        delta = ((acts[-1].ravel() - y) / len(y))[:, None]
        grads: list[np.ndarray] = []
        for i in range(len(layers) - 1, -1, -1):
            w, _ = layers[i]
            gb = delta.sum(axis=0)
            if i == len(layers) - 1 and not self.hidden and not self.fit_intercept:
                gb = np.zeros_like(gb)
            grads = [(acts[i].T @ delta + alpha * w).ravel(), gb, *grads]
            if i:
                delta = (delta @ w.T) * _act_grad(self.activation, zs[i - 1], acts[i])
        return loss, np.concatenate(grads)


@dataclass(frozen=True)
class Training:
    local_epochs: int
    batch_size: int  # -1: full batch
    learning_rate: float
    decay: float
    decay_sqrt: bool
    alpha: float


def rate(t: Training, round_no: int) -> float:
    scale = 1.0 + t.decay * round_no
    return t.learning_rate / (np.sqrt(scale) if t.decay_sqrt else scale)


def local_train(net: Network, x: np.ndarray, y: np.ndarray, flat: np.ndarray, t: Training, round_no: int,
                rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """`local_epochs` of minibatch SGD from the global parameters; returns new parameters and mean loss."""
    params = flat.copy()
    lr = rate(t, round_no)
    batch = len(y) if t.batch_size == -1 else min(t.batch_size, len(y))
    losses = []
    for _ in range(t.local_epochs):
        order = rng.permutation(len(y)) if batch < len(y) else np.arange(len(y))
        for start in range(0, len(y), batch):
            rows = order[start : start + batch]
            loss, grad = net.loss_and_gradient(x[rows], y[rows], params, t.alpha)
            losses.append(loss * len(rows))
            params -= lr * grad
    return params, float(np.sum(losses) / (t.local_epochs * len(y)))


def fit_central(net: Network, x: np.ndarray, y: np.ndarray, init: np.ndarray, t: Training, rounds: int,
                seed: int = 0) -> np.ndarray:
    """The centralized reference: the same SGD on the joined rows, rounds * local_epochs epochs."""
    rng, params = np.random.default_rng(seed), init
    for r in range(rounds):
        params, _ = local_train(net, x, y, params, t, r, rng)
    return params


def model_dict(kind: str, net: Network, header: tuple[str, ...], flat: np.ndarray, **extra: Any) -> dict[str, Any]:
    return {
        "format": MODEL_FORMAT, "kind": kind, "header": list(header), "layers": list(net.layers),
        "activation": net.activation, "fit_intercept": net.fit_intercept, "params": flat.tolist(), **extra,
    }


def network_of(model: dict[str, Any]) -> tuple[Network, np.ndarray]:
    layers = [int(v) for v in model["layers"]]
    net = Network(layers[0], tuple(layers[1:-1]), str(model["activation"]), bool(model["fit_intercept"]))
    return net, np.asarray(model["params"], dtype=np.float64)
