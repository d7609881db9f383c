"""Exponentiation kernels: fixed-base window tables and Pippenger's bucket multi-exponentiation.

Both replace "one powmod per element" with a few modular multiplications per
element, which is where the speed of encryption and of X^T [[d]] comes from.
"""

from __future__ import annotations

from collections.abc import Sequence

import gmpy2
import numpy as np
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


def batch_invert(values: Sequence[mpz], modulus: mpz) -> list[mpz]:
    """Every value's inverse with one modular inversion and 3(n - 1) multiplications (Montgomery's trick).

    ZeroDivisionError if a value is not a unit (its product then is not either).
    """
    prefix: list[mpz] = []
    acc = mpz(1)
    for value in values:
        acc = acc * value % modulus
        prefix.append(acc)
    if not prefix:
        return []
    inverse = gmpy2.invert(acc, modulus)
    out = [mpz(0)] * len(prefix)
    for i in range(len(prefix) - 1, 0, -1):
        out[i] = inverse * prefix[i - 1] % modulus
        inverse = inverse * values[i] % modulus
    out[0] = inverse
    return out


def signed_window(rows: int, exp_bits: int) -> int:
    """The signed-digit window c minimising ceil((bits + 1) / c) * (rows + 2^c + c) multiplications per column."""
    best_c, best_cost = 1, -1
    for c in range(2, 21):
        windows = -(-(exp_bits + 1) // c)
        cost = windows * (rows + (1 << c) + c)
        if best_cost < 0 or cost < best_cost:
            best_c, best_cost = c, cost
    return best_c


def signed_digits(exponents: np.ndarray, window: int) -> list[np.ndarray]:
    """Signed base-2^c digits in [-2^(c-1), 2^(c-1)), lowest window first, for a whole int64 matrix at once."""
    rest = np.array(exponents, dtype=np.int64)
    full, half = np.int64(1 << window), np.int64(1 << (window - 1))
    out = []
    while rest.any():
        digit = rest & (full - 1)  # two's complement: the value mod 2^c, also for negative exponents
        digit = digit - full * (digit >= half)
        rest = (rest - digit) >> window  # exact: rest - digit is a multiple of 2^c
        out.append(digit)
    return out


def shared_multiexp(bases: Sequence[mpz], exponents: np.ndarray, modulus: mpz) -> list[mpz]:
    """prod_i bases[i] ** exponents[j, i] for every row j of a signed int64 matrix: X^T [[d]]'s kernel.

    Every column of X multiplies the same bases, so what depends on the bases alone is done once:
    their inverses (one inversion for all), and the signed-digit recoding of the whole matrix
    (numpy). Each output is then one signed-digit bucket pass per window, with 2^(c-1) buckets
    instead of the 2 x 2^c of separate positive and negative passes, and c chosen from the
    number of rows and the exponents' bits. Exact: same integers as the naive product.
    """
    matrix = np.asarray(exponents, dtype=np.int64)
    rows = len(bases)
    if matrix.ndim != 2 or matrix.shape[1] != rows:
        raise ValueError(f"exponents of shape {matrix.shape} do not match {rows} bases")
    if rows == 0 or not matrix.any():
        return [mpz(1)] * matrix.shape[0]
    exp_bits = int(np.max(np.abs(matrix))).bit_length()
    window = signed_window(rows, exp_bits)
    both = list(bases) + batch_invert(bases, modulus)
    digits = signed_digits(matrix, window)
    return [_column_pass([d[j] for d in digits], both, rows, window, modulus) for j in range(matrix.shape[0])]


def _column_pass(windows: Sequence[np.ndarray], both: Sequence[mpz], rows: int, c: int, modulus: mpz) -> mpz:
    result: mpz | None = None
    for digits in reversed(windows):
        if result is not None:
            for _ in range(c):
                result = result * result % modulus
        nonzero = np.flatnonzero(digits)
        if not nonzero.size:
            continue
        picked = digits[nonzero]
        # A negative digit takes the inverse base (stored after the bases) into bucket |digit|.
        sources = (nonzero + rows * (picked < 0)).tolist()
        buckets: list[mpz | None] = [None] * ((1 << (c - 1)) + 1)
        for slot, src in zip(np.abs(picked).tolist(), sources, strict=True):
            held = buckets[slot]
            buckets[slot] = both[src] if held is None else held * both[src] % modulus
        running: mpz | None = None
        total: mpz | None = None
        for slot in range(len(buckets) - 1, 0, -1):
            bucket = buckets[slot]
            if bucket is not None:
                running = bucket if running is None else running * bucket % modulus
            if running is not None:
                total = running if total is None else total * running % modulus
        if total is not None:
            result = total if result is None else result * total % modulus
    return mpz(1) if result is None else result
