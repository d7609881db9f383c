"""What feature-engineering components share: upstream side tables, upstream models, column picks.

A pipeline step sees its upstream results (`ctx.inputs`). The table it works on is the
upstream `data`; `side_data` ("validate", "test") travels beside it, and a component that
fits something on `data` applies the very same fitted transform to every side table, which is
how a model fitted on training rows is applied unchanged at prediction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np

from fate.ml.component import ComponentContext, ComponentError, ComponentResult, Table

SIDE_NAMES = ("validate", "test")
# The input under which the flow hands a step the model an earlier job trained (fate.flow.models);
# never a pipeline step's name (those have no ':').
REUSED_MODEL = "model:"


def side_tables(ctx: ComponentContext) -> dict[str, Table]:
    """The side tables of the upstream result whose data this step reads (none for a raw input table)."""
    for result in reversed(list(ctx.inputs.values())):
        if result.data is not None:
            return dict(result.side_data)
    return {}


def upstream_model(ctx: ComponentContext, model_format: str) -> dict[str, Any] | None:
    """The latest upstream model of this format (this party's own part of it), if any."""
    for result in reversed(list(ctx.inputs.values())):
        model = result.model
        if isinstance(model, Mapping) and model.get("format") == model_format:
            return dict(model)
    return None


def reused_model(ctx: ComponentContext, model_format: str) -> dict[str, Any] | None:
    """The stored model the job file named for this step (`model:`), when it is of this format."""
    result = ctx.inputs.get(REUSED_MODEL)
    model = result.model if result is not None else None
    if isinstance(model, Mapping) and model.get("format") == model_format:
        return dict(model)
    return None


def require_labels(table: Table, component: str) -> np.ndarray:
    if table.labels is None:
        raise ComponentError(f"{component}: the guest's table has no label column 'y'; {component} needs labels")
    return table.labels


def binary_labels(table: Table, component: str) -> np.ndarray:
    """Labels as 0/1, refusing anything but two classes 0 and 1 (FATE's binary tasks)."""
    labels = require_labels(table, component)
    values = set(np.unique(labels).tolist())
    if not values <= {0.0, 1.0}:
        shown = ", ".join(f"{v:g}" for v in sorted(values)[:5])
        raise ComponentError(f"{component}: binary labels must be 0 or 1 (found {shown})")
    return labels.astype(np.float64)


def columns(table: Table, wanted: Sequence[str] | None, field: str, component: str) -> list[int]:
    """Positions of the named columns (all columns when None); unknown names fail naming the field."""
    if wanted is None:
        return list(range(len(table.header)))
    position = {name: i for i, name in enumerate(table.header)}
    missing = [name for name in wanted if name not in position]
    if missing:
        raise ComponentError(f"invalid {component} params: params.{field}: no column {', '.join(map(repr, missing))} "
                             f"in this party's table (columns: {', '.join(table.header)})")
    return [position[name] for name in wanted]


def own_columns(table: Table, spec: Any, field: str, component: str, role: str) -> list[int]:
    """Positions of this party's columns named by a `ParamReader.columns` value (all when None).

    A plain list is shared by every party, so each takes the names it has (a party cannot tell
    another's names from typos without learning them); a per-role list must name this party's own.
    """
    if spec is None:
        return list(range(len(table.header)))
    if isinstance(spec, Mapping):
        if role not in spec:
            return list(range(len(table.header)))
        return columns(table, spec[role], f"{field}.{role}", component)
    wanted = set(spec)
    return [i for i, name in enumerate(table.header) if name in wanted]


def replace_columns(table: Table, header: Sequence[str], features: np.ndarray) -> Table:
    return Table(table.ids, tuple(header), np.asarray(features, dtype=np.float64).reshape(len(table), len(header)),
                 table.labels)


def transformed(data: Table, side: Mapping[str, Table], transform: Callable[[Table], Table],
                model: Any = None, metrics: Mapping[str, Any] | None = None) -> ComponentResult:
    """The result of applying one fitted transform to the data and to every side table."""
    return ComponentResult(
        data=transform(data),
        model=model,
        metrics=MappingProxyType(dict(metrics or {})),
        side_data=MappingProxyType({name: transform(t) for name, t in side.items()}),
    )


def passthrough(ctx: ComponentContext, model: Any = None, metrics: Mapping[str, Any] | None = None) -> ComponentResult:
    """Data and side tables unchanged (statistics, binning), with this step's model and metrics."""
    return transformed(ctx.input_data(), side_tables(ctx), lambda t: t, model, metrics)


def require_model_columns(ctx: ComponentContext, model_header: Sequence[str], table: Table, component: str) -> None:
    """A stored model applies only to a table with exactly its feature columns (in any order).

    The failure reason reaches every party of the job, so it names no column; the detail goes
    to this party's own job log.
    """
    expected, found = set(model_header), set(table.header)
    if expected == found:
        return
    ctx.log(f"{component}: the model's columns missing from the input table: {sorted(expected - found)}; "
            f"columns the model does not know: {sorted(found - expected)}")
    raise ComponentError(f"{component} ({ctx.role}): the model's feature columns do not match this party's "
                         "input table (details in this party's job log)")
