"""Hetero LR refuses a ciphertext under any key but the expected one before it sends anything derived from it.

Whoever holds the key of a ciphertext reads whatever is added to it: a host sending its forward
[[u]] under its own key would read [[d]] (built from the guest's labels), a guest sending [[d]]
under its own key would read the host's X^T d from its gradient. Each test plays one rogue peer by
hand and runs the honest party for real over the in-memory hub; the Federation's on_wire hook
records every payload. The assertions read the wire first: the honest party sent nothing in the
round where it received the foreign ciphertext (or nothing after it, where the round began
earlier), and only then that it refused for the right reason. A later check raising the same
words cannot make these pass: the wire shows what left before it.

Both protocols: FATE's (the arbiter's key, `hetero_lr`) and the arbiter-free one (each peer's own
key, `hetero_lr_free`). The host refusing the guest's [[own]] in the latter is in test_role_privacy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from fate.crypto import paillier
from fate.federation.federation import Federation
from fate.federation.memory import MemoryHub
from fate.ml import hetero_lr, hetero_lr_free
from fate.ml.joint_batches import agree_guest, agree_host
from fate.ml.lr_params import parse_params
from fate.ml.masking import encrypt_public
from tests.ml.conftest import Breast
from tests.ml.federated import GUEST, HOSTS, LAB, federations, run_threads
from tests.ml.test_plain_lr import FLOW_TEST
from tests.ml.test_wire_privacy import Message, capture

PARAMS = parse_params({**FLOW_TEST, "max_iter": 1, "encrypt_param": {"key_length": 512}, "insecure_key": True})
ROUND = "hetero_lr.0.0"
ARBITERS = "is not encrypted under the arbiter's Paillier key; refusing to use it"
HOSTS_KEY = "is not encrypted under the host's Paillier key; refusing to use it"
# A party that wrongly went on waits for its next message: give up in seconds, not in ten minutes.
PATIENCE = 8.0
Keys = tuple[paillier.PublicKey, paillier.PrivateKey]


@pytest.fixture(scope="module")
def keys() -> tuple[Keys, Keys]:
    """The honest key holder's pair (the arbiter's, or the host's) and a rogue party's own."""
    return paillier.generate_keypair(512, insecure=True), paillier.generate_keypair(512, insecure=True)


def _run(n_hosts: int, honest: str, jobs: Callable[[dict[str, Federation]], dict[str, Callable[[], Any]]],
         arbiter_key: paillier.PublicKey | None = None) -> tuple[list[Message], str]:
    """Run the honest party and the scripted peers; the honest party must fail. Returns the wire and its failure."""
    seen, record = capture()
    feds = federations(MemoryHub(), n_hosts, on_wire=record, timeout=PATIENCE)
    if arbiter_key is not None:
        for role in ("guest", "host"):
            feds["arbiter"].remote(arbiter_key.to_json(), "hetero_lr.pubkey", role)
    with pytest.raises(AssertionError, match=f"party {honest} failed") as failure:
        run_threads(jobs(feds), timeout=120)
    return seen, str(failure.value)


def _sent(seen: list[Message], src: int, round_: str = ROUND) -> list[str]:
    return [m.kind for m in seen if m.src == src and m.round == round_]


def _guest(breast: Breast, protocol: Any, feds: dict[str, Federation], **extra: Any) -> Callable[[], Any]:
    return lambda: protocol.train_guest(feds["guest"], breast.ids, ("x",) * 10, breast.guest, breast.labels, PARAMS,
                                        policy=LAB, **extra)


# ---- FATE's protocol: everything under the arbiter's key ----

def _arbiter_guest_run(breast: Breast, arbiter: paillier.PublicKey,
                       forwards: list[dict[str, Any]]) -> tuple[list[Message], str]:
    """Hosts that agree on the batches honestly, then send the given forwards; the guest trains for real."""
    def jobs(feds: dict[str, Federation]) -> dict[str, Callable[[], Any]]:
        def host(i: int) -> Callable[[], None]:
            def run() -> None:
                agree_host(feds[f"host{i}"], "hetero_lr", -1, LAB)
                feds[f"host{i}"].remote(forwards[i], f"{ROUND}.fwd", "guest")
            return run
        return {"guest": _guest(breast, hetero_lr, feds), **{f"host{i}": host(i) for i in range(len(forwards))}}

    return _run(len(forwards), "guest", jobs, arbiter)


def test_the_guest_sends_no_d_when_the_only_hosts_forward_is_under_a_foreign_key(
    breast: Breast, keys: tuple[Keys, Keys]
) -> None:
    (arbiter, _), (rogue, _) = keys
    n = len(breast.ids)
    # The loss share is honest: only the forward's own check can stop [[d]] (one host: the loss is on).
    forward = {"u": encrypt_public(rogue, np.zeros(n)), "loss": encrypt_public(arbiter, [0.0])}
    seen, failure = _arbiter_guest_run(breast, arbiter, [forward])
    assert _sent(seen, GUEST) == [], "the guest sent [[d]] or a gradient built on a foreign forward"
    assert f"a host's forward {ARBITERS}" in failure


@pytest.mark.parametrize("rogue_host", [0, 1])
def test_the_guest_sends_no_d_when_any_hosts_forward_is_under_a_foreign_key(
    breast: Breast, keys: tuple[Keys, Keys], rogue_host: int
) -> None:
    (arbiter, _), (rogue, _) = keys
    n = len(breast.ids)
    forwards: list[dict[str, Any]] = [{"u": encrypt_public(arbiter, np.zeros(n)), "loss": None} for _ in range(2)]
    forwards[rogue_host]["u"] = encrypt_public(rogue, np.zeros(n))
    seen, failure = _arbiter_guest_run(breast, arbiter, forwards)
    assert _sent(seen, GUEST) == []
    assert f"a host's forward {ARBITERS}" in failure


def test_the_guest_refuses_a_forward_that_is_not_encrypted(breast: Breast, keys: tuple[Keys, Keys]) -> None:
    (arbiter, _), _ = keys
    forward = {"u": np.zeros(len(breast.ids)), "loss": encrypt_public(arbiter, [0.0])}
    seen, failure = _arbiter_guest_run(breast, arbiter, [forward])
    assert _sent(seen, GUEST) == []
    assert f"a host's forward {ARBITERS}" in failure


def test_the_guest_sends_no_gradient_with_a_loss_share_under_a_foreign_key(
    breast: Breast, keys: tuple[Keys, Keys]
) -> None:
    (arbiter, _), (rogue, _) = keys
    forward = {"u": encrypt_public(arbiter, np.zeros(len(breast.ids))), "loss": encrypt_public(rogue, [0.0])}
    seen, failure = _arbiter_guest_run(breast, arbiter, [forward])
    # [[d]] went out, under the arbiter's key (from the honest forward); the gradient, with the loss in it, did not.
    assert _sent(seen, GUEST) == ["d"]
    assert f"the host's loss share {ARBITERS}" in failure


@pytest.mark.parametrize("foreign", ["rogue key", "plaintext"])
def test_the_host_sends_no_gradient_from_a_d_under_a_foreign_key(
    breast: Breast, keys: tuple[Keys, Keys], foreign: str
) -> None:
    (arbiter, _), (rogue, _) = keys
    n = len(breast.ids)
    # A guest holding the key of [[d]] would read X_h^T d / N, the host's features folded with a d it knows.
    d = encrypt_public(rogue, np.full(n, 0.5)) if foreign == "rogue key" else np.full(n, 0.5)

    def jobs(feds: dict[str, Federation]) -> dict[str, Callable[[], Any]]:
        def guest() -> None:
            agree_guest(feds["guest"], "hetero_lr", breast.ids, -1, LAB)
            feds["guest"].get(f"{ROUND}.fwd", "host")
            feds["guest"].remote(d, f"{ROUND}.d", "host")

        def host() -> None:
            hetero_lr.train_host(feds["host0"], breast.ids, ("h",) * 20, breast.host, PARAMS, policy=LAB)

        return {"guest": guest, "host": host}

    seen, failure = _run(1, "host", jobs, arbiter)
    assert _sent(seen, HOSTS[0]) == ["fwd"], "the host sent a gradient computed on a foreign [[d]]"
    assert f"the guest's [[d]] {ARBITERS}" in failure


# ---- the arbiter-free protocol: each party's forward under its own announced key ----

def _free_guest_run(breast: Breast, host_key: paillier.PublicKey, hello_key: paillier.PublicKey | None,
                    forward: Callable[[paillier.PublicKey], dict[str, Any]]) -> tuple[list[Message], str]:
    """A host that announces `hello_key` (its own by default) and sends `forward(guest's key)`."""
    def jobs(feds: dict[str, Federation]) -> dict[str, Callable[[], Any]]:
        def host() -> None:
            fed = feds["host0"]
            agree_host(fed, "hetero_lr", -1, LAB)
            guest_key = paillier.PublicKey.from_json(fed.get("hetero_lr.hello", "guest")["pubkey"], insecure=True)
            fed.remote({"pubkey": (hello_key or host_key).to_json(), "columns": 20}, "hetero_lr.hello", "guest")
            fed.get(f"{ROUND}.own", "guest")
            fed.remote(forward(guest_key), f"{ROUND}.fwd", "guest")

        return {"guest": _guest(breast, hetero_lr_free, feds), "host": host}

    return _run(1, "guest", jobs)


@pytest.mark.parametrize("whose", ["rogue", "guest's own"])
def test_free_guest_sends_nothing_derived_from_a_forward_under_a_key_but_the_hosts(
    breast: Breast, keys: tuple[Keys, Keys], whose: str
) -> None:
    """Under the guest's own key too: the host would learn what the guest computes, the guest nothing it may."""
    (host_key, _), (rogue, _) = keys
    n = len(breast.ids)

    def forward(guest_key: paillier.PublicKey) -> dict[str, Any]:
        key = rogue if whose == "rogue" else guest_key
        return {"u": encrypt_public(key, np.zeros(n)), "loss": encrypt_public(host_key, [0.0])}

    seen, failure = _free_guest_run(breast, host_key, None, forward)
    # [[own]] under the guest's key went first; no masked gradient, loss or decryption after the forward.
    assert _sent(seen, GUEST) == ["own"]
    assert f"the host's forward {HOSTS_KEY}" in failure


