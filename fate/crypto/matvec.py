"""X^T [[d]]: a plaintext matrix times a ciphertext vector.

Every column multiplies the same [[d]], so the kernel (fate.crypto.multiexp.shared_multiexp)
inverts the bases once and recodes all exponents at once; rows are split over the pool's
processes, each computing every column for its rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from gmpy2 import mpz

from fate.crypto import encoding
from fate.crypto.array import EncryptedArray
from fate.crypto.errors import ShapeError
from fate.crypto.multiexp import shared_multiexp, signed_multiexp
from fate.crypto.pool import CryptoPool, choose, split, task_matvec

# Exponents below 2^62 go through numpy's int64 recoding; shared inverses pay from a few columns on.
_INT64_EXPONENT_BITS = 62
MIN_SHARED_COLUMNS = 2


def task_shared_matvec(nsquare: mpz, bases: Sequence[mpz], exponents: np.ndarray) -> list[mpz]:
    """One process's rows of X^T [[d]] for every column (a pool task: module-level, so it pickles)."""
    return shared_multiexp(bases, exponents, nsquare)


def _shared_ok(columns: Sequence[Sequence[int]]) -> bool:
    """Whether the shared-bases kernel applies: enough columns, exponents that fit numpy's int64."""
    widest = max((abs(v) for col in columns for v in col), default=0)
    return len(columns) >= MIN_SHARED_COLUMNS and widest.bit_length() <= _INT64_EXPONENT_BITS


def matvec_t(
    matrix: Any, encrypted: EncryptedArray, frac_bits: int | None = None, pool: CryptoPool | None = None
) -> EncryptedArray:
    """X^T [[d]] for a plaintext X of shape (n, m) and [[d]] of shape (n,): one multi-exponentiation per column.

    frac_bits defaults to MULTIPLIER_BITS significant bits of max |X|.
    """
    x = encoding.as_float_array(matrix)
    if x.ndim != 2 or encrypted.ndim != 1 or x.shape[0] != encrypted.size:
        raise ShapeError(f"X^T [[d]] needs X of shape (n, m) and d of shape (n,), got {x.shape} and {encrypted.shape}")
    rows, cols = x.shape
    frac = encoding.multiplier_frac_bits(x) if frac_bits is None else frac_bits
    ints, frac = encoding.strip_common_twos(encoding.encode(x, frac), frac)
    columns = [ints[j::cols] for j in range(cols)]
    bound = None
    if encrypted.bound is not None:
        bound = encrypted.bound * max((sum(abs(v) for v in col) for col in columns), default=0)
    key = encrypted.public_key
    EncryptedArray(key, [], (0,), 0, bound)
    n2 = key.nsquare
    chosen = choose(pool, rows)
    matrix = np.array(columns, dtype=np.int64) if _shared_ok(columns) else None
    if chosen is None:
        if matrix is not None:
            cts = _shared_or_plain(encrypted.ciphertexts, matrix, columns, n2)
        else:
            cts = [signed_multiexp(encrypted.ciphertexts, col, n2) for col in columns]
    elif matrix is not None:
        ranges = [s for s in split(range(rows), chosen.processes) if isinstance(s, range)]
        parts = [(n2, encrypted.ciphertexts[s.start : s.stop], matrix[:, s.start : s.stop]) for s in ranges]
        try:
            partials = chosen.map(task_shared_matvec, parts)
        except ZeroDivisionError:  # a non-unit among the bases: no inverses, take the unsigned path
            partials = chosen.map(task_matvec, [(n2, b, [list(map(int, r)) for r in m]) for n2, b, m in parts])
        cts = column_products(partials, cols, n2)
    else:
        # Split rows, not columns: each process handles every column for its rows,
        # which balances any number of columns and halves what each process receives.
        row_slices = split(range(rows), chosen.processes)
        chunks = [
            (n2, encrypted.ciphertexts[s.start : s.stop], [col[s.start : s.stop] for col in columns])
            for s in row_slices
            if isinstance(s, range)
        ]
        cts = column_products(chosen.map(task_matvec, chunks), cols, n2)
    return EncryptedArray(key, cts, (cols,), encrypted.frac_bits + frac, bound)


def _shared_or_plain(bases: Sequence[mpz], matrix: np.ndarray, columns: Sequence[Sequence[int]], n2: mpz) -> list[mpz]:
    try:
        return shared_multiexp(bases, matrix, n2)
    except ZeroDivisionError:  # a non-unit among the bases: no inverses, take the unsigned path
        return [signed_multiexp(bases, col, n2) for col in columns]


def column_products(partials: Sequence[Sequence[mpz]], cols: int, n2: mpz) -> list[mpz]:
    """Column j of X^T[[d]] from workers' partial results over disjoint rows: their product mod n^2."""
    return [_product([part[j] for part in partials], n2) for j in range(cols)]


def _product(values: Sequence[mpz], n2: mpz) -> mpz:
    acc = mpz(1)
    for value in values:
        acc = acc * value % n2
    return acc
