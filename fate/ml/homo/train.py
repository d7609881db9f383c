"""Homo training rounds: clients train locally, the aggregator combines sample-weighted models (FedAvg).

Round 0 checks that every client has the same feature columns (each sends a hash of its
header; the aggregator compares) and hands out the initial model. Then per round each
client sends n_i * w_i, n_i * loss_i and n_i through the chosen aggregation; the global
model is sum(n_i w_i) / sum(n_i). A client left out of a round (it did not answer in
time) is told so, keeps the global model of that round and stops; the others go on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fate.federation.federation import Federation
from fate.ml.component import ComponentError
from fate.ml.homo.aggregators import aggregator_side, client_side, gather
from fate.ml.homo.models import Network, local_train
from fate.ml.homo.params import HomoParams
from fate.ml.homo.secagg import ARBITER, Roster

Log = Callable[[str], None]


@dataclass(frozen=True, eq=False)
class ClientModel:
    net: Network
    params: np.ndarray
    rounds: int  # rounds this client took part in
    dropped_at: int | None  # the round it was left out of, if any


@dataclass(frozen=True, eq=False)
class AggregatorModel:
    net: Network
    params: np.ndarray | None  # None under Paillier: the aggregator never sees the model
    loss: tuple[float, ...]  # sample-weighted mean local loss per round (empty under Paillier)
    rounds: int
    dropped: tuple[tuple[int, ...], ...]  # who was left out, per round


def header_digest(header: tuple[str, ...]) -> str:
    return hashlib.sha256("\x1f".join(header).encode()).hexdigest()


def _stop(params: HomoParams, loss: list[float]) -> bool:
    return params.early_stop and len(loss) > 1 and abs(loss[-1] - loss[-2]) < params.tol


def train_client(fed: Federation, header: tuple[str, ...], x: np.ndarray, y: np.ndarray, params: HomoParams,
                 prefix: str, log: Log = lambda m: None) -> ClientModel:
    if len(y) == 0:
        raise ComponentError(f"party {fed.party_id} has no rows to train on")
    fed.remote({"digest": header_digest(header), "columns": len(header)}, f"{prefix}.header", ARBITER)
    verdict = fed.get(f"{prefix}.init", ARBITER)
    if "error" in verdict:
        raise ComponentError(verdict["error"])
    net = params.network(len(header))
    flat = np.asarray(verdict["params"], dtype=np.float64)
    side = client_side(fed, prefix, params.secure, fed.default_timeout)
    rng = np.random.default_rng(None if params.random_seed is None else params.random_seed + fed.party_id)
    n = float(len(y))
    for r in range(params.max_iter):
        local, loss = local_train(net, x, y, flat, params.training, r, rng)
        taken = side.submit(r, np.concatenate([n * local, [n * loss, n]]))
        result = fed.get(f"{prefix}.r{r}.result", ARBITER)
        total = side.open(result["sum"])
        flat = total[:-2] / total[-1]
        if not taken or fed.party_id not in result["included"]:
            log(f"round {r}: left out by the aggregator; keeping this round's global model and stopping")
            return ClientModel(net, flat, r, r)
        if result["stop"]:
            return ClientModel(net, flat, r + 1, None)
    return ClientModel(net, flat, params.max_iter, None)


def _check_headers(fed: Federation, roster: Roster, prefix: str, log: Log) -> tuple[int, str | None]:
    headers = gather(fed, roster, f"{prefix}.header", roster.order, fed.default_timeout, log)
    missing = [p for p in roster.order if p not in headers]
    if missing:
        return 0, f"parties {missing} sent no header in round 0"
    first = roster.order[0]
    for p in roster.order[1:]:
        if headers[p]["digest"] != headers[first]["digest"]:
            return 0, (f"mismatched feature columns between clients: party {p} has {headers[p]['columns']} "
                       f"columns (header hash {headers[p]['digest'][:12]}) but party {first} has "
                       f"{headers[first]['columns']} (hash {headers[first]['digest'][:12]}); every client "
                       "needs the same columns in the same order")
    return int(headers[first]["columns"]), None


def train_aggregator(fed: Federation, params: HomoParams, prefix: str, log: Log = lambda m: None) -> AggregatorModel:
    roster = Roster.of(fed)
    columns, error = _check_headers(fed, roster, prefix, log)
    if error is not None:
        for p in roster.order:
            fed.remote({"error": error}, f"{prefix}.init", roster.roles[p], [p])
        raise ComponentError(error)
    net = params.network(columns)
    flat: np.ndarray | None = net.init(params.init_method, params.random_seed)
    for p in roster.order:
        fed.remote({"params": flat}, f"{prefix}.init", roster.roles[p], [p])
    side = aggregator_side(fed, prefix, params.secure, log)
    active, losses, dropped = roster.order, list[float](), []
    rounds = 0
    for r in range(params.max_iter):
        rounds = r + 1
        result = side.collect(r, active, net.size + 2)
        stop = False
        if result.total is not None:
            flat = result.total[:-2] / result.total[-1]
            losses.append(float(result.total[-2] / result.total[-1]))
            stop = _stop(params, losses)
        else:
            flat = None
        dropped.append(result.dropped)
        for p in active:
            message = {"sum": result.payload, "included": list(result.included), "stop": stop}
            fed.remote(message, f"{prefix}.r{r}.result", roster.roles[p], [p])
        if result.dropped:
            log(f"round {r}: clients {list(result.dropped)} left out; {len(result.included)} in the sum")
        active = result.included
        if stop:
            break
    return AggregatorModel(net, flat, tuple(losses), rounds, tuple(dropped))
