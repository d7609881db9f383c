"""The flow's view of hetero LR: `hetero_lr` and `evaluation` components over ComponentContext.

`hetero_lr` trains, stores each party's own slice of the model, then scores its
training rows through the federation (as FATE's LR does) so an `evaluation` step
downstream can report on them. `evaluation` reports AUC, KS, accuracy,
precision/recall and the ROC curve on the guest, and the loss curve on the arbiter.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fate.crypto.errors import CryptoError
from fate.ml.component import ComponentContext, ComponentError, ComponentResult, Table
from fate.ml.evaluation import EvaluationError, evaluate_binary
from fate.ml.feature_scale import warn_if_unscaled
from fate.ml.hetero_lr import train_arbiter, train_guest, train_host
from fate.ml.lr_model import MODEL_FORMAT
from fate.ml.lr_params import parse_params
from fate.ml.prediction import predict_guest, predict_host

SCORE = "predict_score"
RESULT = "predict_result"


def run_hetero_lr(ctx: ComponentContext) -> ComponentResult:
    try:
        return _run_hetero_lr(ctx)
    except CryptoError as err:
        # e.g. a value too large for the fixed-point range: say which component and why, not where.
        raise ComponentError(f"hetero_lr ({ctx.role}): {err}") from None


def _run_hetero_lr(ctx: ComponentContext) -> ComponentResult:
    params = parse_params(ctx.params)
    fed, prefix = ctx.federation, ctx.component or "hetero_lr"
    if ctx.role == "arbiter":
        model = train_arbiter(fed, params, prefix, ctx.log)
        ctx.save_model(model.to_dict())
        ctx.log_metric("loss", list(model.loss))
        return ComponentResult(model=model.to_dict(), metrics={"loss": list(model.loss), "iterations": model.iterations})
    table = ctx.input_data()
    warn_if_unscaled(ctx, table, "hetero_lr")
    if ctx.role == "host":
        model = train_host(fed, table.ids, table.header, table.features, params, prefix, ctx.log)
        ctx.save_model(model.to_dict())
        predict_host(fed, model, table.ids, table.header, table.features, prefix)
        return ComponentResult(model=model.to_dict())
    if ctx.role != "guest":
        raise ComponentError(f"hetero_lr has no role {ctx.role!r} (guest, host, arbiter)")
    if table.labels is None:
        raise ComponentError("the guest's table has no label column; hetero_lr needs labels on the guest")
    model = train_guest(fed, table.ids, table.header, table.features, table.labels, params, prefix, ctx.log)
    ctx.save_model(model.to_dict())
    scores = predict_guest(fed, model, table.ids, table.header, table.features, prefix)
    predicted = (scores >= params.threshold).astype(np.float64)
    scored = Table(table.ids, (SCORE, RESULT), np.column_stack([scores, predicted]), table.labels)
    return ComponentResult(data=scored, model=model.to_dict(), metrics={"iterations": model.iterations})


def _upstream_models(ctx: ComponentContext) -> list[dict[str, Any]]:
    return [
        r.model for r in ctx.inputs.values() if isinstance(r.model, dict) and r.model.get("format") == MODEL_FORMAT
    ]


def run_evaluation(ctx: ComponentContext) -> ComponentResult:
    if ctx.role == "guest":
        scored = ctx.input_data()
        if SCORE not in scored.header or scored.labels is None:
            raise ComponentError(f"evaluation needs an upstream table with labels and a {SCORE!r} column (a model's output)")
        threshold = float(ctx.param("threshold", 0.5))
        try:
            report = evaluate_binary(scored.labels, scored.features[:, scored.header.index(SCORE)], threshold)
        except EvaluationError as err:
            raise ComponentError(f"evaluation: {err}") from None
        for name, value in report.summary().items():
            ctx.log_metric(name, value)
        ctx.log_metric("roc", report.as_dict()["roc"])
        return ComponentResult(metrics=report.as_dict())
    if ctx.role == "arbiter":
        losses = [m.get("loss", []) for m in _upstream_models(ctx)]
        if losses:
            ctx.log_metric("loss_curve", losses[-1])
            return ComponentResult(metrics={"loss": losses[-1]})
    return ComponentResult()
