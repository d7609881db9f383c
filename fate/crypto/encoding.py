"""Fixed-point encoding between float64 arrays and signed integers, with explicit precision.

A value v is stored as round(v * 2^f) for an array-wide number of fractional
bits f; negative integers live in the top of [0, n) as n - |x|. Integers must
stay within +-max_int (about n/3): anything in the band between is an overflow,
reported as EncodingOverflowError and never decoded into a wrong number.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from fate.crypto.errors import EncodingOverflowError

# Encrypted values: absolute precision 2^-64 (about 5e-20); the cost of
# encryption does not depend on it.
DEFAULT_FRAC_BITS = 64
# Plaintext multipliers: significant bits kept relative to the array's largest
# magnitude. Exponent length drives the cost of x * [[c]] and X^T [[d]].
MULTIPLIER_BITS = 32
# int64 path limit: numpy rint of |x| < 2^62 converts exactly.
_INT64_SAFE = float(2**62)


def as_float_array(values: object) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise EncodingOverflowError(f"cannot encode a non-numeric value: {err}") from None
    if not np.all(np.isfinite(arr)):
        raise EncodingOverflowError("cannot encode NaN or infinity")
    return arr


def encode(values: np.ndarray, frac_bits: int) -> list[int]:
    """round(v * 2^frac_bits) per element (flattened), exactly, for finite float64 values."""
    if frac_bits < 0:
        raise ValueError("frac_bits must be >= 0")
    flat = as_float_array(values).ravel()
    if flat.size == 0:
        return []
    with np.errstate(over="ignore"):  # overflow to inf only routes a value to the big-integer path
        scaled = np.ldexp(flat, frac_bits)
    if np.all(np.abs(scaled) < _INT64_SAFE):
        # ldexp by a power of two is exact, and rint of a float below 2^62 fits int64 exactly.
        return [int(v) for v in np.rint(scaled).astype(np.int64).tolist()]
    return [_encode_big(float(v), frac_bits) for v in flat.tolist()]


def _encode_big(value: float, frac_bits: int) -> int:
    mantissa, exponent = math.frexp(value)
    integer = int(mantissa * (1 << 53))  # exact: 53-bit mantissa
    shift = exponent - 53 + frac_bits
    if shift >= 0:
        return integer << shift
    # Round half away from zero on the dropped bits.
    magnitude = (abs(integer) + (1 << (-shift - 1))) >> -shift
    return magnitude if integer >= 0 else -magnitude


def multiplier_frac_bits(values: np.ndarray, significant_bits: int = MULTIPLIER_BITS) -> int:
    """Fractional bits that keep `significant_bits` of the largest |value| (block floating point)."""
    arr = as_float_array(values)
    largest = float(np.max(np.abs(arr))) if arr.size else 0.0
    if largest == 0.0:
        return 0
    _, exponent = math.frexp(largest)
    return max(0, significant_bits - exponent)


def scalar_frac_bits(value: float) -> int:
    """Fractional bits that encode one float64 exactly (its whole 53-bit mantissa)."""
    if value == 0.0 or not math.isfinite(value):
        return 0
    mantissa, exponent = math.frexp(value)
    bits = 53 - exponent
    # Trailing zero bits of the mantissa need no room.
    integer = int(mantissa * (1 << 53))
    bits -= (integer & -integer).bit_length() - 1
    return max(0, bits)


def strip_common_twos(integers: list[int], frac_bits: int) -> tuple[list[int], int]:
    """Drop trailing zero bits shared by every integer (up to frac_bits): shorter exponents, same value."""
    combined = 0
    for x in integers:
        combined |= abs(x)
    if combined == 0:
        return integers, 0
    shift = min((combined & -combined).bit_length() - 1, frac_bits)
    if shift == 0:
        return integers, frac_bits
    return [x >> shift for x in integers], frac_bits - shift


def to_residues(integers: Sequence[int], n: int, max_int: int) -> list[int]:
    """Map signed integers into [0, n); EncodingOverflowError if one exceeds +-max_int."""
    out = []
    for x in integers:
        if x > max_int or -x > max_int:
            raise EncodingOverflowError(
                f"encoded value of {x.bit_length()} bits exceeds the plaintext range of this "
                f"{n.bit_length()}-bit key (max {max_int.bit_length()} bits); scale the data or use fewer "
                "fractional bits"
            )
        out.append(x if x >= 0 else n + x)
    return out


def from_residues(residues: Sequence[int], n: int, max_int: int) -> list[int]:
    out = []
    for r in residues:
        if r <= max_int:
            out.append(int(r))
        elif r >= n - max_int:
            out.append(int(r - n))
        else:
            raise EncodingOverflowError(
                "a decrypted value lies outside the plaintext range: a homomorphic result overflowed "
                "(or the ciphertext was tampered with)"
            )
    return out


def decode(integers: Sequence[int], frac_bits: int) -> np.ndarray:
    """Signed integers / 2^frac_bits as float64 (flat), correctly rounded."""
    if not integers:
        return np.zeros(0, dtype=np.float64)
    if max(abs(min(integers)), abs(max(integers))) < 2**63 and frac_bits < 1000:
        return np.ldexp(np.array(integers, dtype=np.int64).astype(np.float64), -frac_bits)
    scale = 1 << frac_bits
    return np.array([x / scale for x in integers], dtype=np.float64)
