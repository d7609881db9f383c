"""The process pool gives the same answers as in-process code, and survives reuse."""

from __future__ import annotations

import numpy as np
import pytest

from fate.crypto import paillier
from fate.crypto.pool import split


@pytest.fixture(scope="module")
def pool():
    with paillier.CryptoPool(2) as p:
        yield p


def test_parallel_results_equal_serial_ones(keypair, pool):
    pk, sk = keypair
    rng = np.random.default_rng(3)
    values = rng.uniform(-10, 10, 300)
    enc = pk.encrypt(values, pool=pool)
    assert np.array_equal(sk.decrypt(enc, pool=pool), sk.decrypt(enc))
    assert np.allclose(sk.decrypt(enc), values, atol=2.0**-60)
    x = rng.integers(-8, 8, size=(300, 5)).astype(float) / 2
    assert np.array_equal(
        sk.decrypt(paillier.matvec_t(x, enc, pool=pool)), sk.decrypt(paillier.matvec_t(x, enc))
    )
    fresh = enc.rerandomize(pool=pool)
    assert fresh.ciphertexts != enc.ciphertexts
    assert np.array_equal(sk.decrypt(fresh), sk.decrypt(enc))


def test_default_pool_serves_operators_and_can_be_unset(keypair, pool):
    pk, sk = keypair
    enc = pk.encrypt(np.ones(200))
    paillier.set_default_pool(pool)
    try:
        doubled = enc * np.full(200, 2.0)
    finally:
        paillier.set_default_pool(None)
    assert sk.decrypt(doubled).tolist() == [2.0] * 200


def test_a_pool_is_reused_across_keys_and_calls(keypair, other_keypair, pool):
    for pk, sk in (keypair, other_keypair, keypair):
        pool.warm_up(pk)
        assert sk.decrypt(pk.encrypt(np.arange(100.0), pool=pool)).tolist() == list(range(100))


def test_split_is_contiguous_and_balanced():
    parts = split(list(range(10)), 3)
    assert [list(p) for p in parts] == [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]
    assert split([], 4) == [[]]
