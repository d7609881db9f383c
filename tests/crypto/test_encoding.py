from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fate.crypto import encoding
from fate.crypto.errors import EncodingOverflowError

finite = st.floats(allow_nan=False, allow_infinity=False)


@given(st.lists(finite, min_size=1, max_size=20), st.integers(0, 80))
def test_encoding_is_exact_rounding_of_the_scaled_value(values, frac_bits):
    ints = encoding.encode(np.array(values), frac_bits)
    for v, i in zip(values, ints, strict=True):
        exact = v * 2**frac_bits if abs(v) < 1e290 else None
        if exact is not None and math.isfinite(exact):
            assert abs(i - exact) <= 0.5
        # Whatever the path, decoding returns the float it came from (up to the scale's resolution).
        back = encoding.decode([i], frac_bits)[0]
        assert abs(back - v) <= 2.0 ** -(frac_bits + 1) + abs(v) * 2**-52


def test_int64_and_big_integer_paths_agree():
    values = np.array([1e-3, -7.5, 2.0**40, -(2.0**61)])
    small = encoding.encode(values, 10)
    big = [encoding._encode_big(float(v), 10) for v in values]
    assert small == big
    assert encoding.encode(np.array([1e300]), 64)[0] == int(1e300) << 64


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_are_refused(bad):
    with pytest.raises(EncodingOverflowError, match="NaN or infinity"):
        encoding.encode(np.array([1.0, bad]), 8)


def test_non_numeric_input_is_refused():
    with pytest.raises(EncodingOverflowError, match="non-numeric"):
        encoding.as_float_array(["a"])


def test_values_beyond_max_int_are_refused_not_wrapped():
    n, max_int = 1000003, 333333
    assert encoding.to_residues([max_int, -max_int], n, max_int) == [max_int, n - max_int]
    with pytest.raises(EncodingOverflowError, match="exceeds the plaintext range"):
        encoding.to_residues([max_int + 1], n, max_int)
    with pytest.raises(EncodingOverflowError):
        encoding.to_residues([-max_int - 1], n, max_int)


def test_residues_in_the_overflow_band_are_refused():
    n, max_int = 1000003, 333333
    assert encoding.from_residues([5, n - 5], n, max_int) == [5, -5]
    with pytest.raises(EncodingOverflowError, match="overflowed"):
        encoding.from_residues([max_int + 1], n, max_int)


def test_multiplier_precision_is_relative_to_the_largest_value():
    assert encoding.multiplier_frac_bits(np.array([0.5, -0.25])) == 32
    assert encoding.multiplier_frac_bits(np.array([1000.0, 1.0])) == 32 - 10
    assert encoding.multiplier_frac_bits(np.zeros(3)) == 0
    assert encoding.multiplier_frac_bits(np.array([2.0**40])) == 0


@given(finite.filter(lambda v: v != 0))
def test_scalar_frac_bits_encode_a_float_exactly(value):
    bits = encoding.scalar_frac_bits(value)
    integer = encoding.encode(np.array(value), bits)[0]
    assert integer / 2**bits == value


def test_decode_of_huge_integers_is_correctly_rounded():
    assert encoding.decode([3 << 200], 200)[0] == 3.0
    assert encoding.decode([-(1 << 70) - 1], 70)[0] == -1.0
