"""Everything that crosses a party boundary during training and prediction, inspected.

Each party's Federation on_wire hook sees every payload exactly as its router carries it; the
check runs over the in-memory hub and over real routers (mutual TLS, star through an exchange). Each
message kind is checked against what FATE's protocol lets its recipient learn: ids and
batch ranges, the public key, a party's own update, convergence flags, and at prediction
a host's W_h . X_h for the guest. Every other number travels encrypted, under the
arbiter's key, with fresh randomness.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from fate.crypto import paillier
from fate.federation import codec
from fate.federation.memory import MemoryHub
from fate.ml.component import ComponentError
from fate.ml.hetero_lr import train_guest
from fate.ml.lr_params import parse_params
from tests.federation.lab import RouterLab
from tests.ml.conftest import Breast
from tests.ml.federated import ARBITER, GUEST, HOSTS, federations, train_and_predict
from tests.ml.test_plain_lr import FLOW_TEST

PARAMS = {**FLOW_TEST, "max_iter": 3, "encrypt_param": {"key_length": 512}, "insecure_key": True}
ENCRYPTED_ONLY = {"fwd", "d", "grad"}


@dataclass(frozen=True)
class Message:
    tag: str
    src: int
    dst: int
    payload: bytes

    @property
    def kind(self) -> str:
        return self.tag.split("|")[0].rsplit(".", 1)[-1]

    @property
    def epoch(self) -> int:
        return int(self.tag.split(".")[1])

    def value(self) -> Any:
        return codec.decode(self.payload)


def _capture() -> tuple[list[Message], Any]:
    seen: list[Message] = []

    def record(job: str, tag: str, src: int, dst: int, payload: bytes) -> None:
        seen.append(Message(tag, src, dst, bytes(payload)))

    return seen, record


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, list | tuple):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value]


def _private_columns(breast: Breast) -> list[bytes]:
    """Raw bytes of every private column (and the label encodings the protocol uses)."""
    columns = [breast.labels, np.where(breast.labels == 1, 1.0, -1.0), 0.5 * np.where(breast.labels == 1, 1.0, -1.0)]
    columns += list(breast.guest.T) + list(breast.host.T)
    return [np.ascontiguousarray(c, dtype=np.float64).tobytes() for c in columns]


@pytest.fixture(scope="module", params=["memory", "routers"])
def transports(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The in-memory hub, and real routers with mutual TLS in a star through an exchange."""
    if request.param == "memory":
        yield None
        return
    lab = RouterLab(tmp_path_factory.mktemp("routers"), (GUEST, HOSTS[0], ARBITER), exchange=True)
    try:
        yield lab.transport
    finally:
        lab.close()


def test_no_private_value_crosses_a_party_boundary(breast: Breast, transports: Any) -> None:
    seen, record = _capture()
    params = parse_params(PARAMS)
    trained = train_and_predict(breast.ids, [breast.guest, breast.host], breast.labels, params, on_wire=record,
                                transports=transports)
    host = HOSTS[0]
    private = _private_columns(breast)
    kinds = {m.kind for m in seen}
    assert {"pubkey", "rows", "batches", "fwd", "d", "grad", "delta", "stop", "ids", "wx"} == kinds

    ciphertexts: list[int] = []
    updates: dict[int, list[np.ndarray]] = {GUEST: [], host: []}
    for msg in seen:
        for column in private:
            assert column not in msg.payload, f"a raw private column travels in {msg.tag}"
        value = msg.value()
        leaves = _leaves(value)
        encrypted = [leaf for leaf in leaves if isinstance(leaf, paillier.EncryptedArray)]
        for enc in encrypted:
            n = int(enc.public_key.n)
            # Unblinded Paillier (r = 1) is c = 1 + m n mod n^2, readable by anyone with n.
            assert all(int(c) % n != 1 for c in enc.ciphertexts), f"unblinded ciphertext in {msg.tag}"
            ciphertexts.extend(int(c) for c in enc.ciphertexts)
        if msg.kind in ENCRYPTED_ONLY:
            assert encrypted and all(leaf is None or isinstance(leaf, paillier.EncryptedArray) for leaf in leaves), msg.tag
        elif msg.kind == "delta":
            assert msg.src == ARBITER and msg.dst in updates
            updates[msg.dst].append(np.asarray(value))
        elif msg.kind == "pubkey":
            assert msg.src == ARBITER and set(json.loads(value)) == {"kind", "n"}
        elif msg.kind in ("rows", "ids"):
            assert msg.src == GUEST and msg.dst == host
            ids = value["ids"] if msg.kind == "rows" else value
            assert ids == list(breast.ids)
        elif msg.kind == "wx":
            # FATE's prediction: the guest learns W_h . X_h, nothing finer.
            assert (msg.src, msg.dst) == (host, GUEST)
            np.testing.assert_allclose(value, breast.host @ trained.hosts[0].weights)
        else:
            assert msg.kind in ("batches", "stop") and isinstance(value, bool | int), msg.tag
    # Nothing is ever forwarded as received: every ciphertext on the wire is new.
    assert len(set(ciphertexts)) == len(ciphertexts)
    _check_d_is_rerandomized(seen)
    # The plaintext updates a party receives add up to its own weights (zero init, L2: w = -sum(delta)).
    guest_total = -np.sum(updates[GUEST], axis=0)
    np.testing.assert_allclose(guest_total[:-1], trained.guest.weights, atol=1e-12)
    assert guest_total[-1] == pytest.approx(trained.guest.intercept, abs=1e-12)
    np.testing.assert_allclose(-np.sum(updates[host], axis=0), trained.hosts[0].weights, atol=1e-12)


