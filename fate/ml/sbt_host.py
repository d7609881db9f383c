"""SecureBoost on a host: encrypted histograms of its own bins, and its own splits kept to itself.

Per tree the host receives one blinded ciphertext per row (the packed g, h, count record,
under the guest's key), shuffles its features afresh, and per layer:

    guest -> host   row lists of the nodes to build (FATE sends every row's node too)
    host  -> guest  encrypted cumulative sums per threshold and missing sums, folded and re-randomized
    guest -> host   for each node the guest split on this host: (rows, feature group, threshold, missing side)
    host  -> guest  per such node: an opaque split id and which of the node's rows go left

The host keeps `split id -> (feature, threshold value, missing side)`; the guest gets only
the id. What a host learns: which rows share a node at every layer (hence how the guest's
own splits partition the rows, though not on what), and nothing of labels or gradients.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import numpy as np

from fate.compute.contract import ComputeBackend
from fate.crypto import paillier
from fate.federation.federation import Federation
from fate.ml import he_pack
from fate.ml.binning import bin_columns
from fate.ml.component import ComponentError, Table
from fate.ml.lr_model import align_rows
from fate.ml.sbt_hist import bin_sums, threshold_entries
from fate.ml.sbt_params import SBTParams
from fate.ml.sbt_predict import predict_host
from fate.ml.timing import PhaseTimer

MODEL_FORMAT = "fate.hetero_secureboost/1"
Log = Callable[[str], None]


def _rows(raw: Any, n: int) -> np.ndarray:
    rows = np.asarray(raw, dtype=np.int64)
    if rows.ndim != 1 or (rows.size and (rows.min() < 0 or rows.max() >= n)):
        raise ComponentError("hetero_secureboost: the guest sent row numbers outside the training rows")
    return rows


def _shuffled(n: int) -> list[int]:
    order = list(range(n))
    for i in range(n - 1, 0, -1):  # Fisher-Yates with the OS's randomness: the guest must not predict it
        j = secrets.randbelow(i + 1)
        order[i], order[j] = order[j], order[i]
    return order


def train_host(fed: Federation, table: Table, p: SBTParams, prefix: str, log: Log = lambda _m: None,
               compute: ComputeBackend | None = None, validate: Table | None = None,
               timer: PhaseTimer | None = None) -> dict[str, Any]:
    timer = timer or PhaseTimer()
    with timer("wait"):
        setup = fed.get(f"{prefix}.setup", "guest")
    # The key is the guest's and protects the guest's gradients; this host's values never go under it.
    public = paillier.PublicKey.from_json(setup["pubkey"], insecure=True)
    x = align_rows(table.ids, table.features, setup["ids"])
    binned = bin_columns(x, "sbt", p.max_bin)
    n, n2 = len(x), public.nsquare
    slots = max(binned.bin_counts, default=1) + 1
    if setup.get("validate_ids") is not None and validate is None:
        raise ComponentError("hetero_secureboost: the guest validates on a side table this host does not have "
                             "(run data_split on every party)")
    splits: dict[int, dict[str, Any]] = {}
    tree = 0
    while True:
        with timer("wait"):
            msg = fed.get(f"{prefix}.{tree}.gh", "guest")
        if msg["stop"]:
            kept = int(msg["trees"])
            break
        cts = he_pack.from_wire(msg["gh"], public, "the guest's gradients")
        slot_bits = int(msg["slot_bits"])
        if len(cts) != n:
            raise ComponentError("hetero_secureboost: the guest's gradients do not match its rows")
        order = _shuffled(len(binned.bin_counts))
        fed.remote({"thresholds": [binned.bin_counts[j] - 1 for j in order]}, f"{prefix}.{tree}.groups", "guest")
        layer = 0
        while True:
            tag = f"{prefix}.{tree}.{layer}"
            with timer("wait"):
                request = fed.get(f"{tag}.build", "guest")
            if request["done"]:
                break
            build = [_rows(r, n) for r in request["rows"]]
            with timer("histogram"):
                cells = bin_sums(n2, cts, binned.bins, build, slots, compute)
                entries, present = threshold_entries(cells, len(build), binned.bin_counts, order, slots, n2)
            with timer("fold"):
                folded = he_pack.fold(public, entries, slot_bits, compute) if entries else []
            per = he_pack.capacity(public, slot_bits)
            fed.remote({"sums": he_pack.as_wire(public, folded, slot_bits, per), "entries": len(entries),
                        "present": np.packbits(present), "flags": len(present)}, f"{tag}.hist", "guest")
            with timer("wait"):
                asks = fed.get(f"{tag}.split", "guest")
            answers = []
            for ask in asks:
                rows, group = _rows(ask["rows"], n), int(ask["group"])
                if not 0 <= group < len(order):
                    raise ComponentError("hetero_secureboost: the guest asked for a feature this host does not have")
                j, t, missing_left = order[group], int(ask["threshold"]), bool(ask["missing_left"])
                if not 0 <= t < len(binned.edges[j]):
                    raise ComponentError("hetero_secureboost: the guest asked for a threshold this feature does not have")
                column = binned.bins[rows, j]
                left = np.where(column < 0, missing_left, column <= t)
                split_id = len(splits)
                splits[split_id] = {"feature": table.header[j], "threshold": float(binned.edges[j][t]),
                                    "missing_left": missing_left, "tree": tree}
                answers.append({"split_id": split_id, "left": np.packbits(left), "size": len(rows)})
            fed.remote(answers, f"{tag}.assign", "guest")
            layer += 1
        if setup.get("validate_ids") is not None and validate is not None:
            predict_host(fed, splits, validate, f"{prefix}.{tree}.valid")
        tree += 1
    kept_splits = {sid: s for sid, s in splits.items() if s["tree"] < kept}
    log(f"hetero_secureboost: host kept {len(kept_splits)} splits over {kept} trees")
    importance: dict[str, dict[str, int]] = {}
    for s in kept_splits.values():
        importance.setdefault(s["feature"], {"split": 0})["split"] += 1
    return {"format": MODEL_FORMAT, "role": "host", "party_id": fed.party_id, "header": list(table.header),
            "params": p.to_dict(), "trees": kept, "splits": {str(k): v for k, v in kept_splits.items()},
            "feature_importance": importance}


def host_splits(model: dict[str, Any]) -> dict[int, dict[str, Any]]:
    if model.get("format") != MODEL_FORMAT or model.get("role") != "host":
        raise ComponentError("not a hetero_secureboost host model")
    return {int(k): v for k, v in model["splits"].items()}
