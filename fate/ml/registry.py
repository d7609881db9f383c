"""Components by name: the job file says `component: psi`, the worker looks it up here."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable

from fate.ml.component import ComponentContext, ComponentResult

Component = Callable[[ComponentContext], ComponentResult]

# The built-in components' adapters, as "module:function". Named rather than imported so
# that validating a job file (the flow service) does not load numpy, gmpy2 and the
# algorithms, and a component whose dependencies are not installed is simply not offered.
BUILTINS: dict[str, str] = {
    "psi": "fate.ml.psi:run",
    "hetero_lr": "fate.ml.lr_component:run_hetero_lr",
    "evaluation": "fate.ml.lr_component:run_evaluation",
    "homo_lr": "fate.ml.homo.component:run_homo_lr", "homo_nn": "fate.ml.homo.component:run_homo_nn",
    "feature_scale": "fate.ml.feature_scale:run",
    "statistics": "fate.ml.statistics:run",
    "data_split": "fate.ml.data_split:run",
    "hetero_feature_binning": "fate.ml.feature_binning:run",
    "hetero_feature_selection": "fate.ml.feature_selection:run",
    "hetero_secureboost": "fate.ml.sbt_component:run",
}

_REGISTRY: dict[str, Component] = {}
_loaded = False
_unavailable: dict[str, str] = {}
# A worker runs each role in a thread; the first lookups may race, and none may see a half-filled registry.
_lock = threading.Lock()


def register(name: str, run: Component) -> Component:
    """Make `run` available to job files as `component: name`."""
    existing = _REGISTRY.get(name)
    if existing is not None and existing is not run:
        raise ValueError(f"component {name!r} is already registered")
    _REGISTRY[name] = run
    return run


def _load_builtins() -> None:
    global _loaded
    with _lock:
        if _loaded:
            return
        for name, target in BUILTINS.items():
            module, function = target.split(":")
            try:
                adapter: Component = getattr(importlib.import_module(module), function)
            except ModuleNotFoundError as err:
                _unavailable[module] = str(err)
                continue
            register(name, adapter)
        _loaded = True


def names() -> tuple[str, ...]:
    _load_builtins()
    return tuple(sorted(_REGISTRY))


def get(name: str) -> Component:
    _load_builtins()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        missing = "".join(f"; {m} unavailable: {why}" for m, why in _unavailable.items())
        raise KeyError(f"unknown component {name!r} (known: {known}{missing})") from None
