"""statistics: per-column summaries of this party's own table (FATE 2.x's Statistics), nothing sent.

    - {name: stats, component: statistics, params: {metrics: [count, missing_count, mean, std, "50%"]}}

Every party computes its own columns and keeps them: a guest never sees a host's means,
a host never sees the guest's. Metric names are FATE's: count (non-missing values),
missing_count, missing_ratio, sum, mean, median, min, max, std, var (`ddof`, FATE's default
1), coefficient_of_variance, skewness, kurtosis (`bias`: FATE's default true, the biased
moment estimators), and quantiles as "N%" (exact, linear interpolation; FATE's are GK sketches
within `relative_error`). Data passes through unchanged.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from fate.ml.component import ComponentContext, ComponentResult, Table
from fate.ml.dataflow import own_columns, passthrough
from fate.ml.params import ParamReader

MODEL_FORMAT = "fate.statistics/1"
DEFAULT_METRICS = ("count", "missing_count", "mean", "std", "min", "max", "25%", "50%", "75%")
NAMED = ("count", "missing_count", "missing_ratio", "sum", "mean", "median", "min", "max", "std", "var",
         "coefficient_of_variance", "skewness", "kurtosis")
QUANTILE = re.compile(r"^(100|\d{1,2})%$")


def parse(params: Any, table: Table, role: str) -> tuple[list[str], list[int], int, bool]:
    p = ParamReader("statistics", params)
    metrics = p.names("metrics", DEFAULT_METRICS) or DEFAULT_METRICS
    bad = [m for m in metrics if m not in NAMED and not QUANTILE.match(m)]
    if bad:
        p.fail("metrics", f"unknown metric {', '.join(map(repr, bad))} (expected {', '.join(NAMED)} or 'N%')")
    ddof = p.int("ddof", 1, low=0)
    bias = p.bool("bias", True)
    p.number("relative_error", 1e-3, low=0.0, low_open=True)  # accepted for FATE job files; ours are exact
    skip_spec = p.columns("skip_col")
    p.done()
    skip = set() if skip_spec is None else set(own_columns(table, skip_spec, "skip_col", "statistics", role))
    keep = [i for i in range(len(table.header)) if i not in skip]
    return list(metrics), keep, ddof, bias


def _moment_stats(x: np.ndarray, bias: bool) -> tuple[float, float]:
    n = x.size
    if n < 2:
        return float("nan"), float("nan")
    centred = x - x.mean()
    m2, m3, m4 = (centred**2).mean(), (centred**3).mean(), (centred**4).mean()
    if m2 == 0:
        return float("nan"), float("nan")
    skew, kurt = m3 / m2**1.5, m4 / m2**2 - 3.0
    if not bias and n > 3:
        # The sample-size corrections pandas (and FATE with bias=false) apply.
        skew = skew * np.sqrt(n * (n - 1)) / (n - 2)
        kurt = ((n + 1) * kurt + 6.0) * (n - 1) / ((n - 2) * (n - 3))
    return float(skew), float(kurt)


def column_stats(x: np.ndarray, metrics: list[str], ddof: int, bias: bool) -> dict[str, float | int | None]:
    present = x[~np.isnan(x)]
    n = present.size
    out: dict[str, float | int | None] = {}
    skew, kurt = _moment_stats(present, bias) if {"skewness", "kurtosis"} & set(metrics) else (0.0, 0.0)
    for m in metrics:
        value: float | int | None
        if m == "count":
            value = int(n)
        elif m == "missing_count":
            value = int(x.size - n)
        elif m == "missing_ratio":
            value = float((x.size - n) / x.size) if x.size else 0.0
        elif n == 0:
            value = None  # no value to summarise; shown as empty rather than as a made-up number
        elif m == "sum":
            value = float(present.sum())
        elif m == "mean":
            value = float(present.mean())
        elif m in ("min", "max"):
            value = float(present.min() if m == "min" else present.max())
        elif m in ("std", "var", "coefficient_of_variance"):
            var = float(present.var(ddof=ddof)) if n > ddof else float("nan")
            std = float(np.sqrt(var))
            mean = float(present.mean())
            value = {"std": std, "var": var}.get(m, std / mean if mean else float("nan"))
        elif m == "skewness":
            value = skew
        elif m == "kurtosis":
            value = kurt
        else:
            q = 0.5 if m == "median" else int(m[:-1]) / 100
            value = float(np.quantile(present, q))
        out[m] = None if isinstance(value, float) and not np.isfinite(value) else value
    return out


def summarize(table: Table, params: Any, role: str) -> dict[str, Any]:
    metrics, keep, ddof, bias = parse(params, table, role)
    summary = {table.header[j]: column_stats(table.features[:, j], metrics, ddof, bias) for j in keep}
    return {"format": MODEL_FORMAT, "metrics": metrics, "rows": len(table), "columns": summary}


def run(ctx: ComponentContext) -> ComponentResult:
    if ctx.role not in ("guest", "host"):
        return ComponentResult()
    model = summarize(ctx.input_data(), ctx.params, ctx.role)
    ctx.save_model(model)
    ctx.log_metric("statistics", model["columns"])
    return passthrough(ctx, model)
