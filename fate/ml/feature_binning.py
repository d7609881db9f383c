"""hetero_feature_binning: FATE 2.x's HeteroFeatureBinning, with host WOE / IV through Paillier.

    - {name: binning, component: hetero_feature_binning, params: {method: quantile, n_bins: 10}}

Every party bins its own columns (`quantile` or `bucket`, see fate.ml.binning). The guest
holds the labels and computes WOE and IV of its own bins in the clear. For a host's bins:

    guest -> host   its public key and, per row, [[y + (1 - y) * 2^w]]  (event and non-event
                    counts in one ciphertext; w = bits of the row count, so sums never carry)
    host  -> guest  per bin of each of its columns, the product of its rows' ciphertexts
                    (the bin's encrypted event and non-event counts), folded many to a
                    ciphertext and re-randomized

The host never sees a label (only fresh, blinded ciphertexts); the guest decrypts per-bin
counts and never sees a host value, a bin edge or a column name: host columns are named
`host_<party>_<position>`. What the guest does learn is what WOE/IV are made of: each host
bin's event and non-event counts. The data passes through unchanged.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gmpy2 import mpz

from fate.crypto import paillier
from fate.ml import he_pack
from fate.ml.binning import Binned, bin_columns, bin_label_counts, woe_iv
from fate.ml.component import ComponentContext, ComponentError, ComponentResult, Table
from fate.ml.dataflow import binary_labels, own_columns, passthrough
from fate.ml.lr_model import align_rows
from fate.ml.params import ParamReader, key_params

MODEL_FORMAT = "fate.hetero_feature_binning/1"
METHODS = ("quantile", "bucket")


def parse(params: Any) -> dict[str, Any]:
    p = ParamReader("hetero_feature_binning", params)
    out = {
        "method": p.choice("method", METHODS, "quantile"),
        "n_bins": p.int("n_bins", 10, low=2, high=1024),
        "bin_col": p.columns("bin_col"),
        "adjustment_factor": p.number("adjustment_factor", 0.5, low=0.0, low_open=True),
        "local_only": p.bool("local_only", False),
    }
    p.number("relative_error", 1e-6, low=0.0, low_open=True)  # FATE's sketch error; our quantiles are exact
    out["key_length"], out["insecure_key"] = key_params(p)
    p.done()
    return out


def _binned(table: Table, params: dict[str, Any], role: str) -> tuple[list[str], Binned]:
    picked = own_columns(table, params["bin_col"], "bin_col", "hetero_feature_binning", role)
    names = [table.header[i] for i in picked]
    return names, bin_columns(table.features[:, picked], params["method"], params["n_bins"])


def _describe(binned: Binned, j: int, event: np.ndarray, non_event: np.ndarray, totals: tuple[int, int],
              factor: float, edges: bool) -> dict[str, Any]:
    """One column's bins: counts, WOE and IV per bin (the missing bin last, only when it has rows)."""
    n_bins = binned.bin_counts[j]
    keep = n_bins + (1 if event[n_bins] + non_event[n_bins] else 0)
    stats = woe_iv(event[:keep], non_event[:keep], totals[0], totals[1], factor)
    out: dict[str, Any] = {
        "event": list(stats.event), "non_event": list(stats.non_event), "woe": list(stats.woe),
        "iv_per_bin": list(stats.iv_per_bin), "iv": stats.iv, "missing_bin": keep > n_bins,
    }
    if edges:
        out["edges"] = [float(e) for e in binned.edges[j]]
    return out


def run_guest(ctx: ComponentContext, params: dict[str, Any]) -> dict[str, Any]:
    table = ctx.input_data()
    labels = binary_labels(table, "hetero_feature_binning")
    names, binned = _binned(table, params, "guest")
    totals = (int(labels.sum()), int(len(labels) - labels.sum()))
    columns = {}
    for j, name in enumerate(names):
        ev, ne = bin_label_counts(binned.bins[:, j], labels, binned.bin_counts[j])
        columns[name] = _describe(binned, j, ev, ne, totals, params["adjustment_factor"], True)
    model: dict[str, Any] = {"format": MODEL_FORMAT, "role": "guest", "method": params["method"],
                             "columns": columns, "host_columns": {}}
    hosts = ctx.federation.parties("host") if "host" in ctx.roles and not params["local_only"] else ()
    if hosts:
        model["host_columns"] = _host_woe(ctx, params, table, labels, totals)
    return model


