"""Everything that crosses a party boundary during SecureBoost training, validation and prediction, inspected.

Hosts must receive g and h only as blinded ciphertexts (plus row numbers, FATE's node
membership); the guest must receive from a host only encrypted sums, presence flags, opaque
split ids and left/right bits: never a host value, bin edge or column name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from fate.crypto import paillier
from fate.federation import codec
from fate.ml.binning import bin_columns
from fate.ml.component import Table
from fate.ml.sbt_core import gradients
from fate.ml.sbt_params import parse_params
from fate.ml.sbt_plain import fit_plain
from tests.ml.conftest import Breast
from tests.ml.pipeline import GUEST, HOST, Step, run_pipeline

KEY = {"he_param": {"key_length": 1024}, "insecure_key": True}


@dataclass(frozen=True)
class Message:
    tag: str
    src: int
    dst: int
    payload: bytes

    def value(self) -> Any:
        return codec.decode(self.payload)


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, list | tuple):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value]


def _run(breast: Breast) -> tuple[list[Message], dict[str, Any], Table, Table]:
    seen: list[Message] = []
    guest = Table(breast.ids, tuple(f"g{i}" for i in range(10)), breast.guest, breast.labels)
    host = Table(breast.ids, tuple(f"h{i}" for i in range(20)), breast.host)
    steps = [Step("split", "data_split", {"train_size": 0.8, "validate_size": 0.2, "test_size": 0.0,
                                          "stratified": True, "random_state": 7}),
             Step("sbt", "hetero_secureboost", {"num_trees": 2, "early_stopping_rounds": 5, **KEY})]
    runs = run_pipeline(steps, {"guest": guest, "host": host},
                        on_wire=lambda job, tag, src, dst, payload: seen.append(Message(tag, src, dst, bytes(payload))))
    return seen, runs, guest, host


def test_hosts_get_g_and_h_only_as_blinded_ciphertexts(breast: Breast) -> None:
    seen, runs, _, _ = _run(breast)
    to_host = [m for m in seen if m.src == GUEST and m.dst == HOST and m.tag.startswith("sbt.")]
    train = runs["guest"].results["split"].data
    assert train is not None and train.labels is not None
    # Every gradient the guest ever encrypted, in the clear, as the reference computes them.
    plain = fit_plain(train.features, [runs["host"].results["split"].data.features], train.labels,  # type: ignore[union-attr]
                      parse_params({"num_trees": 2}))
    secrets = [train.labels.tobytes(), train.labels.astype(np.int64).tobytes(), np.packbits(train.labels > 0).tobytes()]
    scores = np.zeros(len(train))
    for tree in plain.trees:
        g_off, h = gradients(scores, train.labels)
        secrets += [g_off.tobytes(), h.tobytes(), (g_off / 2**24 - 1).tobytes(), (h / 2**24).tobytes()]
        scores = scores + 0.3 * tree.row_weights(len(train))
    ciphertexts: list[int] = []
    gh_messages = 0
    for msg in to_host:
        for secret in secrets:
            assert secret not in msg.payload, f"a plaintext label or gradient column travels in {msg.tag}"
        value = msg.value()
        for leaf in _leaves(value):
            if isinstance(leaf, paillier.EncryptedArray):
                n = int(leaf.public_key.n)
                assert all(int(c) % n != 1 for c in leaf.ciphertexts), f"unblinded ciphertext in {msg.tag}"
                ciphertexts.extend(int(c) for c in leaf.ciphertexts)
            else:
                # Ids, row numbers, feature-group and threshold indices, flags: no floats.
                assert isinstance(leaf, str | int | bool | type(None) | np.ndarray), (msg.tag, type(leaf))
                if isinstance(leaf, np.ndarray):
                    assert leaf.dtype.kind in "iu", (msg.tag, leaf.dtype)
        if msg.tag.split("|")[0].endswith(".gh") and not value["stop"]:
            gh_messages += 1
            assert set(value) == {"stop", "gh", "slot_bits"} and len(value["gh"].ciphertexts) == len(train)
    assert gh_messages == 2
    assert len(set(ciphertexts)) == len(ciphertexts), "a ciphertext was sent twice"


def test_the_guest_learns_no_host_threshold_value_or_name(breast: Breast) -> None:
    seen, runs, _, host = _run(breast)
    to_guest = [m for m in seen if m.src == HOST and m.dst == GUEST]
    assert to_guest
    host_train = runs["host"].results["split"].data
    binned = bin_columns(host_train.features, "sbt", 32)
    edges = np.concatenate([e for e in binned.edges if len(e)])
    secret_values = [np.float64(v).tobytes() for v in np.unique(np.concatenate([edges, host.features.ravel()]))]
    host_model = runs["host"].models["sbt"][0]
    used = [float(s["threshold"]) for s in host_model["splits"].values()]
    assert used, "the host never split: nothing to hide"
    for msg in to_guest:
        for secret in secret_values:
            assert secret not in msg.payload, f"a host value or edge travels in {msg.tag}"
        for leaf in _leaves(msg.value()):
            assert not isinstance(leaf, float), f"a float travels host -> guest in {msg.tag}"
            assert not (isinstance(leaf, str) and leaf in host.header), f"a host column name in {msg.tag}"
    guest_model = runs["guest"].models["sbt"][0]
    text = repr(guest_model)
    assert not any(repr(v) in text for v in used if v not in breast.guest)
    for tree in guest_model["trees"]:
        for node in tree:
            if node["party"] == HOST:
                assert "threshold" not in node and "feature" not in node


def test_hosts_see_row_numbers_only_of_nodes_as_documented(breast: Breast) -> None:
    seen, _, _, _ = _run(breast)
    kinds = {m.tag.split("|")[0].split(".")[-1] for m in seen if m.tag.startswith("sbt.") and m.src == GUEST}
    # setup (key, ids), gh, build (rows per node), split (the guest's choice on this host), prediction asks.
    assert kinds <= {"setup", "gh", "build", "split", "ids", "ask"}, kinds
