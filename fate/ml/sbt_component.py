"""The flow's hetero_secureboost component: train (or predict with an upstream model), then score.

    - {name: sbt, component: hetero_secureboost, needs: [split],
       params: {num_trees: 10, he_param: {key_length: 2048}, early_stopping_rounds: 3}}

Training fits on the step's data; a "validate" side table (from data_split) drives early
stopping when `early_stopping_rounds` is set. The guest's training rows are scored from the
trees it grew (no extra round trips), its side tables through federated prediction; the
output table has FATE's `predict_score` and `predict_result` columns for `evaluation`. When
an upstream step already carries a hetero_secureboost model, this step trains nothing and
scores its data with that model (every party its own part of it).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from types import MappingProxyType
from typing import Any

import numpy as np

from fate.compute.contract import ComputeBackend
from fate.compute.local import LocalBackend
from fate.crypto import paillier
from fate.crypto.errors import CryptoError
from fate.ml.component import ComponentContext, ComponentError, ComponentResult, Table
from fate.ml.dataflow import binary_labels, require_model_columns, side_tables, upstream_model
from fate.ml.evaluation import auc
from fate.ml.sbt_core import sigmoid
from fate.ml.sbt_guest import train_guest
from fate.ml.sbt_host import MODEL_FORMAT, host_splits, train_host
from fate.ml.sbt_params import SBTParams, params_from_model, parse_params
from fate.ml.sbt_predict import predict_guest, predict_host

SCORE, RESULT = "predict_score", "predict_result"
# Without a party backend (a component run outside a flow): below this much ciphertext work (rows x
# columns) a pool's start-up and copies cost more than they save.
POOL_WORK = 200_000


@contextmanager
def _compute(ctx: ComponentContext, work: int) -> Iterator[ComputeBackend | None]:
    """The party's backend from the flow config; outside a flow, a local pool for big work only."""
    if ctx.compute is not None:
        yield ctx.compute
        return
    cores = os.cpu_count() or 1
    if cores < 2 or work < POOL_WORK:
        yield None
        return
    with LocalBackend(min(cores, 4)) as backend:
        yield backend


def _scored(table: Table, raw: np.ndarray, threshold: float) -> Table:
    score = sigmoid(raw)
    return Table(table.ids, (SCORE, RESULT), np.column_stack([score, (score >= threshold).astype(np.float64)]),
                 table.labels)


def _keys(ctx: ComponentContext, p: SBTParams) -> tuple[paillier.PublicKey, paillier.PrivateKey]:
    bits = ctx.policy.key_floor(p.key_length)
    return paillier.generate_keypair(bits, insecure=p.insecure_key or ctx.policy.allow_insecure_keys)


def _guest(ctx: ComponentContext, p: SBTParams, data: Table, side: dict[str, Table],
           model: dict[str, Any] | None) -> ComponentResult:
    prefix = ctx.component or "hetero_secureboost"
    if model is None:
        labels = binary_labels(data, "hetero_secureboost")
        with _compute(ctx, len(data) * 8) as compute:
            model, raw = train_guest(ctx.federation, data, labels, p, prefix, _keys(ctx, p), ctx.log, compute,
                                     side.get("validate"))
        ctx.log_metric("loss", model["loss_history"])
        if model["validation_loss"]:
            ctx.log_metric("validation_loss", model["validation_loss"])
    else:
        raw = model["init_score"] + predict_guest(ctx.federation, model["trees"], data, f"{prefix}.predict.data",
                                                  model["learning_rate"])
    ctx.save_model(model)
    ctx.log_metric("feature_importance", model["feature_importance"])
    ctx.log_metric("trees", len(model["trees"]))
    scored = {name: _scored(t, model["init_score"] + predict_guest(ctx.federation, model["trees"], t,
                                                                   f"{prefix}.predict.{name}", model["learning_rate"]),
                            p.threshold) for name, t in sorted(side.items())}
    for name, table in scored.items():
        # Held-out rows' AUC beside the training metrics; `evaluation` downstream reports the train set.
        if table.labels is not None and 0 < table.labels.sum() < len(table):
            ctx.log_metric(f"{name}_auc", auc(table.labels, table.features[:, 0]))
    return ComponentResult(data=_scored(data, raw, p.threshold), model=model,
                           metrics=MappingProxyType({"trees": len(model["trees"])}),
                           side_data=MappingProxyType(scored))


def _host(ctx: ComponentContext, p: SBTParams, data: Table, side: dict[str, Table],
          model: dict[str, Any] | None) -> ComponentResult:
    prefix = ctx.component or "hetero_secureboost"
    if model is None:
        with _compute(ctx, len(data) * len(data.header)) as compute:
            model = train_host(ctx.federation, data, p, prefix, ctx.log, compute, side.get("validate"))
    else:
        predict_host(ctx.federation, host_splits(model), data, f"{prefix}.predict.data")
    ctx.save_model(model)
    ctx.log_metric("feature_importance", model["feature_importance"])
    splits = host_splits(model)
    for name, table in sorted(side.items()):
        predict_host(ctx.federation, splits, table, f"{prefix}.predict.{name}")
    return ComponentResult(data=data, model=model, side_data=MappingProxyType(side))


def run(ctx: ComponentContext) -> ComponentResult:
    if ctx.role not in ("guest", "host"):
        return ComponentResult()
    model = upstream_model(ctx, MODEL_FORMAT)
    try:
        p = parse_params(ctx.params) if model is None else params_from_model(model["params"])
        data, side = ctx.input_data(), side_tables(ctx)
        if model is not None:
            require_model_columns(ctx, model["header"], data, "hetero_secureboost")
        if ctx.role == "guest":
            return _guest(ctx, p, data, side, model)
        return _host(ctx, p, data, side, model)
    except CryptoError as err:
        raise ComponentError(f"hetero_secureboost ({ctx.role}): {err}") from None
