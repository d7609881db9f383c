"""Components by name: the job file says `component: psi`, the worker looks it up here."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from fate.ml.component import ComponentContext, ComponentResult

Component = Callable[[ComponentContext], ComponentResult]

_REGISTRY: dict[str, Component] = {}
# Modules that register components when imported; a missing one (not built yet) is skipped.
_BUILTIN_MODULES = ("fate.ml.psi", "fate.ml.hetero_lr")
_loaded = False
_unavailable: dict[str, str] = {}


def register(name: str, run: Component) -> Component:
    """Make `run` available to job files as `component: name`."""
    existing = _REGISTRY.get(name)
    if existing is not None and existing is not run:
        raise ValueError(f"component {name!r} is already registered")
    _REGISTRY[name] = run
    return run


def _load_builtins() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in _BUILTIN_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as err:
            # A component whose dependencies are not installed is simply not offered.
            _unavailable[module] = str(err)


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
