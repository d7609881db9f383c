"""The reconstructions of issue 11, attempted by co-located and colluding roles: each must fail now.

Each attack is first shown to work where it applies (FATE's protocol with the arbiter's key on a
data party, which `lr_component` no longer runs), so a regression back to that arrangement would
be caught; then the same adversary, with everything it receives in the arbiter-free protocol and
its own private key, is shown to get nothing it can use.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from fate.crypto import paillier
from fate.crypto.errors import KeyMismatchError
from fate.federation.memory import MemoryHub
from fate.ml import hetero_lr_free
from fate.ml.component import ComponentError
from fate.ml.joint_batches import agree_guest, agree_host, batch_order, joint_seed
from fate.ml.lr_params import parse_params
from fate.ml.masking import DecryptionOracle, encrypt_public, mask, unmask
from tests.ml.conftest import Breast
from tests.ml.federated import GUEST, HOSTS, LAB, federations, run_threads, train_and_predict
from tests.ml.test_plain_lr import FLOW_TEST
from tests.ml.test_wire_privacy import Message, capture, leaves

HOST = HOSTS[0]


def _params(**extra: Any) -> Any:
    return parse_params({**FLOW_TEST, "encrypt_param": {"key_length": 512}, "insecure_key": True, **extra})


def _keys() -> tuple[paillier.PublicKey, paillier.PrivateKey]:
    return paillier.generate_keypair(512, insecure=True)


def _in_id_order(values: np.ndarray, seen: list[Message], ids: tuple[str, ...]) -> np.ndarray:
    """A full-batch vector back in id order: the adversary knows the agreed order, it computed it too."""
    reveal = next(m.value() for m in seen if m.kind == "seed_reveal")
    out = np.empty(len(ids))
    out[batch_order(ids, joint_seed([reveal["guest"], *reveal["hosts"]]), -1)[0]] = values
    return out


def test_guest_holding_the_arbiter_key_rebuilds_the_host_features_in_fates_protocol(breast: Breast) -> None:
    """The issue's attack: u_h = 0.25 X_h w_h each epoch, w_h from the arbiter's updates, so X_h = 4 U W^+."""
    seen, record = capture()
    keys = _keys()
    train_and_predict(breast.ids, [breast.guest, breast.host], breast.labels, _params(max_iter=24), record, keys)
    forwards = [keys[1].decrypt(m.value()["u"]) for m in seen if m.kind == "fwd"]
    deltas = [np.asarray(m.value()) for m in seen if m.kind == "delta" and m.dst == HOST]
    weights = [-np.sum(deltas[:e], axis=0) if e else np.zeros(20) for e in range(len(forwards))]
    u = np.column_stack([_in_id_order(f, seen, breast.ids) for f in forwards])
    rebuilt = 4 * u @ np.linalg.pinv(np.column_stack(weights))
    assert np.corrcoef(rebuilt.ravel(), breast.host.ravel())[0, 1] > 0.99


def test_guest_colocated_with_the_arbiter_gets_nothing_decryptable_of_the_host(breast: Breast) -> None:
    guest_keys = _keys()
    runs = []
    for _ in range(2):
        seen, record = capture()
        trained = train_and_predict(breast.ids, [breast.guest, breast.host], breast.labels, _params(max_iter=3),
                                    record, guest_keys, free=True, host_keys=_keys())
        runs.append((seen, trained))
    (seen, trained), (again, trained_again) = runs
    to_guest = [m for m in seen if m.dst == GUEST and m.kind != "wx"]  # wx: FATE's prediction, after training
    # The host's forwards are under the host's key: the guest's key does not open them.
    for m in to_guest:
        if m.kind == "fwd":
            with pytest.raises(KeyMismatchError):
                guest_keys[1].decrypt(m.value()["u"])
    # No host weights or updates travel; plaintext numbers to the guest are residues mod its n, flags and seeds.
    plain = [leaf for m in to_guest for leaf in leaves(m.value()) if not isinstance(leaf, paillier.EncryptedArray)]
    assert all(isinstance(v, bool | int | bytes | str | type(None)) for v in plain)
    # What the guest can decrypt (the host's masked gradient requests) is independent of the host's gradient:
    # two runs with identical data and arithmetic (zero init, full batch) give uncorrelated decryptions.
    first, second = ([guest_keys[1].raw_decrypt(m.value().ciphertexts) for m in run if m.kind == "hgrad"]
                     for run in (seen, again))
    a, b = (np.array([int(v) / int(guest_keys[0].n) for r in rs for v in r]) for rs in (first, second))
    assert len(a) == 60 and abs(np.corrcoef(a, b)[0, 1]) < 0.5
    np.testing.assert_allclose(trained.hosts[0].weights, trained_again.hosts[0].weights, atol=1e-9)


def test_host_holding_the_arbiter_key_reads_the_labels_in_fates_protocol(breast: Breast) -> None:
    """Zero init: the first [[d]] is 0.25 * 0 - 0.5 y, so the arbiter's key reads every label."""
    seen, record = capture()
    keys = _keys()
    train_and_predict(breast.ids, [breast.guest, breast.host], breast.labels, _params(max_iter=1), record, keys)
    d = keys[1].decrypt(next(m.value() for m in seen if m.kind == "d"))
    assert np.array_equal(_in_id_order(d, seen, breast.ids) < 0, breast.labels == 1)