def _host_woe(ctx: ComponentContext, params: dict[str, Any], table: Table, labels: np.ndarray,
              totals: tuple[int, int]) -> dict[str, Any]:
    fed, prefix = ctx.federation, ctx.component or "hetero_feature_binning"
    bits = ctx.policy.key_floor(params["key_length"])
    public, private = paillier.generate_keypair(bits, insecure=params["insecure_key"] or ctx.policy.allow_insecure_keys)
    width = len(table).bit_length()
    records = [int(y) + ((1 - int(y)) << width) for y in labels]
    encrypted = he_pack.encrypt_ints(public, records)
    fed.remote({"pubkey": public.to_json(), "ids": list(table.ids), "width": width,
                "rows": he_pack.as_wire(public, encrypted, 2 * width)}, f"{prefix}.ey", "host")
    out: dict[str, Any] = {}
    for host, reply in zip(fed.parties("host"), fed.get_all(f"{prefix}.counts", "host"), strict=True):
        sizes = [int(s) for s in reply["sizes"]]
        slot = 2 * width
        per = he_pack.capacity(public, slot)
        plain = he_pack.decrypt_ints(private, he_pack.from_wire(reply["sums"], public, f"host {host}'s bin sums"))
        counts = he_pack.fields(he_pack.unfold(plain, sum(sizes), slot, per), (width, width))
        start = 0
        for j, size in enumerate(sizes):
            ev, ne = counts[start : start + size, 0], counts[start : start + size, 1]
            start += size
            stats = woe_iv(ev, ne, totals[0], totals[1], params["adjustment_factor"])
            out[f"host_{host}_{j}"] = {
                "event": list(stats.event), "non_event": list(stats.non_event), "woe": list(stats.woe),
                "iv_per_bin": list(stats.iv_per_bin), "iv": stats.iv, "missing_bin": bool(reply["missing"][j]),
            }
    return out


def run_host(ctx: ComponentContext, params: dict[str, Any]) -> dict[str, Any]:
    table = ctx.input_data()
    names, binned = _binned(table, params, "host")
    anonymous = {name: f"host_{ctx.party_id}_{j}" for j, name in enumerate(names)}
    model: dict[str, Any] = {"format": MODEL_FORMAT, "role": "host", "method": params["method"], "columns": {
        name: {"edges": [float(e) for e in binned.edges[j]], "anonymous": anonymous[name]}
        for j, name in enumerate(names)}}
    if params["local_only"]:
        return model
    fed, prefix = ctx.federation, ctx.component or "hetero_feature_binning"
    msg = fed.get(f"{prefix}.ey", "guest")
    # The key is the guest's: it protects the guest's labels, which only the guest may decrypt.
    public = paillier.PublicKey.from_json(msg["pubkey"], insecure=True)
    rows = he_pack.from_wire(msg["rows"], public, "the guest's encrypted labels")
    width = int(msg["width"])
    if len(rows) != len(msg["ids"]) or len(msg["ids"]).bit_length() > width:
        raise ComponentError("hetero_feature_binning: the guest's encrypted labels do not match its id list")
    order = align_rows(table.ids, np.arange(len(table))[:, None], msg["ids"])[:, 0]
    bins = binned.bins[order]
    n2 = public.nsquare
    sums, sizes, missing = [], [], []
    for j, n_bins in enumerate(binned.bin_counts):
        column = np.where(bins[:, j] < 0, n_bins, bins[:, j])
        has_missing = bool((column == n_bins).any())
        # An empty bin stays the trivial encryption of 0; folding re-randomizes every ciphertext sent.
        per_bin = [mpz(1)] * (n_bins + int(has_missing))
        for row, b in enumerate(column.tolist()):
            per_bin[b] = per_bin[b] * rows[row] % n2
        sums.extend(per_bin)
        sizes.append(len(per_bin))
        missing.append(has_missing)
    folded = he_pack.fold(public, sums, 2 * width)
    fed.remote({"sums": he_pack.as_wire(public, folded, 2 * width, he_pack.capacity(public, 2 * width)),
                "sizes": sizes, "missing": missing}, f"{prefix}.counts", "guest")
    ctx.log(f"hetero_feature_binning: sent encrypted bin counts of {len(names)} columns ({len(folded)} ciphertexts)")
    return model


def run(ctx: ComponentContext) -> ComponentResult:
    if ctx.role not in ("guest", "host"):
        return ComponentResult()
    params = parse(ctx.params)
    model = run_guest(ctx, params) if ctx.role == "guest" else run_host(ctx, params)
    ctx.save_model(model)
    if ctx.role == "guest":
        ivs = {name: col["iv"] for name, col in {**model["columns"], **model["host_columns"]}.items()}
        ctx.log_metric("iv", ivs)
    return passthrough(ctx, model)
