"""The homomorphic identities, over random values and the edge cases that break fixed-point code."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fate.crypto import paillier

# Magnitudes the 512-bit test key holds with room for products (and that floats add exactly enough).
value = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False),
    st.sampled_from([0.0, -0.0, 1e-12, -1e-12, 1.0, -1.0, 2.0**-30, 123456.75]),
)
vector = hnp.arrays(np.float64, st.integers(1, 8), elements=value)
FRESH = 2.0**-64  # resolution of freshly encrypted values


def _close(actual: np.ndarray, expected: np.ndarray, slack: np.ndarray | float) -> None:
    assert actual.shape == np.shape(expected)
    assert np.all(np.abs(actual - expected) <= slack + 1e-12 * np.abs(expected)), (actual, expected)


@settings(max_examples=40, deadline=None)
@given(vector, st.data())
def test_add_ciphertexts_and_plaintexts(keypair, a, data):
    pk, sk = keypair
    b = data.draw(hnp.arrays(np.float64, a.shape, elements=value))
    ea, eb = pk.encrypt(a), pk.encrypt(b)
    _close(sk.decrypt(ea + eb), a + b, 2 * FRESH)
    _close(sk.decrypt(ea + b), a + b, 2 * FRESH)
    _close(sk.decrypt(b + ea), a + b, 2 * FRESH)
    _close(sk.decrypt(ea - eb), a - b, 2 * FRESH)
    _close(sk.decrypt(b - ea), b - a, 2 * FRESH)
    _close(sk.decrypt(-ea), -a, FRESH)


@settings(max_examples=40, deadline=None)
@given(vector, st.data())
def test_multiply_by_plaintext_vector_and_scalar(keypair, a, data):
    pk, sk = keypair
    b = data.draw(hnp.arrays(np.float64, a.shape, elements=value))
    s = data.draw(value)
    ea = pk.encrypt(a)
    # Vector multipliers keep 32 significant bits of max|b|; scalars are exact.
    slack_vec = np.abs(a) * np.max(np.abs(b)) * 2.0**-31 + np.abs(b) * FRESH
    _close(sk.decrypt(ea * b), a * b, slack_vec)
    _close(sk.decrypt(b * ea), a * b, slack_vec)
    _close(sk.decrypt(ea * s), a * s, abs(s) * FRESH)
    if abs(s) >= 1e-6:  # dividing by less would leave a 512-bit key's range
        _close(sk.decrypt(ea / s), a / s, np.abs(a / s) * 2.0**-50 + FRESH / abs(s))


@settings(max_examples=30, deadline=None)
@given(hnp.arrays(np.float64, st.tuples(st.integers(1, 12), st.integers(1, 4)), elements=value), st.data())
def test_matvec_t_matches_numpy(keypair, x, data):
    pk, sk = keypair
    d = data.draw(hnp.arrays(np.float64, x.shape[0], elements=value))
    got = sk.decrypt(paillier.matvec_t(x, pk.encrypt(d)))
    slack = np.abs(x).T @ np.abs(d) * 2.0**-31 + np.max(np.abs(x)) * 2.0**-31 * np.sum(np.abs(d)) + 1e-9
    _close(got, x.T @ d, slack)


def test_matvec_t_is_exact_for_integer_and_dyadic_data(keypair):
    pk, sk = keypair
    rng = np.random.default_rng(7)
    x = rng.integers(-50, 50, size=(40, 6)).astype(float) / 4
    d = rng.integers(-1000, 1000, size=40).astype(float) / 8
    enc = pk.encrypt(d)
    assert np.array_equal(sk.decrypt(paillier.matvec_t(x, enc)), x.T @ d)
    assert np.array_equal(sk.decrypt(x.T @ enc), x.T @ d)
    # A zero column and an all-zero matrix are fine too.
    x[:, 2] = 0
    assert np.array_equal(sk.decrypt(paillier.matvec_t(x, enc)), x.T @ d)
    assert np.array_equal(sk.decrypt(paillier.matvec_t(np.zeros((40, 2)), enc)), np.zeros(2))


@settings(max_examples=30, deadline=None)
@given(vector)
def test_sum_and_rerandomize(keypair, a):
    pk, sk = keypair
    ea = pk.encrypt(a)
    total = sk.decrypt(ea.sum())
    assert total.shape == ()
    _close(total, np.array(a.sum()), a.size * FRESH + 1e-9 * np.sum(np.abs(a)))
    fresh = ea.rerandomize()
    assert all(c1 != c2 for c1, c2 in zip(fresh.ciphertexts, ea.ciphertexts, strict=True))
    assert np.array_equal(sk.decrypt(fresh), sk.decrypt(ea))


def test_encrypting_twice_gives_different_ciphertexts(keypair):
    pk, sk = keypair
    a, b = pk.encrypt([0.0, 0.0]), pk.encrypt([0.0, 0.0])
    assert set(a.ciphertexts).isdisjoint(b.ciphertexts)
    assert sk.decrypt(a).tolist() == [0.0, 0.0]


def test_max_int_round_trips_and_one_more_overflows(keypair):
    pk, sk = keypair
    top = float(pk.max_int)
    if int(top) > pk.max_int:
        top = math.nextafter(top, 0.0)  # the largest float that still fits
    enc = pk.encrypt([top, -top], frac_bits=0)
    assert sk.decrypt(enc).tolist() == [top, -top]
    with pytest.raises(paillier.EncodingOverflowError, match="plaintext range"):
        pk.encrypt([float(pk.max_int) * 2], frac_bits=0)
    with pytest.raises(paillier.EncodingOverflowError, match="could need"):
        _ = enc + enc
    with pytest.raises(paillier.EncodingOverflowError):
        _ = enc * 3.0


def test_overflow_through_repeated_products_is_an_error_not_a_wrong_number(keypair):
    pk, _ = keypair
    enc = pk.encrypt([1e6])
    with pytest.raises(paillier.EncodingOverflowError):
        for _ in range(40):
            enc = enc * 1e6


def test_tiny_values_keep_the_documented_absolute_precision(keypair):
    pk, sk = keypair
    tiny = np.array([1e-30, -3e-19, 2.0**-64, 2.0**-66])
    got = sk.decrypt(pk.encrypt(tiny))
    assert np.all(np.abs(got - tiny) <= 2.0**-65)
    assert np.array_equal(sk.decrypt(pk.encrypt(tiny, frac_bits=200)), tiny)


def test_ciphertexts_of_different_keys_are_refused(keypair, other_keypair):
    pk, sk = keypair
    pk2, sk2 = other_keypair
    a, b = pk.encrypt([1.0]), pk2.encrypt([1.0])
    with pytest.raises(paillier.KeyMismatchError):
        _ = a + b
    with pytest.raises(paillier.KeyMismatchError):
        sk2.decrypt(a)
    with pytest.raises(paillier.KeyMismatchError):
        paillier.EncryptedArray.concatenate([a, b])


def test_ciphertext_times_ciphertext_is_refused(keypair):
    pk, _ = keypair
    a = pk.encrypt([1.0, 2.0])
    with pytest.raises(paillier.UnsupportedOperation, match="two ciphertexts"):
        _ = a * a
    with pytest.raises(paillier.UnsupportedOperation):
        _ = a / a
    with pytest.raises(paillier.UnsupportedOperation):
        paillier.decrypt(_private(keypair), [1, 2])  # type: ignore[arg-type]


def _private(keypair):
    return keypair[1]


def test_shapes_broadcast_like_numpy_and_mismatches_are_clear(keypair):
    pk, sk = keypair
    m = pk.encrypt(np.arange(6.0).reshape(2, 3))
    assert sk.decrypt(m + np.array([1.0, 2.0, 3.0])).tolist() == [[1, 3, 5], [4, 6, 8]]
    assert sk.decrypt(m + pk.encrypt([1.0, 2.0, 3.0])).tolist() == [[1, 3, 5], [4, 6, 8]]
    assert sk.decrypt(pk.encrypt([[1.0], [2.0]]) - m).tolist() == [[1, 0, -1], [-1, -2, -3]]
    assert sk.decrypt(m[1]).tolist() == [3, 4, 5]
    assert sk.decrypt(m.reshape(3, 2)[:, 0]).tolist() == [0, 2, 4]
    assert len(m) == 2 and m.size == 6
    with pytest.raises(paillier.ShapeError):
        _ = m + np.ones(4)
    with pytest.raises(paillier.ShapeError):
        paillier.matvec_t(np.ones((3, 2)), pk.encrypt(np.ones(4)))


def test_mixed_scales_are_aligned_before_adding(keypair):
    pk, sk = keypair
    a = pk.encrypt([1.5, -2.0])
    product = a * np.array([0.5, 3.0])
    assert product.frac_bits != a.frac_bits
    assert sk.decrypt(product + a).tolist() == [2.25, -8.0]
    joined = paillier.EncryptedArray.concatenate([a, product])
    assert sk.decrypt(joined).tolist() == [1.5, -2.0, 0.75, -6.0]


def test_non_numeric_operands_are_clear_errors(keypair):
    pk, _ = keypair
    with pytest.raises(paillier.EncodingOverflowError):
        pk.encrypt(["x"])
    with pytest.raises(paillier.EncodingOverflowError):
        _ = pk.encrypt([1.0]) + np.array([np.nan])
