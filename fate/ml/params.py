"""Component parameters read once, FATE's names, every problem reported at once with its field.

    p = ParamReader("feature_scale", ctx.params)
    method = p.choice("method", ("standard", "min_max"), "standard")
    p.done()          # raises ParamError listing every problem, unknown keys included

A job file is written by a person at another organisation's request; a typo must fail the
job with the field's name, never be silently ignored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fate.ml.component import ComponentError


class ParamError(ComponentError):
    """A component's params are invalid; `problems` names each field."""

    def __init__(self, component: str, problems: Sequence[str]) -> None:
        super().__init__(f"invalid {component} params: " + "; ".join(problems))
        self.problems = tuple(problems)


def _is_int(value: Any) -> bool:
    # bool is an int subclass; `max_depth: true` is a mistake, not 1.
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (isinstance(value, int | float)) and not isinstance(value, bool)


class ParamReader:
    """Typed access to one component's params (or one nested section of them)."""

    def __init__(self, component: str, raw: Mapping[str, Any] | None, where: str = "params",
                 problems: list[str] | None = None) -> None:
        self.component = component
        self.where = where
        self.problems: list[str] = [] if problems is None else problems
        self.raw: Mapping[str, Any] = {}
        if raw is None:
            pass
        elif isinstance(raw, Mapping):
            self.raw = raw
        else:
            self.problems.append(f"{where}: expected a mapping, got {raw!r}")
        self._read: set[str] = set()

    def _get(self, name: str) -> tuple[bool, Any]:
        self._read.add(name)
        if name not in self.raw:
            return False, None
        return True, self.raw[name]

    def fail(self, name: str, message: str) -> None:
        self.problems.append(f"{self.where}.{name}: {message}")

    def int(self, name: str, default: int, low: int | None = None, high: int | None = None) -> int:
        given, value = self._get(name)
        if not given:
            return default
        if not _is_int(value):
            self.fail(name, f"expected an integer, got {value!r}")
            return default
        if (low is not None and value < low) or (high is not None and value > high):
            self.fail(name, f"must be {_range(low, high)}, got {value}")
            return default
        return int(value)

    def number(self, name: str, default: float, low: float | None = None, high: float | None = None,
               low_open: bool = False) -> float:
        given, value = self._get(name)
        if not given:
            return default
        if not _is_number(value) or value != value:
            self.fail(name, f"expected a number, got {value!r}")
            return default
        value = float(value)
        too_low = low is not None and (value <= low if low_open else value < low)
        if too_low or (high is not None and value > high):
            self.fail(name, f"must be {_range(low, high, low_open)}, got {value:g}")
            return default
        return value

    def bool(self, name: str, default: bool) -> bool:
        given, value = self._get(name)
        if not given:
            return default
        if not isinstance(value, bool):
            self.fail(name, f"expected true or false, got {value!r}")
            return default
        return value

    def choice(self, name: str, options: Sequence[str], default: str) -> str:
        given, value = self._get(name)
        if not given:
            return default
        if not isinstance(value, str) or value not in options:
            self.fail(name, f"{value!r} is not one of {', '.join(options)}")
            return default
        return value

    def names(self, name: str, default: Sequence[str] | None = None) -> tuple[str, ...] | None:
        """A list of column names (or null for the default)."""
        given, value = self._get(name)
        if not given or value is None:
            return None if default is None else tuple(default)
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.fail(name, f"expected a list of column names, got {value!r}")
            return None if default is None else tuple(default)
        if len(set(value)) != len(value):
            self.fail(name, "names a column twice")
        return tuple(value)

    def columns(self, name: str) -> Any:
        """A column list shared by every party (each takes the names it has), or one list per role:
        `{guest: [...], host: [...]}`, where every name must be the party's own. None means all columns."""
        given, value = self._get(name)
        if not given or value is None:
            return None
        lists = value.items() if isinstance(value, Mapping) else [(None, value)]
        for role, names in lists:
            where = name if role is None else f"{name}.{role}"
            if role is not None and role not in ("guest", "host"):
                self.fail(where, "columns are given per role: guest or host")
            elif not isinstance(names, list) or not all(isinstance(v, str) and v for v in names):
                self.fail(where, f"expected a list of column names, got {names!r}")
        return value

    def section(self, name: str) -> ParamReader:
        """A nested mapping (e.g. `he_param`), read with the same problem list."""
        _, value = self._get(name)
        return ParamReader(self.component, value, f"{self.where}.{name}", self.problems)

    def raw_value(self, name: str) -> Any:
        return self._get(name)[1]

    def unknown(self) -> None:
        for key in self.raw:
            if key not in self._read:
                known = ", ".join(sorted(self._read))
                self.problems.append(f"{self.where}.{key}: unknown parameter (expected {known})")

    def done(self) -> None:
        """Raise ParamError when anything (here or in a section read from this reader) was wrong."""
        self.unknown()
        if self.problems:
            raise ParamError(self.component, self.problems)


def _range(low: float | None, high: float | None, low_open: bool = False) -> str:
    if low is not None and high is not None:
        return f"{'>' if low_open else '>='} {low:g} and <= {high:g}"
    if low is not None:
        return f"{'>' if low_open else '>='} {low:g}"
    return f"<= {high:g}"


SECURE_KEY_BITS = 2048


def key_params(p: ParamReader) -> tuple[int, bool]:
    """FATE 2.x's `he_param: {kind: paillier, key_length}` and this engine's `insecure_key` for tests."""
    he = p.section("he_param")
    he.choice("kind", ("paillier",), "paillier")
    bits = he.int("key_length", SECURE_KEY_BITS, low=256)
    he.unknown()
    insecure = p.bool("insecure_key", False)
    if bits % 256:
        he.fail("key_length", f"a multiple of 256, got {bits}")
    elif bits < SECURE_KEY_BITS and not insecure:
        he.fail("key_length", f"{bits} bits is insecure; use {SECURE_KEY_BITS}+ or set insecure_key: true for tests")
    return bits, insecure