def test_host_colocated_with_the_arbiter_holds_no_key_for_the_labels(breast: Breast) -> None:
    seen, record = capture()
    host_keys = _keys()
    train_and_predict(breast.ids, [breast.guest, breast.host], breast.labels, _params(max_iter=1), record,
                      _keys(), free=True, host_keys=host_keys)
    own = next(m.value() for m in seen if m.kind == "own")
    with pytest.raises(KeyMismatchError):
        host_keys[1].decrypt(own)
    # The only things the host decrypts are the guest's masked requests: no value tracks a label.
    n = int(host_keys[0].n)
    decrypted = [int(v) / n for m in seen if m.kind in ("grad", "loss") for v in host_keys[1].raw_decrypt(m.value().ciphertexts)]
    assert len(decrypted) == 12 and all(0.0 < v < 1.0 for v in decrypted)


Attack = Callable[[paillier.EncryptedArray, paillier.PublicKey], paillier.EncryptedArray]


def _rogue_host(breast: Breast, attack: Attack) -> tuple[list[Message], str]:
    """A host that follows the protocol up to its first decryption request, then sends `attack(own, guest key)`."""
    seen, record = capture()
    feds = federations(MemoryHub(), 1, on_wire=record, timeout=20)
    public, _ = _keys()

    def host() -> None:
        fed = feds["host0"]
        agree_host(fed, "hetero_lr", -1, LAB)
        fed.remote({"pubkey": public.to_json(), "columns": 20}, "hetero_lr.hello", "guest")
        guest_key = paillier.PublicKey.from_json(fed.get("hetero_lr.hello", "guest")["pubkey"], insecure=True)
        zeros = np.zeros(len(breast.ids))
        fed.remote({"u": encrypt_public(public, zeros), "loss": encrypt_public(public, [0.0])}, "hetero_lr.0.0.fwd",
                   "guest")
        fed.remote(attack(fed.get("hetero_lr.0.0.own", "guest"), guest_key), "hetero_lr.0.0.hgrad", "guest")

    def guest() -> None:
        hetero_lr_free.train_guest(feds["guest"], breast.ids, tuple(f"g{i}" for i in range(10)), breast.guest,
                                   breast.labels, _params(), policy=LAB)

    with pytest.raises(AssertionError, match="party guest failed") as failure:
        run_threads({"host": host, "guest": guest})
    return seen, str(failure.value)


@pytest.mark.parametrize(("attack", "refusal"), [
    (lambda own, key: own, r"asks to decrypt \(569,\) values for grad; it declared 20"),
    (lambda own, key: _keys()[0].encrypt(np.zeros(20)), "not encrypted under this party's Paillier key"),
    # n is not a unit mod n^2: its "decryption" would be a function of the key's factors.
    (lambda own, key: paillier.EncryptedArray(key, [key.n] * 20, (20,), 0, None), "not a valid ciphertext"),
], ids=["all-of-own", "foreign-key", "non-unit"])
def test_guest_oracle_refuses_before_answering(breast: Breast, attack: Attack, refusal: str) -> None:
    seen, failure = _rogue_host(breast, attack)
    assert re.search(refusal, failure)
    assert not [m for m in seen if m.kind == "hgrad_plain"], "the guest answered a refused request"


def test_host_refuses_the_guests_own_under_a_foreign_key_before_sending_anything(breast: Breast) -> None:
    """Were [[own]] under a key the guest chose freely, [[X_h^T d]] under it could be decrypted without a mask."""
    seen, record = capture()
    feds = federations(MemoryHub(), 1, on_wire=record, timeout=20)
    public, _ = _keys()
    rogue, _ = _keys()

    def guest() -> None:
        fed = feds["guest"]
        agree_guest(fed, "hetero_lr", breast.ids, -1, LAB)
        fed.remote({"pubkey": public.to_json(), "columns": 11}, "hetero_lr.hello", "host")
        fed.remote(encrypt_public(rogue, np.zeros(len(breast.ids))), "hetero_lr.0.0.own", "host")

    def host() -> None:
        hetero_lr_free.train_host(feds["host0"], breast.ids, tuple(f"h{i}" for i in range(20)), breast.host,
                                  _params(), policy=LAB)

    with pytest.raises(AssertionError, match="the guest's \\[\\[own\\]\\] is not encrypted under the guest's"):
        run_threads({"guest": guest, "host": host})
    assert not [m for m in seen if m.src == HOST and m.kind in ("hgrad", "grad_plain", "loss_plain")]


def test_the_oracle_serves_one_vector_per_batch_and_purpose() -> None:
    public, private = _keys()
    oracle = DecryptionOracle(private, {"grad": 3, "loss": 1}, "the peer")
    masked, held = mask(encrypt_public(public, [0.5, -1.0, 2.0]))
    np.testing.assert_allclose(unmask(oracle.serve((0, 0), "grad", masked), held, "the peer's"), [0.5, -1.0, 2.0])
    with pytest.raises(ComponentError, match="second grad decryption in epoch 0, batch 0"):
        oracle.serve((0, 0), "grad", mask(encrypt_public(public, [0.0, 0.0, 0.0]))[0])
    with pytest.raises(ComponentError, match="has no use for"):
        oracle.serve((0, 0), "labels", masked)
    with pytest.raises(ComponentError, match=r"asks to decrypt \(1,\) values for grad; it declared 3"):
        oracle.serve((0, 1), "grad", mask(encrypt_public(public, [0.0]))[0])
    assert oracle.serve((0, 1), "grad", mask(encrypt_public(public, [0.0, 0.0, 0.0]))[0])
