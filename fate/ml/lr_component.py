"""The flow's view of hetero LR: `hetero_lr` and `evaluation` components over ComponentContext.

`hetero_lr` picks the protocol from the job's role assignment: FATE's arbiter protocol
(`hetero_lr`) only when the arbiter is a third party, and then a data party joins only if
that arbiter is in its own `policy.trusted_arbiters`; with the arbiter on a data party's
side (or no arbiter), the arbiter-free protocol (`hetero_lr_free`), which needs exactly one
host. It trains, stores each party's own slice of the model, then scores its training rows
through the federation (as FATE's LR does) so an `evaluation` step downstream can report
on them. `evaluation` reports AUC, KS, accuracy, precision/recall and the ROC curve on the
guest, and the loss curve where it was learnt (the arbiter, or the guest without one).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from fate.crypto.errors import CryptoError
from fate.flow.policy import Policy
from fate.ml import hetero_lr, hetero_lr_free
from fate.ml.component import ComponentContext, ComponentError, ComponentResult, Table
from fate.ml.dataflow import require_model_columns, reused_model
from fate.ml.evaluation import EvaluationError, evaluate_binary
from fate.ml.feature_scale import warn_if_unscaled
from fate.ml.lr_model import MODEL_FORMAT, PartyModel
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


def arbiter_free(roles: Mapping[str, Sequence[int]], role: str, policy: Policy) -> bool:
    """Which protocol this role assignment allows; a ComponentError when neither is safe for this party."""
    hosts, arbiters = tuple(roles.get("host", ())), tuple(roles.get("arbiter", ()))
    data_parties = set(roles.get("guest", ())) | set(hosts)
    if not arbiters or data_parties & set(arbiters):
        # An arbiter on a data party's side would decrypt what the other data parties encrypt.
        if len(hosts) != 1:
            raise ComponentError(
                f"an independent arbiter is needed with {len(hosts)} hosts: the arbiter-free protocol runs between "
                "one guest and one host, and an arbiter on a data party's side would read the others' values; "
                "name a third party as arbiter"
            )
        return True
    if len(arbiters) != 1:
        raise ComponentError(f"hetero_lr takes one arbiter party, not {len(arbiters)}")
    if role != "arbiter" and arbiters[0] not in policy.trusted_arbiters:
        raise ComponentError(
            f"the arbiter, party {arbiters[0]}, is not in this party's policy.trusted_arbiters; it would decrypt "
            "every gradient of this party's data. Trust it in the flow config, or run without a third party "
            "(no arbiter, or the arbiter on the guest's or the host's party)"
        )
    return False


def _score_with(ctx: ComponentContext, model: PartyModel) -> ComponentResult:
    """Score the input table with a model an earlier job trained (no training, no arbiter)."""
    prefix = ctx.component or "hetero_lr"
    if ctx.role == "arbiter":
        return ComponentResult()
    table = ctx.input_data()
    require_model_columns(ctx, model.header, table, "hetero_lr")
    if model.role != ctx.role:
        raise ComponentError(f"hetero_lr ({ctx.role}): the stored model is a {model.role}'s part")
    ctx.save_model(model.to_dict())
    if ctx.role == "host":
        predict_host(ctx.federation, model, table.ids, table.header, table.features, prefix)
        return ComponentResult(model=model.to_dict())
    scores = predict_guest(ctx.federation, model, table.ids, table.header, table.features, prefix)
    predicted = (scores >= model.params.threshold).astype(np.float64)
    return ComponentResult(data=Table(table.ids, (SCORE, RESULT), np.column_stack([scores, predicted]), table.labels),
                           model=model.to_dict())


def _run_hetero_lr(ctx: ComponentContext) -> ComponentResult:
    stored = reused_model(ctx, MODEL_FORMAT)
    if stored is not None:
        return _score_with(ctx, PartyModel.from_dict(stored))
    params = parse_params(ctx.params)
    fed, prefix, policy = ctx.federation, ctx.component or "hetero_lr", ctx.policy
    free = arbiter_free(ctx.roles, ctx.role, policy)
    protocol: Any = hetero_lr_free if free else hetero_lr
    if ctx.role == "arbiter":
        if free:
            ctx.log("hetero_lr: arbiter-free protocol (the arbiter role is on a data party); nothing to do here")
            return ComponentResult()
        model = hetero_lr.train_arbiter(fed, params, prefix, ctx.log, policy=policy, compute=ctx.compute)
        ctx.save_model(model.to_dict())
        ctx.log_metric("loss", list(model.loss))
        return ComponentResult(model=model.to_dict(), metrics={"loss": list(model.loss), "iterations": model.iterations})
    table = ctx.input_data()
    warn_if_unscaled(ctx, table, "hetero_lr")
    if ctx.role == "host":
        model = protocol.train_host(fed, table.ids, table.header, table.features, params, prefix, ctx.log, policy=policy,
                                    compute=ctx.compute)
        ctx.save_model(model.to_dict())
        predict_host(fed, model, table.ids, table.header, table.features, prefix)
        return ComponentResult(model=model.to_dict())
    if ctx.role != "guest":
        raise ComponentError(f"hetero_lr has no role {ctx.role!r} (guest, host, arbiter)")
    if table.labels is None:
        raise ComponentError("the guest's table has no label column; hetero_lr needs labels on the guest")
    model = protocol.train_guest(fed, table.ids, table.header, table.features, table.labels, params, prefix, ctx.log,
                                 policy=policy, compute=ctx.compute)
    ctx.save_model(model.to_dict())
    if model.loss:
        ctx.log_metric("loss", list(model.loss))
    scores = predict_guest(fed, model, table.ids, table.header, table.features, prefix)
    predicted = (scores >= params.threshold).astype(np.float64)
    scored = Table(table.ids, (SCORE, RESULT), np.column_stack([scores, predicted]), table.labels)
    metrics = {"iterations": model.iterations, **({"loss": list(model.loss)} if model.loss else {})}
    return ComponentResult(data=scored, model=model.to_dict(), metrics=metrics)


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
        metrics = report.as_dict()
        loss = _upstream_loss(ctx)
        if loss:  # learnt by the guest itself in the arbiter-free protocol
            ctx.log_metric("loss_curve", loss)
            metrics["loss"] = loss
        return ComponentResult(metrics=metrics)
    loss = _upstream_loss(ctx) if ctx.role == "arbiter" else []
    if loss:
        ctx.log_metric("loss_curve", loss)
        return ComponentResult(metrics={"loss": loss})
    return ComponentResult()


def _upstream_loss(ctx: ComponentContext) -> list[float]:
    losses = [m.get("loss", []) for m in _upstream_models(ctx)]
    return list(losses[-1]) if losses else []
