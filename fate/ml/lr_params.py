"""Hetero LR parameters: FATE's names and defaults, validated once, every problem at once.

Job files use FATE's parameter names (`max_iter`, `batch_size`, `optimizer`,
`init_param: {init_method, ...}`, `encrypt_param: {key_length}` ...), so a FATE job
config carries over unchanged. Unknown keys are errors, not silently ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from fate.ml.component import ComponentError
from fate.ml.optimizer import OptimizerError, OptimizerParams

INIT_METHODS = ("zeros", "ones", "const", "random_uniform", "random_normal")
EARLY_STOPS = ("diff", "abs", "weight_diff")
SECURE_KEY_BITS = 2048


class LRParamError(ComponentError):
    """The hetero LR parameters of a job are invalid; lists every problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid hetero_lr params: " + "; ".join(problems))
        self.problems = tuple(problems)


@dataclass(frozen=True)
class InitParams:
    init_method: str = "random_uniform"
    init_const: float = 1.0
    fit_intercept: bool = True
    random_seed: int | None = None


@dataclass(frozen=True)
class HeteroLRParams:
    max_iter: int = 100
    batch_size: int = -1  # -1: full batch
    tol: float = 1e-4
    early_stop: str = "diff"
    key_length: int = SECURE_KEY_BITS
    insecure_key: bool = False  # allows keys under 2048 bits (tests, benchmarks)
    init: InitParams = field(default_factory=InitParams)
    optimizer: OptimizerParams = field(default_factory=OptimizerParams)
    threshold: float = 0.5  # score at or above which a prediction is positive


_SCALARS: dict[str, tuple[type, ...]] = {
    "max_iter": (int,),
    "batch_size": (int,),
    "tol": (int, float),
    "early_stop": (str,),
    "insecure_key": (bool,),
    "threshold": (int, float),
    "learning_rate": (int, float),
    "alpha": (int, float),
    "penalty": (str,),
    "optimizer": (str,),
    "decay": (int, float),
    "decay_sqrt": (bool,),
}
_INIT_KEYS: dict[str, tuple[type, ...]] = {
    "init_method": (str,),
    "init_const": (int, float),
    "fit_intercept": (bool,),
    "random_seed": (int, type(None)),
}


def _typed(where: str, value: Any, types: tuple[type, ...], problems: list[str]) -> bool:
    # bool is an int subclass; True must not pass as max_iter.
    ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
    if not ok:
        names = " or ".join("null" if t is type(None) else t.__name__ for t in types)
        problems.append(f"{where}: expected {names}, got {value!r}")
    return ok


def _section(raw: Any, where: str, keys: Mapping[str, tuple[type, ...]], problems: list[str]) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        problems.append(f"{where}: expected a mapping")
        return {}
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in keys:
            problems.append(f"{where}.{key}: unknown parameter (expected {', '.join(keys)})")
        elif _typed(f"{where}.{key}", value, keys[key], problems):
            out[key] = value
    return out


def parse_params(raw: Mapping[str, Any]) -> HeteroLRParams:
    """Validate a job's `params` for hetero_lr; missing keys take FATE's defaults."""
    problems: list[str] = []
    top = {k: v for k, v in raw.items() if k not in ("init_param", "encrypt_param")}
    scalars = _section(top, "params", _SCALARS, problems)
    init = _section(raw.get("init_param"), "params.init_param", _INIT_KEYS, problems)
    encrypt = _section(raw.get("encrypt_param"), "params.encrypt_param", {"key_length": (int,)}, problems)

    if init.get("init_method", "random_uniform") not in INIT_METHODS:
        problems.append(f"params.init_param.init_method: {init['init_method']!r} is not one of {', '.join(INIT_METHODS)}")
    if scalars.get("early_stop", "diff") not in EARLY_STOPS:
        problems.append(f"params.early_stop: {scalars['early_stop']!r} is not one of {', '.join(EARLY_STOPS)}")
    if scalars.get("max_iter", 1) < 1:
        problems.append(f"params.max_iter: must be >= 1, got {scalars['max_iter']}")
    batch = scalars.get("batch_size", -1)
    if batch != -1 and batch < 1:
        problems.append(f"params.batch_size: -1 (full batch) or a positive row count, got {batch}")
    if scalars.get("tol", 0) < 0:
        problems.append(f"params.tol: must be >= 0, got {scalars['tol']}")
    bits = encrypt.get("key_length", SECURE_KEY_BITS)
    if bits < 256 or bits % 256:
        problems.append(f"params.encrypt_param.key_length: a multiple of 256 from 256 up, got {bits}")
    elif bits < SECURE_KEY_BITS and not scalars.get("insecure_key", False):
        problems.append(
            f"params.encrypt_param.key_length: {bits} bits is insecure; use {SECURE_KEY_BITS}+ "
            "or set insecure_key: true for tests"
        )
    if not 0.0 < scalars.get("threshold", 0.5) < 1.0:
        problems.append(f"params.threshold: must be strictly between 0 and 1, got {scalars['threshold']}")

    optimizer: OptimizerParams | None = None
    try:
        optimizer = OptimizerParams(
            method=scalars.get("optimizer", "rmsprop"),
            learning_rate=float(scalars.get("learning_rate", 0.01)),
            penalty=scalars.get("penalty", "L2"),
            alpha=float(scalars.get("alpha", 1.0)),
            decay=float(scalars.get("decay", 1.0)),
            decay_sqrt=scalars.get("decay_sqrt", True),
        )
    except OptimizerError as err:
        problems.extend(f"params: {p}" for p in err.problems)
    if problems or optimizer is None:
        raise LRParamError(problems)
    return HeteroLRParams(
        max_iter=scalars.get("max_iter", 100),
        batch_size=batch,
        tol=float(scalars.get("tol", 1e-4)),
        early_stop=scalars.get("early_stop", "diff"),
        key_length=bits,
        insecure_key=scalars.get("insecure_key", False),
        init=InitParams(**init),
        optimizer=optimizer,
        threshold=float(scalars.get("threshold", 0.5)),
    )


def params_to_dict(params: HeteroLRParams) -> dict[str, Any]:
    """The job-file form of params (parse_params(params_to_dict(p)) == p)."""
    top: dict[str, Any] = {f.name: getattr(params, f.name) for f in fields(params)}
    top.pop("init")
    top.pop("optimizer")
    top.pop("key_length")
    opt = params.optimizer
    top.update(
        optimizer=opt.method,
        learning_rate=opt.learning_rate,
        penalty=opt.penalty,
        alpha=opt.alpha,
        decay=opt.decay,
        decay_sqrt=opt.decay_sqrt,
        init_param={f.name: getattr(params.init, f.name) for f in fields(params.init)},
        encrypt_param={"key_length": params.key_length},
    )
    return top