def test_free_guest_sends_nothing_derived_from_a_loss_share_under_a_foreign_key(
    breast: Breast, keys: tuple[Keys, Keys]
) -> None:
    (host_key, _), (rogue, _) = keys

    def forward(_guest_key: paillier.PublicKey) -> dict[str, Any]:
        return {"u": encrypt_public(host_key, np.zeros(len(breast.ids))), "loss": encrypt_public(rogue, [0.0])}

    seen, failure = _free_guest_run(breast, host_key, None, forward)
    assert _sent(seen, GUEST) == ["own"]
    assert f"the host's loss share {HOSTS_KEY}" in failure


def test_free_guest_refuses_a_host_announcing_the_guests_own_key(breast: Breast, keys: tuple[Keys, Keys]) -> None:
    """A host echoing the guest's key would get every "host ciphertext" the guest computes under the guest's key."""
    (guest_pair, _) = keys
    seen: list[Message]

    def jobs(feds: dict[str, Federation]) -> dict[str, Callable[[], Any]]:
        def host() -> None:
            fed = feds["host0"]
            agree_host(fed, "hetero_lr", -1, LAB)
            echoed = fed.get("hetero_lr.hello", "guest")["pubkey"]
            fed.remote({"pubkey": echoed, "columns": 20}, "hetero_lr.hello", "guest")

        return {"guest": _guest(breast, hetero_lr_free, feds, keys=guest_pair), "host": host}

    seen, failure = _run(1, "guest", jobs)
    assert _sent(seen, GUEST) == []  # not even [[own]]
    assert "the host's Paillier key is this party's own; refusing" in failure
