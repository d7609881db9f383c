"""data_split: FATE 2.x's DataSplit, train / validate / test rows decided by the guest alone.

    - {name: split, component: data_split, params: {train_size: 0.6, validate_size: 0.2, test_size: 0.2,
                                                    stratified: true, random_state: 42}}

Sizes are fractions of the intersected rows (summing to 1) or row counts, as in FATE. The
guest shuffles its rows with `random_state` (stratified on its label when asked) and sends
each host only three id lists; every party then keeps the same rows in each subset, in the
guest's row order. The output `data` is the train set; validate and test travel beside it.

What the id lists reveal to a host: which subset each intersected id is in, nothing more.
Subset sizes depend only on the number of rows and the fractions (per-class counts are
allocated by largest remainder inside fixed totals, so sizes do not leak the class balance),
and each list is in the table's id order, not grouped by class. With `stratified`, membership
is correlated with the label inside each class's quota: a host that already knew the labels
of all but a handful of rows could pin down the rest from the per-subset counts; a host that
knows no labels learns nothing about any row's label.
"""

from __future__ import annotations

from types import MappingProxyType

import numpy as np

from fate.ml.component import ComponentContext, ComponentError, ComponentResult, Table
from fate.ml.dataflow import require_labels
from fate.ml.params import ParamReader

SUBSETS = ("train", "validate", "test")


def _sizes(p: ParamReader, n: int) -> tuple[int, int, int]:
    """Row counts of train, validate and test; sizes not given take FATE's defaults (0.8, 0.2, 0)."""
    defaults = {"train": 0.8, "validate": 0.2, "test": 0.0}
    values: dict[str, float] = {}
    for name in SUBSETS:
        value = p.raw_value(f"{name}_size")
        if value is None:
            value = defaults[name]
        if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
            p.fail(f"{name}_size", f"expected a fraction in [0, 1] or a row count >= 0, got {value!r}")
            return n, 0, 0
        values[name] = float(value)
    if all(v <= 1.0 for v in values.values()):
        total = sum(values.values())
        if abs(total - 1.0) > 1e-9:
            p.fail("train_size", f"train_size + validate_size + test_size = {total:g}; fractions must sum to 1")
            return n, 0, 0
        train = round(values["train"] * n)
        validate = min(round(values["validate"] * n), n - train)
        return train, validate, n - train - validate
    if not all(v.is_integer() for v in values.values()):
        p.fail("train_size", "give every size as a fraction or every size as a row count, not a mix")
        return n, 0, 0
    if sum(values.values()) > n:
        p.fail("train_size", f"train + validate + test = {sum(values.values()):g} rows; the table has {n}")
        return n, 0, 0
    return int(values["train"]), int(values["validate"]), int(values["test"])


def allocate(total: int, quotas: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """Integers summing to `total`, each <= its capacity and within one of its quota (largest remainder)."""
    out = np.minimum(np.floor(quotas).astype(np.int64), capacity)
    order = np.lexsort((np.arange(len(quotas)), -(quotas - np.floor(quotas))))
    short = total - int(out.sum())
    while short > 0:
        moved = False
        for c in order:
            if short and out[c] < capacity[c]:
                out[c] += 1
                short -= 1
                moved = True
        if not moved:
            raise ComponentError("data_split: cannot allocate the requested sizes")
    return np.asarray(out, dtype=np.int64)


def split_rows(n: int, sizes: tuple[int, int, int], labels: np.ndarray | None, seed: int | None) -> list[np.ndarray]:
    """Row positions of train, validate and test, each sorted ascending (the table's order)."""
    rng = np.random.default_rng(seed)
    if labels is None:
        order = rng.permutation(n)
        cut = np.cumsum(sizes)
        return [np.sort(order[a:b]) for a, b in zip([0, cut[0], cut[1]], cut, strict=True)]
    classes, inverse = np.unique(labels, return_inverse=True)
    members = [rng.permutation(np.flatnonzero(inverse == c)) for c in range(len(classes))]
    room = np.array([len(m) for m in members], dtype=np.int64)
    counts = []
    for size in sizes:
        share = allocate(size, room.astype(np.float64) * size / max(int(room.sum()), 1) if room.sum() else room * 0.0,
                         room)
        counts.append(share)
        room = room - share
    parts: list[list[int]] = [[], [], []]
    for c, rows in enumerate(members):
        start = 0
        for s in range(3):
            parts[s].extend(rows[start : start + counts[s][c]].tolist())
            start += int(counts[s][c])
    return [np.sort(np.asarray(p, dtype=np.int64)) for p in parts]


def _parse(ctx: ComponentContext, n: int) -> tuple[tuple[int, int, int], bool, int | None]:
    p = ParamReader("data_split", ctx.params)
    sizes = _sizes(p, n)
    stratified = p.bool("stratified", False)
    seed_raw = p.raw_value("random_state")
    seed = None if seed_raw is None else p.int("random_state", 0, low=0)
    if not p.bool("hetero_sync", True):
        p.fail("hetero_sync", "false would split each party's rows independently and break the row "
                              "alignment a hetero job needs; only true is supported")
    p.done()
    return sizes, stratified, seed


def _result(table: Table, parts: dict[str, Table], sizes: dict[str, int]) -> ComponentResult:
    side = {name: parts[name] for name in ("validate", "test") if len(parts[name])}
    return ComponentResult(data=parts["train"], metrics=MappingProxyType(dict(sizes)),
                           side_data=MappingProxyType(side))


def run(ctx: ComponentContext) -> ComponentResult:
    if ctx.role not in ("guest", "host"):
        return ComponentResult()
    table = ctx.input_data()
    prefix = ctx.component or "data_split"
    if ctx.role == "host":
        lists = ctx.federation.get(f"{prefix}.ids", "guest")
        parts = {name: table.select(lists[name]) for name in SUBSETS}
    else:
        sizes, stratified, seed = _parse(ctx, len(table))
        labels = require_labels(table, "data_split") if stratified else None
        rows = split_rows(len(table), sizes, labels, seed)
        parts = {name: table.take(r) for name, r in zip(SUBSETS, rows, strict=True)}
        ctx.federation.remote({name: list(parts[name].ids) for name in SUBSETS}, f"{prefix}.ids", "host")
    counts = {name: len(parts[name]) for name in SUBSETS}
    ctx.log(f"data_split: train {counts['train']}, validate {counts['validate']}, test {counts['test']} rows")
    for name, count in counts.items():
        ctx.log_metric(f"{name}_rows", count)
    if counts["train"] == 0:
        raise ComponentError("data_split: the train set is empty")
    return _result(table, parts, counts)
