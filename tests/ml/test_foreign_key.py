"""Hetero LR refuses a ciphertext under any key but the arbiter's before it computes or sends anything from it.

Whoever holds the key of a ciphertext reads whatever is added to it: a host sending its forward
[[u]] under its own key would read [[d]] (built from the guest's labels), a guest sending [[d]]
under its own key would read the host's X^T d. Each test hands one party such a ciphertext and then
inspects the wire (the Federation on_wire hook sees every payload a party sends): the party refuses
with a ComponentError naming the ciphertext, and it sent nothing after it received it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from fate.crypto import paillier
from fate.federation.federation import Federation
from fate.federation.memory import MemoryHub
from fate.ml.component import ComponentError
from fate.ml.hetero_lr import train_guest, train_host
from fate.ml.lr_params import parse_params
from tests.ml.conftest import Breast
from tests.ml.federated import GUEST, HOSTS, federations
from tests.ml.test_plain_lr import FLOW_TEST

PARAMS = parse_params({**FLOW_TEST, "max_iter": 1, "encrypt_param": {"key_length": 512}, "insecure_key": True})
FOREIGN = "is not encrypted under the arbiter's Paillier key; refusing to use it"
# A party that wrongly went on would wait for the next message: fail in seconds, not in ten minutes.
PATIENCE = 10.0


@pytest.fixture(scope="module")
def keys() -> tuple[paillier.PublicKey, paillier.PublicKey]:
    """The arbiter's public key and a rogue party's own."""
    return paillier.generate_keypair(512, insecure=True)[0], paillier.generate_keypair(512, insecure=True)[0]


Wire = list[tuple[str, int, int]]


def _setup(n_hosts: int, arbiter_key: paillier.PublicKey) -> tuple[dict[str, Federation], Wire]:
    sent: Wire = []

    def record(job: str, tag: str, src: int, dst: int, payload: bytes) -> None:
        sent.append((tag.split("|")[0], src, dst))

    feds = federations(MemoryHub(), n_hosts, on_wire=record)
    for fed in feds.values():
        fed.default_timeout = PATIENCE
    feds["arbiter"].remote(arbiter_key.to_json(), "hetero_lr.pubkey", "guest")
    feds["arbiter"].remote(arbiter_key.to_json(), "hetero_lr.pubkey", "host")
    return feds, sent


def _train_guest(breast: Breast, feds: dict[str, Federation], forwards: list[dict[str, Any]], match: str) -> None:
    for i, forward in enumerate(forwards):
        feds[f"host{i}"].remote(forward, "hetero_lr.0.0.fwd", "guest")
    with pytest.raises(ComponentError, match=match):
        train_guest(feds["guest"], breast.ids, ("x",) * 10, breast.guest, breast.labels, PARAMS)


def _sent_by(sent: Wire, party: int) -> list[str]:
    return [tag for tag, src, _ in sent if src == party]


def test_the_guest_sends_no_d_when_the_only_hosts_forward_is_under_a_foreign_key(
    breast: Breast, keys: tuple[paillier.PublicKey, paillier.PublicKey]
) -> None:
    arbiter, rogue = keys
    feds, sent = _setup(1, arbiter)
    n = len(breast.ids)
    # The loss share is honest: only the forward is foreign, so nothing but the forward's check can stop [[d]].
    forward = {"u": rogue.encrypt(np.zeros(n)), "loss": arbiter.encrypt(np.zeros(1))}
    _train_guest(breast, feds, [forward], f"a host's forward {FOREIGN}")
    assert _sent_by(sent, GUEST) == ["hetero_lr.rows", "hetero_lr.batches"]  # no [[d]], no gradient


@pytest.mark.parametrize("rogue_host", [0, 1])
def test_the_guest_sends_no_d_when_any_hosts_forward_is_under_a_foreign_key(
    breast: Breast, keys: tuple[paillier.PublicKey, paillier.PublicKey], rogue_host: int
) -> None:
    arbiter, rogue = keys
    feds, sent = _setup(2, arbiter)
    n = len(breast.ids)
    forwards: list[dict[str, Any]] = [{"u": arbiter.encrypt(np.zeros(n)), "loss": None} for _ in range(2)]
    forwards[rogue_host]["u"] = rogue.encrypt(np.zeros(n))
    _train_guest(breast, feds, forwards, f"a host's forward {FOREIGN}")
    assert _sent_by(sent, GUEST) == ["hetero_lr.rows", "hetero_lr.rows", "hetero_lr.batches"]


def test_the_guest_refuses_a_forward_that_is_not_encrypted(
    breast: Breast, keys: tuple[paillier.PublicKey, paillier.PublicKey]
) -> None:
    arbiter, _ = keys
    feds, sent = _setup(1, arbiter)
    _train_guest(breast, feds, [{"u": np.zeros(len(breast.ids)), "loss": None}], f"a host's forward {FOREIGN}")
    assert _sent_by(sent, GUEST) == ["hetero_lr.rows", "hetero_lr.batches"]


def test_the_guest_sends_no_gradient_with_a_loss_share_under_a_foreign_key(
    breast: Breast, keys: tuple[paillier.PublicKey, paillier.PublicKey]
) -> None:
    arbiter, rogue = keys
    feds, sent = _setup(1, arbiter)
    n = len(breast.ids)
    forward = {"u": arbiter.encrypt(np.zeros(n)), "loss": rogue.encrypt(np.zeros(1))}
    _train_guest(breast, feds, [forward], f"the host's loss share {FOREIGN}")
    # [[d]] was sent, under the arbiter's key (from the honest forward); the gradient was not.
    assert _sent_by(sent, GUEST) == ["hetero_lr.rows", "hetero_lr.batches", "hetero_lr.0.0.d"]


def test_the_host_sends_no_gradient_from_a_d_under_a_foreign_key(
    breast: Breast, keys: tuple[paillier.PublicKey, paillier.PublicKey]
) -> None:
    arbiter, rogue = keys
    feds, sent = _setup(1, arbiter)
    n = len(breast.ids)
    feds["guest"].remote({"ids": list(breast.ids), "batches": [[0, n]]}, "hetero_lr.rows", "host")
    # A guest holding its own key would read X_h^T d, the host's features folded with known d, from the gradient.
    feds["guest"].remote(rogue.encrypt(np.full(n, 0.5)), "hetero_lr.0.0.d", "host")
    with pytest.raises(ComponentError, match=rf"the guest's \[\[d\]\] {FOREIGN}"):
        train_host(feds["host0"], breast.ids, ("x",) * 20, breast.host, PARAMS)
    assert _sent_by(sent, HOSTS[0]) == ["hetero_lr.0.0.fwd"]  # its forward, under the arbiter's key; no gradient
