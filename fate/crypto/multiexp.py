"""Exponentiation kernels: fixed-base window tables and Pippenger's bucket multi-exponentiation.

Both replace "one powmod per element" with a few modular multiplications per
element, which is where the speed of encryption and of X^T [[d]] comes from.
"""

from __future__ import annotations

from collections.abc import Sequence

import gmpy2
from gmpy2 import mpz

DEFAULT_WINDOW = 8


class FixedBaseTable:
    """base^e mod m for many e < 2^exp_bits, with base^(j * 2^(w*i)) precomputed.

    One multiplication per w-bit window of e and no squarings; with w = 8 and
    1024-bit exponents that is at most 128 multiplications per power, against
    ~1200 for a plain powmod. The table costs 2^w entries per window.
    """

    def __init__(self, base: int, modulus: int, exp_bits: int, window: int = DEFAULT_WINDOW) -> None:
        self.modulus = mpz(modulus)
        self.exp_bits = exp_bits
        self.window = window
        self._mask = (1 << window) - 1
        rows: list[list[mpz]] = []
        step = mpz(base) % self.modulus
        for _ in range((exp_bits + window - 1) // window):
            row = [mpz(1), step]
            for _ in range(2, 1 << window):
                row.append(row[-1] * step % self.modulus)
            rows.append(row)
            step = row[-1] * step % self.modulus
        self._rows = rows

    def pow(self, exponent: int) -> mpz:
        if exponent < 0 or exponent.bit_length() > self.exp_bits:
            raise ValueError(f"exponent outside the table's range of {self.exp_bits} bits")
        acc = mpz(1)
        mask, window, modulus = self._mask, self.window, self.modulus
        for row in self._rows:
            digit = exponent & mask
            if digit:
                acc = acc * row[digit] % modulus
            exponent >>= window
            if not exponent:
                break
        return acc


def _bucket_window(count: int, exp_bits: int) -> int:
    """The window c minimising windows * (count + 2^(c+1)) multiplications."""
    best_c, best_cost = 1, None
    for c in range(1, 17):
        windows = (exp_bits + c - 1) // c
        cost = windows * (count + (2 << c)) + windows * c
        if best_cost is None or cost < best_cost:
            best_c, best_cost = c, cost
    return best_c


def multiexp(bases: Sequence[mpz], exponents: Sequence[int], modulus: mpz) -> mpz:
    """prod(bases[i] ** exponents[i]) mod modulus for non-negative exponents (Pippenger).

    Per c-bit window each base is multiplied into the bucket of its digit once;
    buckets are then combined as sum(j * B_j) with two running products, so the
    cost is about windows * (len(bases) + 2^(c+1)) multiplications.
    """
    pairs = [(b, e) for b, e in zip(bases, exponents, strict=True) if e]
    if not pairs:
        return mpz(1)
    exp_bits = max(e for _, e in pairs).bit_length()
    c = _bucket_window(len(pairs), exp_bits)
    mask = (1 << c) - 1
    result = mpz(1)
    for shift in range(((exp_bits + c - 1) // c - 1) * c, -1, -c):
        if result != 1:
            for _ in range(c):
                result = result * result % modulus
        buckets: list[mpz | None] = [None] * (mask + 1)
        for base, exponent in pairs:
            digit = (exponent >> shift) & mask
            if digit:
                held = buckets[digit]
                buckets[digit] = base if held is None else held * base % modulus
        running: mpz | None = None
        total: mpz | None = None
        for digit in range(mask, 0, -1):
            bucket = buckets[digit]
            if bucket is not None:
                running = bucket if running is None else running * bucket % modulus
            if running is not None:
                total = running if total is None else total * running % modulus
        if total is not None:
            result = result * total % modulus
    return result


def signed_multiexp(bases: Sequence[mpz], exponents: Sequence[int], modulus: mpz) -> mpz:
    """prod(bases[i] ** exponents[i]) for exponents of any sign, with a single inversion.

    Negative exponents are gathered into their own product, inverted once at the
    end, so no base is ever raised to a modulus-sized exponent.
    """
    positive = [(b, e) for b, e in zip(bases, exponents, strict=True) if e > 0]
    negative = [(b, -e) for b, e in zip(bases, exponents, strict=True) if e < 0]
    result = multiexp([b for b, _ in positive], [e for _, e in positive], modulus)
    if negative:
        denominator = multiexp([b for b, _ in negative], [e for _, e in negative], modulus)
        result = result * gmpy2.invert(denominator, modulus) % modulus
    return result