def _check_d_is_rerandomized(seen: list[Message]) -> None:
    """The host knows its [[u]]; were [[d]] = [[u]] * g^own without fresh randomness, [[d]] / [[u]] would be
    1 + own * n mod n^2 and the host could read own = 0.25 (X_g w_g + b) - 0.5 y, hence the labels."""
    forwards = {m.tag.split("|")[0][: -len(".fwd")]: m.value()["u"] for m in seen if m.kind == "fwd"}
    rounds = [(m.tag.split("|")[0][: -len(".d")], m.value()) for m in seen if m.kind == "d"]
    assert rounds and len(rounds) == len(forwards)
    for round_tag, d in rounds:
        u = forwards[round_tag]
        n, n2 = int(u.public_key.n), int(u.public_key.nsquare)
        for cd, cu in zip(d.ciphertexts, u.ciphertexts, strict=True):
            assert int(cd) * pow(int(cu), -1, n2) % n2 % n != 1, f"[[d]] of {round_tag} is not re-randomized"


def test_same_values_sent_twice_differ_on_the_wire_and_decrypt_equal(breast: Breast) -> None:
    params = parse_params(PARAMS)
    keys = paillier.generate_keypair(512, insecure=True)
    runs = []
    for _ in range(2):
        seen, record = _capture()
        train_and_predict(breast.ids, [breast.guest, breast.host], breast.labels, params, on_wire=record, keys=keys)
        runs.append({m.tag: m.value() for m in seen if m.kind in ENCRYPTED_ONLY})
    first, second = runs
    assert first.keys() == second.keys()
    for tag in first:
        for a, b in zip(_leaves(first[tag]), _leaves(second[tag]), strict=True):
            if a is None:
                continue
            assert not set(map(int, a.ciphertexts)) & set(map(int, b.ciphertexts)), tag
            np.testing.assert_array_equal(keys[1].decrypt(a), keys[1].decrypt(b))
    # Zero init: the first forward encrypts 569 zeros, yet no two ciphertexts are equal.
    zeros = first["hetero_lr.0.0.fwd|host>guest"]["u"]
    assert not keys[1].decrypt(zeros).any() and len(set(map(int, zeros.ciphertexts))) == len(breast.ids)


def test_guest_refuses_a_forward_under_a_foreign_key(breast: Breast) -> None:
    params = parse_params(PARAMS)
    feds = federations(MemoryHub(), 1)
    public, _ = paillier.generate_keypair(512, insecure=True)
    rogue, _ = paillier.generate_keypair(512, insecure=True)
    feds["arbiter"].remote(public.to_json(), "hetero_lr.pubkey", "guest")
    # A host holding its own key could decrypt [[d]] and read the labels, were it accepted.
    feds["host0"].remote({"u": rogue.encrypt(np.zeros(len(breast.ids))), "loss": None}, "hetero_lr.0.0.fwd", "guest")
    with pytest.raises(ComponentError, match="not encrypted under the arbiter's Paillier key"):
        train_guest(feds["guest"], breast.ids, ("x",) * 10, breast.guest, breast.labels, params)
