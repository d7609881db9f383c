"""homo_lr / homo_nn parameters: FATE-like names, validated once, every problem at once, each naming its field.

```yaml
params:
  max_iter: 30            # aggregation rounds
  local_epochs: 1         # epochs each client trains between rounds
  batch_size: -1          # -1: full batch
  learning_rate: 0.15
  optimizer: sgd
  penalty: L2
  alpha: 0.01
  hidden_layers: [16]     # homo_nn only
  secure_aggregate: {method: secagg, threshold: 2, fraction_bits: 16, bound: 1.0e9, client_timeout: 600,
                     rekey_every_round: false, neighbors: 4}   # SecAgg+: 4 neighbours (default: all)
  test_table: breast_homo_test   # each client's own test rows, scored with the global model
```
`secure_aggregate: true` means secagg with defaults, `false` plaintext FedAvg.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fate.crypto.secagg import FixedPoint
from fate.ml.component import ComponentError
from fate.ml.homo.models import ACTIVATIONS, Network, Training

METHODS = ("secagg", "paillier", "none")
INIT_METHODS = ("zeros", "random_uniform", "random_normal")
SECURE_KEY_BITS = 2048


class HomoParamError(ComponentError):
    def __init__(self, component: str, problems: list[str]) -> None:
        super().__init__(f"invalid {component} params: " + "; ".join(problems))
        self.problems = tuple(problems)


@dataclass(frozen=True)
class SecureAggregate:
    method: str = "secagg"
    threshold: int = 2
    encoding: FixedPoint = field(default_factory=FixedPoint)
    client_timeout: float = 600.0  # seconds the aggregator waits for a client in each phase
    key_length: int = SECURE_KEY_BITS  # paillier
    insecure_key: bool = False
    rekey_every_round: bool = False  # secagg: fresh X25519 keys every round, as in the paper
    neighbors: int | None = None  # SecAgg+: mask with k neighbours only; None: with every other client


@dataclass(frozen=True)
class HomoParams:
    max_iter: int
    training: Training
    tol: float
    early_stop: bool
    init_method: str
    random_seed: int | None
    fit_intercept: bool
    hidden_layers: tuple[int, ...]
    activation: str
    threshold: float
    secure: SecureAggregate
    test_table: str | None

    def network(self, n_features: int) -> Network:
        return Network(n_features, self.hidden_layers, self.activation, self.fit_intercept)


_TOP: dict[str, tuple[type, ...]] = {
    "max_iter": (int,), "local_epochs": (int,), "batch_size": (int,), "learning_rate": (int, float),
    "decay": (int, float), "decay_sqrt": (bool,), "optimizer": (str,), "penalty": (str,),
    "alpha": (int, float), "tol": (int, float), "early_stop": (str,), "threshold": (int, float),
    "test_table": (str,), "init_param": (dict,), "secure_aggregate": (bool, dict),
}
_NN: dict[str, tuple[type, ...]] = {"hidden_layers": (list,), "activation": (str,)}
_INIT: dict[str, tuple[type, ...]] = {"init_method": (str,), "random_seed": (int, type(None)), "fit_intercept": (bool,)}
_SECURE: dict[str, tuple[type, ...]] = {
    "method": (str,), "threshold": (int,), "fraction_bits": (int,), "modulus_bits": (int,),
    "bound": (int, float), "client_timeout": (int, float), "key_length": (int,), "insecure_key": (bool,),
    "rekey_every_round": (bool,), "neighbors": (int,),
}


def _typed(where: str, value: Any, types: tuple[type, ...], problems: list[str]) -> bool:
    ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
    if not ok:
        names = " or ".join("null" if t is type(None) else {"dict": "mapping"}.get(t.__name__, t.__name__)
                            for t in types)
        problems.append(f"{where}: expected {names}, got {value!r}")
    return ok


def _section(raw: Mapping[str, Any], where: str, keys: Mapping[str, tuple[type, ...]],
             problems: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in keys:
            problems.append(f"{where}.{key}: unknown parameter (expected one of {', '.join(keys)})")
        elif _typed(f"{where}.{key}", value, keys[key], problems):
            out[key] = value
    return out


def _secure(raw: Any, n_clients: int, problems: list[str]) -> SecureAggregate:
    if raw is False:
        return SecureAggregate(method="none", threshold=1)
    given = _section(raw if isinstance(raw, Mapping) else {}, "params.secure_aggregate", _SECURE, problems)
    where = "params.secure_aggregate"
    method = given.get("method", "secagg")
    if method not in METHODS:
        problems.append(f"{where}.method: {method!r} is not one of {', '.join(METHODS)}")
    # Default: a majority of those holding a client's shares (every client, or its SecAgg+
    # neighbourhood), and at least 2 so no single peer holds a whole secret.
    neighbors = given.get("neighbors")
    holders = n_clients if neighbors is None or neighbors >= n_clients - 1 else neighbors + 1
    threshold = given.get("threshold", max(2, holders // 2 + 1))
    if method == "secagg":
        if n_clients < 2:
            problems.append(f"{where}.method: secagg needs at least 2 clients (guest + hosts), the job has {n_clients}")
        elif threshold > n_clients:
            problems.append(f"{where}.threshold: {threshold} is above the client count {n_clients} (guest + hosts)")
        elif threshold < 2:
            problems.append(f"{where}.threshold: at least 2 (with 1 every peer holds every client's secrets)")
    if method == "secagg" and neighbors is not None and neighbors < n_clients - 1:
        if neighbors < 2 or neighbors % 2:
            problems.append(f"{where}.neighbors: an even number from 2 up (k/2 each side of a ring), got {neighbors}")
        elif threshold > neighbors + 1:
            problems.append(f"{where}.threshold: {threshold} is above the neighbourhood size {neighbors + 1} "
                            "(a client and its neighbors hold its shares)")
    encoding = FixedPoint(given.get("fraction_bits", 16), given.get("modulus_bits", 64),
                          float(given.get("bound", float(1 << 30))), max(n_clients, 1))
    problems += [f"{where}.{p}" for p in encoding.problems()]
    timeout = float(given.get("client_timeout", 600.0))
    if not timeout > 0:
        problems.append(f"{where}.client_timeout: seconds > 0, got {timeout}")
    bits = given.get("key_length", SECURE_KEY_BITS)
    insecure = given.get("insecure_key", False)
    if method == "paillier" and (bits < 512 or bits % 256):
        problems.append(f"{where}.key_length: a multiple of 256 from 512 up, got {bits}")
    elif method == "paillier" and bits < SECURE_KEY_BITS and not insecure:
        problems.append(f"{where}.key_length: {bits} bits is insecure; use {SECURE_KEY_BITS}+ or insecure_key: true")
    return SecureAggregate(method, threshold, encoding, timeout, bits, insecure,
                           given.get("rekey_every_round", False), neighbors)


def parse_params(raw: Mapping[str, Any], component: str, n_clients: int) -> HomoParams:
    """Validate `params` of homo_lr (component='homo_lr') or homo_nn for a job with n_clients clients."""
    problems: list[str] = []
    nn = component == "homo_nn"
    top = _section(raw, "params", {**_TOP, **(_NN if nn else {})}, problems)
    init = _section(top.get("init_param", {}), "params.init_param", _INIT, problems)
    secure = _secure(top.get("secure_aggregate", True), n_clients, problems)

    def positive(name: str, default: int) -> int:
        value = top.get(name, default)
        if value < 1:
            problems.append(f"params.{name}: must be >= 1, got {value}")
        return int(value)

    max_iter, epochs = positive("max_iter", 20), positive("local_epochs", 1)
    batch = top.get("batch_size", -1)
    if batch != -1 and batch < 1:
        problems.append(f"params.batch_size: -1 (full batch) or a positive row count, got {batch}")
    if top.get("optimizer", "sgd") != "sgd":
        problems.append(f"params.optimizer: {top['optimizer']!r} is not supported (sgd)")
    penalty = top.get("penalty", "L2")
    if penalty not in ("L2", "none"):
        problems.append(f"params.penalty: {penalty!r} is not one of L2, none")
    for name in ("alpha", "tol", "decay"):
        if top.get(name, 0) < 0:
            problems.append(f"params.{name}: must be >= 0, got {top[name]}")
    if not top.get("learning_rate", 0.1) > 0:
        problems.append(f"params.learning_rate: must be > 0, got {top['learning_rate']}")
    if not 0.0 < top.get("threshold", 0.5) < 1.0:
        problems.append(f"params.threshold: strictly between 0 and 1, got {top['threshold']}")
    if top.get("early_stop", "diff") not in ("diff", "none"):
        problems.append(f"params.early_stop: {top['early_stop']!r} is not one of diff, none")
    if init.get("init_method", "zeros") not in INIT_METHODS:
        problems.append(f"params.init_param.init_method: {init['init_method']!r} is not one of {', '.join(INIT_METHODS)}")
    hidden = top.get("hidden_layers", [16] if nn else [])
    if not all(isinstance(h, int) and not isinstance(h, bool) and 1 <= h <= 4096 for h in hidden) or len(hidden) > 8:
        problems.append(f"params.hidden_layers: up to 8 layer sizes, each 1..4096, got {hidden!r}")
    if top.get("activation", "relu") not in ACTIVATIONS:
        problems.append(f"params.activation: {top['activation']!r} is not one of {', '.join(ACTIVATIONS)}")
    if problems:
        raise HomoParamError(component, problems)
    return HomoParams(
        max_iter=max_iter,
        training=Training(epochs, batch, float(top.get("learning_rate", 0.1)), float(top.get("decay", 0.0)),
                          top.get("decay_sqrt", True), float(top.get("alpha", 0.01)) if penalty == "L2" else 0.0),
        tol=float(top.get("tol", 1e-4)),
        early_stop=top.get("early_stop", "diff") == "diff",
        init_method=init.get("init_method", "random_uniform" if nn else "zeros"),
        random_seed=init.get("random_seed"),
        fit_intercept=init.get("fit_intercept", True),
        hidden_layers=tuple(hidden),
        activation=top.get("activation", "relu"),
        threshold=float(top.get("threshold", 0.5)),
        secure=secure,
        test_table=top.get("test_table"),
    )
