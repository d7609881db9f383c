"""X^T [[d]]: a plaintext matrix times a ciphertext vector, by multi-exponentiation per column."""

from __future__ import annotations

from typing import Any

from gmpy2 import mpz

from fate.crypto import encoding
from fate.crypto.array import EncryptedArray
from fate.crypto.errors import ShapeError
from fate.crypto.multiexp import signed_multiexp
from fate.crypto.pool import CryptoPool, choose, split, task_matvec


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
    if chosen is None:
        cts = [signed_multiexp(encrypted.ciphertexts, col, n2) for col in columns]
    else:
        # Split rows, not columns: each process handles every column for its rows,
        # which balances any number of columns and halves what each process receives.
        row_slices = split(range(rows), chosen.processes)
        chunks = [
            (n2, encrypted.ciphertexts[s.start : s.stop], [col[s.start : s.stop] for col in columns])
            for s in row_slices
            if isinstance(s, range)
        ]
        partials = chosen.map(task_matvec, chunks)
        cts = []
        for j in range(cols):
            acc = mpz(1)
            for part in partials:
                acc = acc * part[j] % n2
            cts.append(acc)
    return EncryptedArray(key, cts, (cols,), encrypted.frac_bits + frac, bound)
