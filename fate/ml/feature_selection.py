"""hetero_feature_selection: FATE 2.x's HeteroFeatureSelection on IV (and manual lists).

    - {name: select, component: hetero_feature_selection, needs: [binning],
       params: {method: [iv], iv_param: {filter_type: top_k, threshold: 8}}}

The guest holds every IV (its own columns' and, from hetero_feature_binning, each host
column's under its anonymous name) and decides; each host receives only the positions of
its own columns to keep, which it maps back to names through its binning model. `filter_type`
is `threshold` (IV >= threshold, or <= with `take_high: false`), `top_k` (threshold = k) or
`top_percentile` (threshold = fraction kept). With `select_federated` (FATE's default) the
filter ranks guest and host columns together; without it, it applies to the guest's alone.
`keep_one` keeps each party's best column when the filter would drop them all. `manual_param`
(`keep_col`, `filter_out_col`) names a party's own columns. The selection is applied to the
data and the side tables, and, when an upstream step already carries a selection model, that
model is applied unchanged (the prediction path).
"""

from __future__ import annotations

import math
from typing import Any

from fate.ml import feature_binning
from fate.ml.component import ComponentContext, ComponentError, ComponentResult, Table
from fate.ml.dataflow import own_columns, replace_columns, side_tables, transformed, upstream_model
from fate.ml.params import ParamReader

MODEL_FORMAT = "fate.hetero_feature_selection/1"
FILTERS = ("threshold", "top_k", "top_percentile")


def parse(params: Any) -> dict[str, Any]:
    p = ParamReader("hetero_feature_selection", params)
    methods = p.names("method", ["iv"]) or ("iv",)
    for m in methods:
        if m not in ("iv", "manual"):
            p.fail("method", f"{m!r} is not one of iv, manual")
    iv = p.section("iv_param")
    iv.choice("metrics", ("iv",), "iv")
    filter_type = iv.choice("filter_type", FILTERS, "threshold")
    threshold = iv.number("threshold", 0.1, low=0.0)
    if filter_type == "top_k" and not float(threshold).is_integer():
        iv.fail("threshold", f"top_k keeps a whole number of columns, got {threshold:g}")
    if filter_type == "top_percentile" and threshold > 1:
        iv.fail("threshold", f"top_percentile is a fraction in [0, 1], got {threshold:g}")
    out = {"method": methods, "filter_type": filter_type, "threshold": threshold,
           "take_high": iv.bool("take_high", True), "select_federated": iv.bool("select_federated", True)}
    iv.unknown()
    manual = p.section("manual_param")
    out["keep_col"] = manual.names("keep_col") or ()
    out["filter_out_col"] = manual.names("filter_out_col") or ()
    manual.unknown()
    out["select_col"] = p.columns("select_col")
    out["keep_one"] = p.bool("keep_one", True)
    p.done()
    return out


def iv_filter(ivs: dict[str, float], params: dict[str, Any]) -> set[str]:
    """The names an IV filter keeps, ties broken by name so every run agrees."""
    ranked = sorted(ivs, key=lambda n: (-ivs[n] if params["take_high"] else ivs[n], n))
    t = params["threshold"]
    if params["filter_type"] == "threshold":
        return {n for n in ivs if (ivs[n] >= t if params["take_high"] else ivs[n] <= t)}
    k = int(t) if params["filter_type"] == "top_k" else math.ceil(t * len(ivs))
    return set(ranked[:k])


def _manual(names: list[str], params: dict[str, Any]) -> set[str]:
    keep = set(names)
    if params["keep_col"]:
        keep &= set(params["keep_col"])
    return keep - set(params["filter_out_col"])


def _scope(table: Table, params: dict[str, Any], role: str) -> list[str]:
    picked = own_columns(table, params["select_col"], "select_col", "hetero_feature_selection", role)
    return [table.header[i] for i in picked]


