"""Integer slots under Paillier: records sum exactly field by field, folds decrypt to their sums, overflow is caught."""

from __future__ import annotations

import numpy as np
import pytest
from gmpy2 import mpz

from fate.crypto import paillier
from fate.crypto.errors import EncodingOverflowError
from fate.ml import he_pack
from fate.ml.sbt_core import ONE, GHLayout, decode, gradients, records


@pytest.fixture(scope="module")
def keys() -> tuple[paillier.PublicKey, paillier.PrivateKey]:
    return paillier.generate_keypair(1024, insecure=True)


def test_gh_records_summed_under_encryption_decode_to_exact_sums(keys: tuple[paillier.PublicKey, paillier.PrivateKey]) -> None:
    public, private = keys
    rng = np.random.default_rng(0)
    n = 300
    labels = (rng.random(n) < 0.4).astype(float)
    g_off, h = gradients(rng.normal(size=n), labels)
    layout = GHLayout.for_rows(n)
    cts = he_pack.encrypt_ints(public, records(g_off, h, layout))
    subsets = [rng.random(n) < 0.5 for _ in range(40)] + [np.ones(n, dtype=bool)]
    sums = []
    for subset in subsets:
        acc = mpz(1)
        for c in np.asarray(cts, dtype=object)[subset]:
            acc = acc * c % public.nsquare
        sums.append(acc)
    folded = he_pack.fold(public, sums, layout.slot_bits)
    assert len(folded) == -(-len(sums) // he_pack.capacity(public, layout.slot_bits))
    plain = he_pack.decrypt_ints(private, folded)
    got = decode(he_pack.fields(he_pack.unfold(plain, len(sums), layout.slot_bits,
                                               he_pack.capacity(public, layout.slot_bits)), layout.widths))
    for row, subset in zip(got, subsets, strict=True):
        assert row.tolist() == [int(g_off[subset].sum()) - int(subset.sum()) * ONE, int(h[subset].sum()), int(subset.sum())]


def test_folded_ciphertexts_are_rerandomized(keys: tuple[paillier.PublicKey, paillier.PrivateKey]) -> None:
    public, private = keys
    cts = he_pack.encrypt_ints(public, [1, 2, 3])
    first, second = he_pack.fold(public, cts, 8), he_pack.fold(public, cts, 8)
    assert first != second and he_pack.decrypt_ints(private, first) == he_pack.decrypt_ints(private, second)
    assert he_pack.unfold(he_pack.decrypt_ints(private, first), 3, 8, he_pack.capacity(public, 8)) == [1, 2, 3]


def test_a_slot_overflow_is_detected_not_misread(keys: tuple[paillier.PublicKey, paillier.PrivateKey]) -> None:
    public, private = keys
    cts = he_pack.encrypt_ints(public, [255, 255])
    total = cts[0] * cts[1] % public.nsquare  # 510 does not fit an 8-bit slot
    plain = he_pack.decrypt_ints(private, he_pack.fold(public, [total], 8))
    with pytest.raises(EncodingOverflowError):
        he_pack.unfold(plain, 1, 8, he_pack.capacity(public, 8))
    with pytest.raises(EncodingOverflowError):
        he_pack.encrypt_ints(public, [-1])
