"""Run every party of a hetero LR job in threads over one MemoryHub, as the flow would per party."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fate.crypto import paillier
from fate.federation import codec
from fate.federation.federation import Federation
from fate.federation.memory import MemoryHub, WireHook
from fate.federation.transport import Transport
from fate.flow.policy import Policy
from fate.ml import hetero_lr, hetero_lr_free
from fate.ml.joint_batches import batch_order, joint_seed
from fate.ml.lr_model import PartyModel
from fate.ml.lr_params import HeteroLRParams
from fate.ml.prediction import predict_guest, predict_host

GUEST, ARBITER = 9999, 10001
HOSTS = (10000, 10002, 10003)
# A test lab's policy: small insecure keys for speed, the default batch floor.
LAB = Policy(min_key_bits=256, allow_insecure_keys=True, trusted_arbiters=(ARBITER,))


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
    arbiter: PartyModel | None  # None in the arbiter-free protocol
    scores: np.ndarray  # guest's predicted probabilities on the training rows
    hub: MemoryHub


def federations(hub: MemoryHub | Callable[[int], Transport], n_hosts: int, job: str = "job",
                on_wire: WireHook | None = None, timeout: float = 600.0) -> dict[str, Federation]:
    """One Federation per party, over the hub or over transports from a factory (e.g. real routers).

    A short timeout lets a party give up soon when a test makes its peer fail on purpose.
    """
    make = hub.transport if isinstance(hub, MemoryHub) else hub
    roles = {"guest": [GUEST], "host": list(HOSTS[:n_hosts]), "arbiter": [ARBITER]}
    feds = {"guest": Federation(make(GUEST), job, roles, "guest", on_wire, timeout)}
    feds["arbiter"] = Federation(make(ARBITER), job, roles, "arbiter", on_wire, timeout)
    for i, pid in enumerate(HOSTS[:n_hosts]):
        feds[f"host{i}"] = Federation(make(pid), job, roles, "host", on_wire, timeout)
    return feds


class Wire:
    """Every message of a run, as sent (an on_wire hook)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int, int, bytes]] = []

    def __call__(self, job: str, tag: str, src: int, dst: int, payload: bytes) -> None:
        self.seen.append((tag, src, dst, bytes(payload)))

    def batches(self, ids: Sequence[str], batch_size: int, prefix: str = "hetero_lr") -> list[np.ndarray]:
        """The batches the parties agreed on, recomputed from the seeds revealed on the wire."""
        reveal = next(codec.decode(p) for tag, _, _, p in self.seen if tag.startswith(f"{prefix}.seed_reveal|"))
        return batch_order(ids, joint_seed([reveal["guest"], *reveal["hosts"]]), batch_size)


def train_and_predict(
    ids: Sequence[str],
    parts: Sequence[np.ndarray],
    labels: np.ndarray,
    params: HeteroLRParams,
    on_wire: WireHook | None = None,
    keys: tuple[paillier.PublicKey, paillier.PrivateKey] | None = None,
    transports: Callable[[int], Transport] | None = None,
    free: bool = False,
    policies: Mapping[str, Policy] | None = None,
    host_keys: tuple[paillier.PublicKey, paillier.PrivateKey] | None = None,
    timeout: float = 600.0,
) -> Trained:
    """parts[0] is the guest's feature block, the rest one block per host; in-memory unless `transports`.

    free: the arbiter-free protocol (one host; `keys` is then the guest's pair, `host_keys` the host's).
    policies: a party's own policy by name ("guest", "host0", "arbiter"), LAB for the others.
    """
    hub = MemoryHub()
    feds = federations(transports or hub, len(parts) - 1, on_wire=on_wire, timeout=timeout)
    headers = [tuple(f"x{j}" for j in range(x.shape[1])) for x in parts]
    policy = {name: (policies or {}).get(name, LAB) for name in feds}
    protocol: Any = hetero_lr_free if free else hetero_lr
    guest_keys = {"keys": keys} if free else {}

    def guest() -> tuple[PartyModel, np.ndarray]:
        model = protocol.train_guest(feds["guest"], ids, headers[0], parts[0], labels, params, policy=policy["guest"],
                                     **guest_keys)
        return model, predict_guest(feds["guest"], model, ids, headers[0], parts[0])

    def host(i: int) -> Callable[[], PartyModel]:
        def run() -> PartyModel:
            x, fed = parts[i + 1], feds[f"host{i}"]
            model = protocol.train_host(fed, ids, headers[i + 1], x, params, policy=policy[f"host{i}"],
                                        **({"keys": host_keys} if free else {}))
            predict_host(fed, model, ids, headers[i + 1], x)
            return model

        return run

    jobs: dict[str, Callable[[], Any]] = {"guest": guest}
    if not free:
        jobs["arbiter"] = lambda: hetero_lr.train_arbiter(feds["arbiter"], params, keys=keys, policy=policy["arbiter"])
    jobs.update({f"host{i}": host(i) for i in range(len(parts) - 1)})
    out = run_threads(jobs)
    guest_model, scores = out["guest"]
    hosts = tuple(out[f"host{i}"] for i in range(len(parts) - 1))
    return Trained(guest_model, hosts, out.get("arbiter"), scores, hub)
