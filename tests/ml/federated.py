"""Run every party of a hetero LR job in threads over one MemoryHub, as the flow would per party."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fate.crypto import paillier
from fate.federation.federation import Federation
from fate.federation.memory import MemoryHub, WireHook
from fate.federation.transport import Transport
from fate.ml.hetero_lr import train_arbiter, train_guest, train_host
from fate.ml.lr_model import PartyModel
from fate.ml.lr_params import HeteroLRParams
from fate.ml.prediction import predict_guest, predict_host

GUEST, ARBITER = 9999, 10001
HOSTS = (10000, 10002, 10003)


def run_threads(jobs: Mapping[str, Callable[[], Any]], timeout: float = 300.0) -> dict[str, Any]:
    """Run each job in its own thread; re-raise the first failure in the caller."""
    results: dict[str, Any] = {}
    errors: dict[str, BaseException] = {}

    def run(name: str, job: Callable[[], Any]) -> None:
        try:
            results[name] = job()
        except BaseException as err:  # noqa: BLE001 - handed to the caller
            errors[name] = err

    threads = [threading.Thread(target=run, args=item, daemon=True) for item in jobs.items()]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    # Poll rather than join in turn: one failed party leaves the others blocked on a message.
    while any(t.is_alive() for t in threads) and not errors and time.monotonic() < deadline:
        threads[0].join(0.05) if threads[0].is_alive() else time.sleep(0.05)
    if errors:
        name, err = next(iter(errors.items()))
        raise AssertionError(f"party {name} failed: {err!r}") from err
    stuck = [t for t in threads if t.is_alive()]
    assert not stuck, "a party did not finish in time"
    return results


@dataclass(frozen=True, eq=False)
class Trained:
    guest: PartyModel
    hosts: tuple[PartyModel, ...]
    arbiter: PartyModel
    scores: np.ndarray  # guest's predicted probabilities on the training rows
    hub: MemoryHub


def federations(hub: MemoryHub | Callable[[int], Transport], n_hosts: int, job: str = "job",
                on_wire: WireHook | None = None) -> dict[str, Federation]:
    """One Federation per party, over the hub or over transports from a factory (e.g. real routers)."""
    make = hub.transport if isinstance(hub, MemoryHub) else hub
    roles = {"guest": [GUEST], "host": list(HOSTS[:n_hosts]), "arbiter": [ARBITER]}
    feds = {"guest": Federation(make(GUEST), job, roles, "guest", on_wire)}
    feds["arbiter"] = Federation(make(ARBITER), job, roles, "arbiter", on_wire)
    for i, pid in enumerate(HOSTS[:n_hosts]):
        feds[f"host{i}"] = Federation(make(pid), job, roles, "host", on_wire)
    return feds


def train_and_predict(
    ids: Sequence[str],
    parts: Sequence[np.ndarray],
    labels: np.ndarray,
    params: HeteroLRParams,
    on_wire: WireHook | None = None,
    keys: tuple[paillier.PublicKey, paillier.PrivateKey] | None = None,
    transports: Callable[[int], Transport] | None = None,
) -> Trained:
    """parts[0] is the guest's feature block, the rest one block per host; in-memory unless `transports`."""
    hub = MemoryHub()
    feds = federations(transports or hub, len(parts) - 1, on_wire=on_wire)
    headers = [tuple(f"x{j}" for j in range(x.shape[1])) for x in parts]

    def guest() -> tuple[PartyModel, np.ndarray]:
        model = train_guest(feds["guest"], ids, headers[0], parts[0], labels, params)
        return model, predict_guest(feds["guest"], model, ids, headers[0], parts[0])

    def host(i: int) -> Callable[[], PartyModel]:
        def run() -> PartyModel:
            x = parts[i + 1]
            model = train_host(feds[f"host{i}"], ids, headers[i + 1], x, params)
            predict_host(feds[f"host{i}"], model, ids, headers[i + 1], x)
            return model

        return run

    jobs: dict[str, Callable[[], Any]] = {"guest": guest, "arbiter": lambda: train_arbiter(feds["arbiter"], params, keys=keys)}
    jobs.update({f"host{i}": host(i) for i in range(len(parts) - 1)})
    out = run_threads(jobs)
    guest_model, scores = out["guest"]
    hosts = tuple(out[f"host{i}"] for i in range(len(parts) - 1))
    return Trained(guest_model, hosts, out["arbiter"], scores, hub)
