"""The component contract: what a component sees of its job, its party and its data.

A component is `run(ctx: ComponentContext) -> ComponentResult`. It talks to other
parties only through `ctx.federation`, so the same code runs on an in-memory hub in
unit tests and on real routers in a lab or a cluster.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from fate.compute.contract import ComputeBackend
from fate.federation.federation import Federation
from fate.flow.policy import Policy


class ComponentError(Exception):
    """A component cannot run with what it was given (bad params, missing input)."""


@dataclass(frozen=True, eq=False)
class Table:
    """Rows of one party's data: ids, numeric features and, for the label owner, labels."""

    ids: tuple[str, ...]
    header: tuple[str, ...]  # feature names, in column order
    features: np.ndarray  # shape (len(ids), len(header)), float64
    labels: np.ndarray | None = None  # shape (len(ids),), float64

    def __post_init__(self) -> None:
        n = len(self.ids)
        if self.features.shape != (n, len(self.header)):
            raise ComponentError(
                f"table features have shape {self.features.shape}, expected {(n, len(self.header))}"
            )
        if self.labels is not None and self.labels.shape != (n,):
            raise ComponentError(f"table labels have shape {self.labels.shape}, expected ({n},)")

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, rows: Sequence[int] | np.ndarray) -> Table:
        """The table restricted to the given row positions, in that order."""
        idx = np.asarray(rows, dtype=np.int64)
        return Table(
            ids=tuple(self.ids[i] for i in idx),
            header=self.header,
            features=self.features[idx] if len(idx) else np.zeros((0, len(self.header))),
            labels=None if self.labels is None else self.labels[idx],
        )

    def select(self, ids: Iterable[str]) -> Table:
        """Rows with these ids, in the order given; every id must be present."""
        position = {v: i for i, v in enumerate(self.ids)}
        try:
            return self.take([position[i] for i in ids])
        except KeyError as missing:
            raise ComponentError(f"id {missing.args[0]!r} is not in the table") from None


@dataclass(frozen=True)
class ComponentResult:
    """What a component hands to the next one on the same party and role."""

    data: Table | None = None
    model: Any = None
    metrics: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    # Tables that travel beside `data` (data_split's "validate" and "test"): a component that fits on
    # `data` applies the same fitted transform to each, as FATE's components do to their test_data.
    side_data: Mapping[str, Table] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class ComponentContext:
    """Everything a component may use; built by the worker (or a test) per party and role."""

    job_id: str
    party_id: int
    role: str
    roles: Mapping[str, tuple[int, ...]]
    params: Mapping[str, Any]
    federation: Federation
    component: str = ""  # this component's name in the pipeline
    table_name: str | None = None  # this party's input table from the job file
    inputs: Mapping[str, ComponentResult] = field(default_factory=lambda: MappingProxyType({}))
    read_table: Callable[[str], Table] = field(default=lambda name: _no_tables(name))
    log: Callable[[str], None] = field(default=lambda msg: None)
    save_model: Callable[[Any], None] = field(default=lambda obj: None)
    log_metric: Callable[[str, Any], None] = field(default=lambda name, value: None)
    # This party's own policy (its security floors), from its flow config; never from the job file.
    policy: Policy = field(default_factory=Policy)
    # This party's compute backend (fate.compute), built once per worker process from its flow
    # config; None runs the ciphertext work in this process.
    compute: ComputeBackend | None = None

    def input_data(self) -> Table:
        """The upstream component's output table, or this party's own input table."""
        for result in reversed(list(self.inputs.values())):
            if result.data is not None:
                return result.data
        if self.table_name is None:
            raise ComponentError(f"party {self.party_id} has no input table for {self.component or 'this component'}")
        return self.read_table(self.table_name)

    def param(self, name: str, default: Any = None) -> Any:
        return self.params.get(name, default)


def _no_tables(name: str) -> Table:
    raise ComponentError(f"no table store available to read {name!r}")
