"""The flow's view of homo training: `homo_lr` and `homo_nn` over ComponentContext.

Clients are the guest and every host, each with its own labelled rows and the same
columns; the arbiter aggregates. After training each client scores its own rows with
the global model (and the rows of `test_table`, a table in its own store, when given),
reports AUC, KS, accuracy... on them, and outputs the scored table, so an `evaluation`
step downstream reports on it as for hetero models.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fate.crypto.errors import CryptoError
from fate.ml.component import ComponentContext, ComponentError, ComponentResult, Table
from fate.ml.evaluation import EvaluationError, evaluate_binary
from fate.ml.homo.models import model_dict
from fate.ml.homo.params import HomoParams, parse_params
from fate.ml.homo.train import ClientModel, train_aggregator, train_client

SCORE = "predict_score"
RESULT = "predict_result"
CLIENT_ROLES = ("guest", "host")


def run_homo_lr(ctx: ComponentContext) -> ComponentResult:
    return _run(ctx, "homo_lr")


def run_homo_nn(ctx: ComponentContext) -> ComponentResult:
    return _run(ctx, "homo_nn")


def _run(ctx: ComponentContext, kind: str) -> ComponentResult:
    if "arbiter" not in ctx.roles:
        raise ComponentError(f"{kind} needs an arbiter role: it is the aggregator (roles.arbiter)")
    n_clients = sum(len(ctx.roles.get(r, ())) for r in CLIENT_ROLES)
    params = parse_params(ctx.params, kind, n_clients)
    try:
        if ctx.role == "arbiter":
            return _aggregate(ctx, kind, params)
        if ctx.role not in CLIENT_ROLES:
            raise ComponentError(f"{kind} has no role {ctx.role!r} (guest, host, arbiter)")
        return _client(ctx, kind, params)
    except CryptoError as err:
        # e.g. an update beyond the encoding bound, or a refused unmasking request
        raise ComponentError(f"{kind} ({ctx.role}): {err}") from None


def _aggregate(ctx: ComponentContext, kind: str, params: HomoParams) -> ComponentResult:
    model = train_aggregator(ctx.federation, params, ctx.component or kind, ctx.log)
    saved: dict[str, Any] = {"format": "fate.homo/1", "kind": kind, "layers": list(model.net.layers),
                             "loss": list(model.loss), "rounds": model.rounds}
    if model.params is not None:
        saved = model_dict(kind, model.net, (), model.params, loss=list(model.loss), rounds=model.rounds)
    ctx.save_model(saved)
    ctx.log_metric("loss", list(model.loss))
    metrics = {"loss": list(model.loss), "rounds": model.rounds,
               "dropped": [list(d) for d in model.dropped], "method": params.secure.method}
    return ComponentResult(model=saved, metrics=metrics)


def _labels(table: Table, where: str) -> np.ndarray:
    if table.labels is None:
        raise ComponentError(f"{where} has no label column y; every homo client needs labelled rows")
    y = table.labels
    if not np.isin(y, (0.0, 1.0)).all():
        raise ComponentError(f"{where}: labels must be 0 or 1 (a binary classifier), found {sorted(set(y.tolist()))[:5]}")
    return y


def _report(prefix: str, y: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    try:
        summary = evaluate_binary(y, scores, threshold).summary()
    except EvaluationError as err:  # e.g. a client whose rows hold one class only
        return {f"{prefix}_note": str(err)}  # type: ignore[dict-item]
    return {f"{prefix}_{k}": v for k, v in summary.items()}


def _scored(table: Table, scores: np.ndarray, threshold: float) -> Table:
    predicted = (scores >= threshold).astype(np.float64)
    return Table(table.ids, (SCORE, RESULT), np.column_stack([scores, predicted]), table.labels)


def _test_table(ctx: ComponentContext, name: str, train: Table) -> Table:
    try:
        test = ctx.read_table(name)
    except Exception as err:  # the store's NotFound, an unreadable file: the job must say which param
        raise ComponentError(f"params.test_table: party {ctx.party_id} cannot read {name!r}: {err}") from None
    if test.header != train.header:
        raise ComponentError(f"params.test_table: {name!r} has other columns than party {ctx.party_id}'s training table")
    _labels(test, f"params.test_table {name!r}")
    return test


def _client(ctx: ComponentContext, kind: str, params: HomoParams) -> ComponentResult:
    table = ctx.input_data()
    y = _labels(table, f"party {ctx.party_id}'s table")
    test = None if params.test_table is None else _test_table(ctx, params.test_table, table)  # before training
    trained: ClientModel = train_client(ctx.federation, table.header, table.features, y, params,
                                        ctx.component or kind, ctx.log)
    model = model_dict(kind, trained.net, table.header, trained.params, rounds=trained.rounds,
                       dropped_at=trained.dropped_at)
    ctx.save_model(model)
    net, flat = trained.net, trained.params
    scores = net.predict_proba(table.features, flat)
    metrics: dict[str, Any] = {"rounds": trained.rounds, **_report("train", y, scores, params.threshold)}
    output = _scored(table, scores, params.threshold)
    if test is not None and test.labels is not None:
        y_test = test.labels
        test_scores = net.predict_proba(test.features, flat)
        metrics.update(_report("test", y_test, test_scores, params.threshold))
        output = _scored(test, test_scores, params.threshold)
    for name, value in metrics.items():
        ctx.log_metric(name, value)
    return ComponentResult(data=output, model=model, metrics=metrics)
