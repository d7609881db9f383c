"""Everything that crosses a party boundary during training and prediction, inspected.

Each party's Federation on_wire hook sees every payload exactly as its router carries it; the
check runs over the in-memory hub and over real routers (mutual TLS, star through an exchange). Each
message kind is checked against what its recipient may learn, in FATE's arbiter protocol (a
trusted third-party arbiter) and in the arbiter-free one: ids, a seed commitment and seeds,
public keys, a party's own update (arbiter protocol), convergence flags, and at prediction a
host's W_h . X_h for the guest. Every other number travels encrypted with fresh randomness,
in headers that carry only protocol constants, or masked so that its decryption is uniform.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from scipy import stats

from fate.crypto import paillier
from fate.crypto.keys import shared_public_key
from fate.federation import codec
from fate.federation.memory import MemoryHub
from fate.ml.component import ComponentError
from fate.ml.hetero_lr import train_guest
from fate.ml.joint_batches import commitment
from fate.ml.lr_params import parse_params
from fate.ml.masking import FRAC_BITS, PUBLIC_BOUND
from tests.federation.lab import RouterLab
from tests.ml.conftest import Breast
from tests.ml.federated import ARBITER, GUEST, HOSTS, LAB, federations, train_and_predict
from tests.ml.test_plain_lr import FLOW_TEST

PARAMS = {**FLOW_TEST, "max_iter": 3, "encrypt_param": {"key_length": 512}, "insecure_key": True}
ENCRYPTED_ONLY = {"fwd", "d", "grad", "own", "hgrad", "loss"}
MASKED = {"grad", "hgrad", "loss"}  # arbiter-free: requests to the peer's decryption service
ANSWERS = {"grad_plain", "hgrad_plain", "loss_plain"}


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
    def round(self) -> str:
        return self.tag.split("|")[0].rsplit(".", 1)[0]

    def value(self) -> Any:
        return codec.decode(self.payload)


def capture() -> tuple[list[Message], Any]:
    seen: list[Message] = []

    def record(job: str, tag: str, src: int, dst: int, payload: bytes) -> None:
        seen.append(Message(tag, src, dst, bytes(payload)))

    return seen, record


def leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in leaves(v)]
    if isinstance(value, list | tuple):
        return [leaf for v in value for leaf in leaves(v)]
    return [value]


def private_columns(breast: Breast) -> list[bytes]:
    """Raw bytes of every private column (and the label encodings the protocol uses)."""
    columns = [breast.labels, np.where(breast.labels == 1, 1.0, -1.0), 0.5 * np.where(breast.labels == 1, 1.0, -1.0)]
    columns += list(breast.guest.T) + list(breast.host.T)
    return [np.ascontiguousarray(c, dtype=np.float64).tobytes() for c in columns]


def check_common(seen: list[Message], breast: Breast) -> list[paillier.EncryptedArray]:
    """What holds for both protocols; returns every ciphertext array on the wire."""
    host = HOSTS[0]
    private = private_columns(breast)
    arrays: list[paillier.EncryptedArray] = []
    for msg in seen:
        for column in private:
            assert column not in msg.payload, f"a raw private column travels in {msg.tag}"
        value = msg.value()
        found = [leaf for leaf in leaves(value) if isinstance(leaf, paillier.EncryptedArray)]
        for enc in found:
            n = int(enc.public_key.n)
            # Unblinded Paillier (r = 1) is c = 1 + m n mod n^2, readable by anyone with n.
            assert all(int(c) % n != 1 for c in enc.ciphertexts), f"unblinded ciphertext in {msg.tag}"
        arrays += found
        if msg.kind in ENCRYPTED_ONLY:
            assert found and all(leaf is None or isinstance(leaf, paillier.EncryptedArray) for leaf in leaves(value))
        if msg.kind == "rows":
            assert (msg.src, msg.dst) == (GUEST, host) and set(value) == {"ids", "commit"}
            assert value["ids"] == list(breast.ids) and len(value["commit"]) == 32
        elif msg.kind == "ids":
            assert (msg.src, msg.dst, value) == (GUEST, host, list(breast.ids))
        elif msg.kind == "seed":
            assert (msg.src, msg.dst) == (host, GUEST) and len(value) == 32
        elif msg.kind == "seed_reveal":
            # The guest's seed matches the commitment it sent before it saw the host's seed.
            rows = next(m for m in seen if m.kind == "rows").value()
            assert commitment(value["guest"]) == rows["commit"]
            assert value["hosts"] == [next(m for m in seen if m.kind == "seed").value()]
    ciphertexts = [int(c) for a in arrays for c in a.ciphertexts]
    # Nothing is ever forwarded as received: every ciphertext on the wire is new.
    assert len(set(ciphertexts)) == len(ciphertexts)
    return arrays


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


def test_arbiter_protocol_sends_no_private_value(breast: Breast, transports: Any) -> None:
    seen, record = capture()
    trained = train_and_predict(breast.ids, [breast.guest, breast.host], breast.labels, parse_params(PARAMS),
                                on_wire=record, transports=transports)
    host = HOSTS[0]
    assert {m.kind for m in seen} == {"rows", "seed", "seed_reveal", "pubkey", "batches", "fwd", "d", "grad", "delta",
                                      "stop", "ids", "wx"}
    check_common(seen, breast)
    updates: dict[int, list[np.ndarray]] = {GUEST: [], host: []}
    for msg in seen:
        value = msg.value()
        if msg.kind in ("fwd", "d"):
            # Between data parties, headers carry protocol constants only (not max |u| or max |own|).
            for enc in (e for e in leaves(value) if e is not None):
                assert enc.frac_bits == FRAC_BITS and enc.bound in (PUBLIC_BOUND, 2 * PUBLIC_BOUND), msg.tag
        elif msg.kind == "delta":
            assert msg.src == ARBITER and msg.dst in updates
            updates[msg.dst].append(np.asarray(value))
        elif msg.kind == "pubkey":
            assert msg.src == ARBITER and set(json.loads(value)) == {"kind", "n"}
        elif msg.kind == "wx":
            # FATE's prediction: the guest learns W_h . X_h, nothing finer.
            assert (msg.src, msg.dst) == (host, GUEST)
            np.testing.assert_allclose(value, breast.host @ trained.hosts[0].weights)
        elif msg.kind in ("batches", "stop"):
            assert isinstance(value, bool | int), msg.tag
    _check_d_is_rerandomized(seen)
    # The plaintext updates a party receives add up to its own weights (zero init, L2: w = -sum(delta)).
    guest_total = -np.sum(updates[GUEST], axis=0)
    np.testing.assert_allclose(guest_total[:-1], trained.guest.weights, atol=1e-12)
    assert guest_total[-1] == pytest.approx(trained.guest.intercept, abs=1e-12)
    np.testing.assert_allclose(-np.sum(updates[host], axis=0), trained.hosts[0].weights, atol=1e-12)


def _check_d_is_rerandomized(seen: list[Message]) -> None:
    """The host knows its [[u]]; were [[d]] = [[u]] * g^own without fresh randomness, [[d]] / [[u]] would be
    1 + own * n mod n^2 and the host could read own = 0.25 (X_g w_g + b) - 0.5 y, hence the labels."""
    forwards = {m.round: m.value()["u"] for m in seen if m.kind == "fwd"}
    rounds = [(m.round, m.value()) for m in seen if m.kind == "d"]
    assert rounds and len(rounds) == len(forwards)
    for round_tag, d in rounds:
        u = forwards[round_tag]
        n, n2 = int(u.public_key.n), int(u.public_key.nsquare)
        for cd, cu in zip(d.ciphertexts, u.ciphertexts, strict=True):
            assert int(cd) * pow(int(cu), -1, n2) % n2 % n != 1, f"[[d]] of {round_tag} is not re-randomized"


def test_arbiter_free_protocol_sends_no_private_value(breast: Breast, transports: Any) -> None:
    seen, record = capture()
    guest_keys, host_keys = (paillier.generate_keypair(512, insecure=True) for _ in range(2))
    trained = train_and_predict(breast.ids, [breast.guest, breast.host], breast.labels, parse_params(PARAMS),
                                on_wire=record, transports=transports, free=True, keys=guest_keys,
                                host_keys=host_keys)
    host = HOSTS[0]
    assert all(ARBITER not in (m.src, m.dst) for m in seen)
    assert {m.kind for m in seen} == {"rows", "seed", "seed_reveal", "hello", "own", "fwd", "grad", "loss", "hgrad",
                                      "hgrad_plain", "grad_plain", "loss_plain", "stop", "ids", "wx"}
    check_common(seen, breast)
    key_of = {GUEST: guest_keys[0], host: host_keys[0]}
    residues: list[float] = []
    for msg in seen:
        value = msg.value()
        if msg.kind in ("own", "fwd"):
            # Fresh encryptions under the sender's own key, headers with protocol constants only.
            for enc in (e for e in leaves(value) if e is not None):
                assert enc.public_key == key_of[msg.src] and (enc.frac_bits, enc.bound) == (FRAC_BITS, PUBLIC_BOUND)
        elif msg.kind in MASKED:
            # Requests under the recipient's key, without scale or bound: the header tells nothing either.
            assert value.public_key == key_of[msg.dst] and (value.frac_bits, value.bound) == (0, None), msg.tag
            assert value.shape == ({"grad": (11,), "loss": (1,), "hgrad": (20,)}[msg.kind])
        elif msg.kind in ANSWERS:
            n = int(key_of[msg.src].n)
            assert all(isinstance(v, int) and 0 <= v < n for v in value)
            residues += [v / n for v in value]
        elif msg.kind == "hello":
            assert set(value) == {"pubkey", "columns"} and value["columns"] == {GUEST: 11, host: 20}[msg.src]
        elif msg.kind == "wx":
            np.testing.assert_allclose(value, breast.host @ trained.hosts[0].weights)
        elif msg.kind == "stop":
            assert (msg.src, msg.dst) == (GUEST, host) and isinstance(value, bool)
    # Every decrypted value a party hands back is m + r mod n: uniform on [0, n). Unmasked fixed-point values
    # would sit near 0 or near n (negative), never in the middle third, the overflow band.
    assert len(residues) == 3 * (20 + 11 + 1)
    assert stats.kstest(residues, "uniform").pvalue > 1e-3
    assert 0.15 < np.mean([1 / 3 <= r < 2 / 3 for r in residues]) < 0.52


def test_same_values_sent_twice_differ_on_the_wire_and_decrypt_equal(breast: Breast) -> None:
    params = parse_params(PARAMS)
    keys = paillier.generate_keypair(512, insecure=True)
    runs = []
    for _ in range(2):
        seen, record = capture()
        train_and_predict(breast.ids, [breast.guest, breast.host], breast.labels, params, on_wire=record, keys=keys)
        # Batches are in the joint order, fresh per run: row vectors are compared as sorted values.
        runs.append({m.tag: m.value() for m in seen if m.kind in ENCRYPTED_ONLY})
    first, second = runs
    assert first.keys() == second.keys()
    for tag in first:
        for a, b in zip(leaves(first[tag]), leaves(second[tag]), strict=True):
            if a is None:
                continue
            assert not set(map(int, a.ciphertexts)) & set(map(int, b.ciphertexts)), tag
            np.testing.assert_allclose(np.sort(keys[1].decrypt(a)), np.sort(keys[1].decrypt(b)), atol=1e-12)
    # Zero init: the first forward encrypts 569 zeros, yet no two ciphertexts are equal.
    zeros = first["hetero_lr.0.0.fwd|host>guest"]["u"]
    assert not keys[1].decrypt(zeros).any() and len(set(map(int, zeros.ciphertexts))) == len(breast.ids)
    # Those runs used obfuscators precomputed in the background (issue 17), and none of them twice (above).
    assert shared_public_key(int(keys[0].n)).obfuscators.served_offline > 0


def test_guest_refuses_a_forward_under_a_foreign_key(breast: Breast) -> None:
    params = parse_params(PARAMS)
    feds = federations(MemoryHub(), 1)
    public, _ = paillier.generate_keypair(512, insecure=True)
    rogue, _ = paillier.generate_keypair(512, insecure=True)
    feds["arbiter"].remote(public.to_json(), "hetero_lr.pubkey", "guest")
    feds["host0"].remote(b"\x01" * 32, "hetero_lr.seed", "guest")
    # A host holding its own key could decrypt [[d]] and read the labels, were it accepted.
    feds["host0"].remote({"u": rogue.encrypt(np.zeros(len(breast.ids))), "loss": None}, "hetero_lr.0.0.fwd", "guest")
    with pytest.raises(ComponentError, match="not encrypted under the arbiter's Paillier key"):
        train_guest(feds["guest"], breast.ids, ("x",) * 10, breast.guest, breast.labels, params, policy=LAB)
