"""X^T [[d]] with shared bases: exactly the naive product, for any signs, widths and shapes."""

from __future__ import annotations

import secrets

import gmpy2
import numpy as np
import pytest
from gmpy2 import mpz
from hypothesis import given, settings
from hypothesis import strategies as st

from fate.crypto import encoding, paillier
from fate.crypto.matvec import matvec_t
from fate.crypto.multiexp import batch_invert, shared_multiexp, signed_digits, signed_window

MOD = mpz(gmpy2.next_prime(mpz(2) ** 255)) * mpz(gmpy2.next_prime(mpz(3) ** 170))


def _naive(bases: list[mpz], matrix: np.ndarray) -> list[mpz]:
    out = []
    for row in matrix.tolist():
        acc = mpz(1)
        for b, e in zip(bases, row, strict=True):
            acc = acc * gmpy2.powmod(b, e, MOD) % MOD  # gmpy2 inverts for e < 0
        out.append(acc)
    return out


def _units(count: int) -> list[mpz]:
    return [mpz(secrets.randbelow(int(MOD) - 2) + 2) for _ in range(count)]


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 40), st.integers(1, 5), st.integers(0, 62), st.integers(0, 2**32))
def test_shared_multiexp_equals_the_naive_product(rows: int, cols: int, bits: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    top = 1 << bits
    matrix = rng.integers(-top + 1, top, size=(cols, rows), dtype=np.int64) if bits < 63 else None
    assert matrix is not None
    bases = _units(rows)
    assert shared_multiexp(bases, matrix, MOD) == _naive(bases, matrix)


def test_extremes_zero_columns_and_int64_limits() -> None:
    bases = _units(7)
    limit = (1 << 62) - 1
    matrix = np.array([[0] * 7, [limit, -limit, 1, -1, 0, limit, -(1 << 62)], [-3] * 7], dtype=np.int64)
    assert shared_multiexp(bases, matrix, MOD) == _naive(bases, matrix)
    assert shared_multiexp([], np.zeros((2, 0), dtype=np.int64), MOD) == [1, 1]


def test_signed_digits_rebuild_the_exponents() -> None:
    values = np.array([[0, 1, -1, 12345, -98765, (1 << 62) - 1, -(1 << 62)]], dtype=np.int64)
    for window in (2, 5, 13):
        digits = signed_digits(values, window)
        half = 1 << (window - 1)
        assert all(((d >= -half) & (d < half)).all() for d in digits)
        rebuilt = sum(d.astype(object) * (1 << (window * k)) for k, d in enumerate(digits))
        assert rebuilt.tolist() == values.tolist()


def test_window_grows_with_rows_and_batch_inverses_are_inverses() -> None:
    assert signed_window(100, 24) < signed_window(100_000, 24)
    bases = _units(9)
    assert all(b * i % MOD == 1 for b, i in zip(bases, batch_invert(bases, MOD), strict=True))
    with pytest.raises(ZeroDivisionError):
        batch_invert([mpz(3), MOD // gmpy2.next_prime(mpz(2) ** 255)], MOD)


def test_matvec_is_exact_to_the_encoding_and_survives_a_non_unit(keypair) -> None:  # type: ignore[no-untyped-def]
    public, private = keypair
    rng = np.random.default_rng(7)
    x = rng.standard_normal((30, 4))
    x[0] = np.abs(x[0])
    d = rng.standard_normal(30)
    enc = paillier.encrypt(public, d)
    got = private.decrypt(matvec_t(x, enc, frac_bits=20))
    # Exact to the encoding: the integer product of the encoded X and d, decoded once.
    xi = encoding.encode(x, 20)
    di = encoding.encode(d, 64)
    expect = encoding.decode([sum(xi[i * 4 + j] * di[i] for i in range(30)) for j in range(4)], 84)
    np.testing.assert_array_equal(got, expect)
    # A ciphertext sharing a factor with n^2 has no inverse: the unsigned kernel gives the naive product.
    n2 = public.nsquare
    bases = [public.n, *enc.ciphertexts[1:]]
    broken = paillier.EncryptedArray(public, bases, enc.shape, enc.frac_bits, enc.bound)
    naive = []
    for j in range(4):
        acc = mpz(1)
        for i, b in enumerate(bases):
            acc = acc * gmpy2.powmod(b, xi[i * 4 + j], n2) % n2
        naive.append(acc)
    assert matvec_t(x, broken, frac_bits=20).ciphertexts == naive