def select_guest(ctx: ComponentContext, params: dict[str, Any], table: Table) -> dict[str, Any]:
    names = _scope(table, params, "guest")
    keep = set(names)
    host_keep: dict[str, set[str]] = {}
    host_ivs: dict[str, float] = {}
    if "manual" in params["method"]:
        keep &= _manual(names, params)
    if "iv" in params["method"]:
        binning = upstream_model(ctx, feature_binning.MODEL_FORMAT)
        if binning is None:
            raise ComponentError("hetero_feature_selection: params.method 'iv' needs an upstream "
                                 "hetero_feature_binning step (list it in needs)")
        own = {n: float(binning["columns"][n]["iv"]) for n in names if n in binning["columns"]}
        host_ivs = {n: float(c["iv"]) for n, c in binning["host_columns"].items()}
        pool = {**own, **host_ivs} if params["select_federated"] else own
        chosen = iv_filter(pool, params)
        keep &= {n for n in names if n not in own or n in chosen}
        host_chosen = chosen if params["select_federated"] else set(host_ivs)
        for n in host_ivs:
            host_keep.setdefault(n.rsplit("_", 1)[0], set())
            if n in host_chosen:
                host_keep[n.rsplit("_", 1)[0]].add(n)
        if params["keep_one"]:
            if not keep and own:
                keep.add(max(own, key=lambda n: (own[n], n)))
            for prefix, chosen_here in host_keep.items():
                mine = {n: v for n, v in host_ivs.items() if n.rsplit("_", 1)[0] == prefix}
                if not chosen_here and mine:
                    chosen_here.add(max(mine, key=lambda n: (mine[n], n)))
    for host in ctx.federation.parties("host") if "host" in ctx.roles else ():
        positions = sorted(int(n.rsplit("_", 1)[1]) for n in host_keep.get(f"host_{host}", set()))
        every = "iv" not in params["method"]
        ctx.federation.remote({"keep": None if every else positions}, f"{ctx.component or 'selection'}.keep",
                              "host", [host])
    kept = [h for h in table.header if h in keep or h not in names]
    return {"format": MODEL_FORMAT, "role": "guest", "kept": kept,
            "dropped": [h for h in table.header if h not in kept],
            "host_kept": sorted(n for s in host_keep.values() for n in s),
            "host_dropped": sorted(n for n in host_ivs if not any(n in s for s in host_keep.values()))}


def select_host(ctx: ComponentContext, params: dict[str, Any], table: Table) -> dict[str, Any]:
    names = _scope(table, params, "host")
    keep = set(names)
    if "manual" in params["method"]:
        keep &= _manual(names, params)
    decided = ctx.federation.get(f"{ctx.component or 'selection'}.keep", "guest")["keep"]
    if decided is not None:
        binning = upstream_model(ctx, feature_binning.MODEL_FORMAT) or {"columns": {}}
        by_position = {int(c["anonymous"].rsplit("_", 1)[1]): n for n, c in binning["columns"].items()}
        keep &= {by_position[j] for j in decided if j in by_position}
    kept = [h for h in table.header if h in keep or h not in names]
    return {"format": MODEL_FORMAT, "role": "host", "kept": kept, "dropped": [h for h in table.header if h not in kept]}


def apply_selection(model: dict[str, Any], table: Table) -> Table:
    missing = [n for n in model["kept"] if n not in table.header]
    if missing:
        raise ComponentError(f"hetero_feature_selection: the table lacks selected columns {', '.join(missing)}")
    picked = [table.header.index(n) for n in model["kept"]]
    return replace_columns(table, model["kept"], table.features[:, picked])


def run(ctx: ComponentContext) -> ComponentResult:
    if ctx.role not in ("guest", "host"):
        return ComponentResult()
    table = ctx.input_data()
    model = upstream_model(ctx, MODEL_FORMAT)
    if model is None:
        params = parse(ctx.params)
        model = select_guest(ctx, params, table) if ctx.role == "guest" else select_host(ctx, params, table)
        ctx.log(f"hetero_feature_selection: kept {len(model['kept'])} of {len(table.header)} columns")
    ctx.save_model(model)
    return transformed(table, side_tables(ctx), lambda t: apply_selection(model, t), model,
                       {"kept": len(model["kept"]), "dropped": len(model["dropped"])})
