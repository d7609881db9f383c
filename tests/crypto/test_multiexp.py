from __future__ import annotations

import gmpy2
from gmpy2 import mpz
from hypothesis import given, settings
from hypothesis import strategies as st

from fate.crypto.multiexp import FixedBaseTable, multiexp, signed_multiexp

MOD = mpz(2**127 - 1) * mpz(2**89 - 1)


def _naive(bases, exponents):
    acc = mpz(1)
    for b, e in zip(bases, exponents, strict=True):
        acc = acc * gmpy2.powmod(b, e, MOD) % MOD
    return acc


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 2**200), st.integers(-(2**70), 2**70)), max_size=60))
def test_bucket_multiexp_equals_product_of_powmods(pairs):
    bases = [mpz(b) for b, _ in pairs]
    exponents = [e for _, e in pairs]
    assert signed_multiexp(bases, exponents, MOD) == _naive(bases, exponents)
    positive = [abs(e) for e in exponents]
    assert multiexp(bases, positive, MOD) == _naive(bases, positive)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**100 - 1), st.sampled_from([1, 3, 8]))
def test_fixed_base_table_equals_powmod(exponent, window):
    table = FixedBaseTable(12345, MOD, 100, window)
    assert table.pow(exponent) == gmpy2.powmod(12345, exponent, MOD)


def test_fixed_base_table_refuses_exponents_outside_its_range():
    import pytest

    table = FixedBaseTable(3, MOD, 16)
    with pytest.raises(ValueError):
        table.pow(1 << 16)
    with pytest.raises(ValueError):
        table.pow(-1)
