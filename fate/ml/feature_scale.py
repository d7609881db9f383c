"""feature_scale: FATE 2.x's FeatureScale, each party scaling its own columns, nothing exchanged.

    - {name: scale, component: feature_scale, params: {method: standard}}
    - {name: scale, component: feature_scale, params: {method: min_max, feature_range: [0, 1]}}

`standard` is (x - mean) / std with FATE's std (ddof = 1); `min_max` maps the training
[min, max] onto `feature_range` (a pair, or a pair per column) and, with `strict_range`
(FATE's default), clips values outside it at prediction. The scaler is fitted on the
step's data (the training rows) and applied unchanged to the side tables (validate, test).
When an upstream step already carries a feature_scale model, this step fits nothing and
applies that model: that is the prediction path. Missing values stay missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from fate.ml.component import ComponentContext, ComponentError, ComponentResult, Table
from fate.ml.dataflow import columns, own_columns, replace_columns, side_tables, transformed, upstream_model
from fate.ml.params import ParamReader

MODEL_FORMAT = "fate.feature_scale/1"
METHODS = ("standard", "min_max")


def _feature_range(p: ParamReader) -> Any:
    raw = p.raw_value("feature_range")
    if raw is None:
        return [0.0, 1.0]
    pairs = raw.values() if isinstance(raw, Mapping) else [raw]
    for pair in pairs:
        ok = isinstance(pair, list) and len(pair) == 2 and all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in pair)
        if not ok or pair[0] >= pair[1]:
            p.fail("feature_range", f"expected [low, high] with low < high (or one such pair per column), got {pair!r}")
            return [0.0, 1.0]
    return raw


def fit_scaler(table: Table, params: Mapping[str, Any], role: str) -> dict[str, Any]:
    """The fitted model (plain data) for this party's columns."""
    p = ParamReader("feature_scale", params)
    method = p.choice("method", METHODS, "standard")
    wanted = p.columns("scale_col")
    feature_range = _feature_range(p)
    strict = p.bool("strict_range", True)
    p.done()
    picked = own_columns(table, wanted, "scale_col", "feature_scale", role)
    x = table.features[:, picked]
    if len(table) == 0:
        raise ComponentError("feature_scale: the table has no rows to fit on")
    names = [table.header[i] for i in picked]
    model: dict[str, Any] = {"format": MODEL_FORMAT, "method": method, "columns": names, "strict_range": strict}
    with np.errstate(invalid="ignore"):
        if method == "standard":
            mean = np.nanmean(x, axis=0) if x.size else np.zeros(0)
            std = np.nanstd(x, axis=0, ddof=1) if len(table) > 1 else np.zeros(len(names))
            model.update(mean=_floats(mean), std=_floats(std))
        else:
            lows = np.nanmin(x, axis=0) if x.size else np.zeros(0)
            highs = np.nanmax(x, axis=0) if x.size else np.zeros(0)
            ranges = [feature_range.get(n, [0.0, 1.0]) if isinstance(feature_range, Mapping) else feature_range
                      for n in names]
            model.update(min=_floats(lows), max=_floats(highs), feature_range=[[float(a), float(b)] for a, b in ranges])
    return model


def _floats(values: np.ndarray) -> list[float]:
    # A column with no value at all fits as NaN; stored as 0 so the model stays valid JSON.
    return [0.0 if not np.isfinite(v) else float(v) for v in values]


def apply_scaler(model: Mapping[str, Any], table: Table) -> Table:
    """Scale the model's columns of `table` (other columns pass through)."""
    picked = columns(table, model["columns"], "scale_col", "feature_scale")
    x = table.features.copy()
    block = x[:, picked]
    if model["method"] == "standard":
        mean, std = np.asarray(model["mean"]), np.asarray(model["std"])
        # A constant column (std 0) only loses its mean rather than becoming inf.
        block = (block - mean) / np.where(std > 0, std, 1.0)
    else:
        low, high = np.asarray(model["min"]), np.asarray(model["max"])
        target = np.asarray(model["feature_range"], dtype=np.float64).reshape(-1, 2)
        span = np.where(high > low, high - low, 1.0)
        block = (block - low) / span * (target[:, 1] - target[:, 0]) + target[:, 0]
        if model["strict_range"]:
            block = np.clip(block, target[:, 0], target[:, 1])  # NaN stays NaN
    x[:, picked] = block
    return replace_columns(table, table.header, x)


def run(ctx: ComponentContext) -> ComponentResult:
    if ctx.role not in ("guest", "host"):
        return ComponentResult()
    data = ctx.input_data()
    model = upstream_model(ctx, MODEL_FORMAT)
    if model is None:
        model = fit_scaler(data, ctx.params, ctx.role)
        ctx.log(f"feature_scale: fitted {model['method']} on {len(model['columns'])} columns of {len(data)} rows")
    else:
        ctx.log("feature_scale: applying the upstream feature_scale model unchanged")
    ctx.save_model(model)
    return transformed(data, side_tables(ctx), lambda t: apply_scaler(model, t), model)


# A column whose spread or centre is this far from 1 / 0 is "far from unit scale": FATE's learning rates
# and regularization assume standardized features, and raw amounts (bill sizes, ages) train badly.
FAR_FROM_UNIT = 10.0


def unscaled_columns(table: Table) -> list[str]:
    """Columns far from unit scale, worst first, each with its std and mean."""
    if not len(table) or not table.header:
        return []
    with np.errstate(invalid="ignore", over="ignore"):
        mean = np.nan_to_num(np.nanmean(table.features, axis=0))
        std = np.nan_to_num(np.nanstd(table.features, axis=0))
    badness = np.maximum(np.abs(mean), std) / FAR_FROM_UNIT
    worst = np.argsort(-badness)
    return [f"{table.header[j]!r} (std {std[j]:.4g}, mean {mean[j]:.4g})" for j in worst if badness[j] > 1.0]


def warn_if_unscaled(ctx: ComponentContext, table: Table, component: str) -> None:
    """Write a warning to the job log when a model's features are far from unit scale."""
    bad = unscaled_columns(table)
    if bad:
        shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
        ctx.log(f"warning: {component} ({ctx.role}): {len(bad)} of {len(table.header)} feature columns are far "
                f"from unit scale: {shown}; add a feature_scale step (method: standard) before {component}")
