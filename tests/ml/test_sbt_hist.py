"""A host's encrypted bin sums: in-process and across the local compute backend's real processes (by
feature pairs, or by rows when there are fewer pairs than processes) they decrypt to the plaintext sums per node, feature and bin."""

from __future__ import annotations

import numpy as np
import pytest

from fate.compute.local import LocalBackend
from fate.crypto import paillier
from fate.ml import he_pack
from fate.ml.sbt_hist import bin_sums


def _plain(values: np.ndarray, bins: np.ndarray, build: list[np.ndarray], slots: int) -> list[int | None]:
    out: list[int | None] = []
    for rows in build:
        for j in range(bins.shape[1]):
            codes = np.where(bins[rows, j] < 0, slots - 1, bins[rows, j])
            for b in range(slots):
                members = rows[codes == b]
                out.append(int(values[members].sum()) if len(members) else None)
    return out


@pytest.mark.parametrize("n_features", [5, 1], ids=["pairs-shared-out", "rows-split"])
def test_encrypted_bin_sums_equal_the_plaintext_ones_with_and_without_a_backend(n_features: int) -> None:
    public, private = paillier.generate_keypair(512, insecure=True)
    rng = np.random.default_rng(11)
    rows = 300
    values = rng.integers(0, 1 << 20, rows)
    bins = rng.integers(-1, 6, (rows, n_features)).astype(np.int16)  # -1: missing, its own slot
    slots = 7
    cts = he_pack.encrypt_ints(public, values.tolist())
    build = [np.sort(rng.choice(rows, 120, replace=False)), np.arange(200, 290)]
    expected = _plain(values, bins, build, slots)
    with LocalBackend(2) as backend:
        for chosen in (None, backend):
            cells = bin_sums(public.nsquare, cts, bins, build, slots, chosen)
            got = [None if c is None else he_pack.decrypt_ints(private, [c])[0] for c in cells]
            assert got == expected
