"""Big integers as packed fixed-width byte blocks: what crosses between a driver and its Ray actors.

A list of n^2-sized ciphertexts pickles as one Python object per integer; a (count, width) uint8
array is one contiguous buffer that Ray's object store shares without copying it per reader.
Width is the byte length of the modulus, little-endian, so every value of a block has one size.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from gmpy2 import mpz


def width(modulus: int) -> int:
    return (int(modulus).bit_length() + 7) // 8


def pack(values: Sequence[int], size: int) -> np.ndarray:
    """Non-negative integers below 2^(8*size) as a (len, size) uint8 array."""
    try:
        data = b"".join(v.to_bytes(size, "little") for v in values)
    except OverflowError:
        raise ValueError(f"a value is negative or wider than {size} bytes; it is no residue or ciphertext "
                         "of this key") from None
    return np.frombuffer(data, dtype=np.uint8).reshape(len(values), size)


def unpack(block: np.ndarray) -> list[mpz]:
    rows, size = block.shape
    data = block.tobytes()
    return [mpz.from_bytes(data[i * size : (i + 1) * size], "little") for i in range(rows)]


def pack_cells(cells: Sequence[mpz | None], size: int) -> tuple[np.ndarray, np.ndarray]:
    """Histogram cells (None for an empty one): a block of the present ones and a presence mask."""
    present = np.array([c is not None for c in cells], dtype=bool)
    return pack([c for c in cells if c is not None], size), present


def unpack_cells(block: np.ndarray, present: np.ndarray) -> list[mpz | None]:
    values = iter(unpack(block))
    return [next(values) if flag else None for flag in present.tolist()]
