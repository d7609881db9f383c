"""SecureBoost prediction through the federation: the guest walks the trees, hosts decide their own splits.

    guest -> hosts  the ids to score (once)
    round r:
      guest -> host   for each of that host's split nodes some rows have reached: (split id, rows)
      host  -> guest  for each: which of those rows go left (x <= its secret threshold; missing to
                      the side learned in training)

The guest moves rows through its own splits locally between rounds, so there are at most
depth + 1 rounds for all trees together. A host learns which rows reach each of its split
nodes (as in FATE) and never learns a score; the guest learns a host split's outcome only
for the rows that reach it, and never a host threshold or feature.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from fate.federation.federation import Federation
from fate.ml.component import ComponentError, Table
from fate.ml.lr_model import align_rows

LEAF = None


def _decide(values: np.ndarray, threshold: float, missing_left: bool) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.where(np.isnan(values), missing_left, values <= threshold)


def predict_guest(fed: Federation, trees: Sequence[Sequence[Mapping[str, Any]]], table: Table, prefix: str,
                  learning_rate: float) -> np.ndarray:
    """Raw scores (sum of learning_rate x leaf weight) of `table`'s rows, in its order.

    A tree is a list of node dicts indexed by node id: leaves carry `weight`; guest splits carry
    `feature` (a column name of `table`), `threshold`, `missing_left`; host splits carry `party`
    (the host's party id) and `split_id`.
    """
    hosts = fed.parties("host")
    fed.remote({"ids": list(table.ids)}, f"{prefix}.ids", "host")
    position = {name: j for j, name in enumerate(table.header)}
    for tree in trees:
        for node in tree:
            if node.get("party") == "guest" and node["feature"] not in position:
                raise ComponentError(f"hetero_secureboost: the table lacks the model's column {node['feature']!r}")
    n = len(table)
    at = np.zeros((len(trees), n), dtype=np.int64)
    for r in range(10_000):
        asks: dict[int, list[dict[str, Any]]] = {h: [] for h in hosts}
        pending: dict[int, list[tuple[int, int, np.ndarray]]] = {h: [] for h in hosts}
        for t, tree in enumerate(trees):
            _walk_guest(tree, at[t], table, position)
            for node_id in np.unique(at[t]).tolist():
                node = tree[node_id]
                if node.get("party") not in (None, "guest"):
                    rows = np.flatnonzero(at[t] == node_id)
                    asks[int(node["party"])].append({"split_id": int(node["split_id"]), "rows": rows.astype(np.int32)})
                    pending[int(node["party"])].append((t, node_id, rows))
        done = not any(asks.values())
        for h in hosts:
            fed.remote({"done": done, "asks": asks[h]}, f"{prefix}.{r}.ask", "host", [h])
        if done:
            break
        for h in hosts:
            if not asks[h]:
                continue
            answers = fed.get(f"{prefix}.{r}.answer", "host", h)
            if len(answers) != len(pending[h]):
                raise ComponentError(f"hetero_secureboost: host {h} answered {len(answers)} of {len(pending[h])} splits")
            for (t, node_id, rows), packed in zip(pending[h], answers, strict=True):
                left = np.unpackbits(np.asarray(packed, dtype=np.uint8), count=len(rows)).astype(bool)
                node = trees[t][node_id]
                at[t, rows] = np.where(left, node["left"], node["right"])
    scores = np.zeros(n)
    for t, tree in enumerate(trees):
        weights = np.array([float(node.get("weight") or 0.0) for node in tree])
        scores += learning_rate * weights[at[t]]
    return scores


def _walk_guest(tree: Sequence[Mapping[str, Any]], at: np.ndarray, table: Table, position: Mapping[str, int]) -> None:
    """Move rows through guest splits until each sits on a leaf or a host split."""
    while True:
        moved = False
        for node_id in np.unique(at).tolist():
            node = tree[node_id]
            if node.get("party") != "guest":
                continue
            rows = np.flatnonzero(at == node_id)
            left = _decide(table.features[rows, position[node["feature"]]], node["threshold"], node["missing_left"])
            at[rows] = np.where(left, node["left"], node["right"])
            moved = True
        if not moved:
            return


def predict_host(fed: Federation, splits: Mapping[int, Mapping[str, Any]], table: Table, prefix: str) -> None:
    """Answer the guest's split questions for the rows it names, from this host's own lookup table."""
    ids = fed.get(f"{prefix}.ids", "guest")["ids"]
    position = {name: j for j, name in enumerate(table.header)}
    needed = sorted({s["feature"] for s in splits.values()} - set(position))
    if needed:
        raise ComponentError(f"hetero_secureboost: the table lacks the model's columns {', '.join(needed)}")
    x = align_rows(table.ids, table.features, ids)
    for r in range(10_000):
        msg = fed.get(f"{prefix}.{r}.ask", "guest")
        if msg["done"]:
            return
        if not msg["asks"]:
            continue
        answers = []
        for ask in msg["asks"]:
            split = splits.get(int(ask["split_id"]))
            if split is None:
                raise ComponentError(f"hetero_secureboost: the guest asked about unknown split {ask['split_id']}")
            rows = np.asarray(ask["rows"], dtype=np.int64)
            if rows.size and (rows.min() < 0 or rows.max() >= len(x)):
                raise ComponentError("hetero_secureboost: the guest named rows it did not send")
            column = x[rows, position[split["feature"]]]
            answers.append(np.packbits(_decide(column, split["threshold"], split["missing_left"])))
        fed.remote(answers, f"{prefix}.{r}.answer", "guest")
