"""Chunk tasks the backends add to fate.crypto.pool's: PSI blinding and a worker's table count.

Module-level functions, so a process pool can pickle them by name and a Ray actor can call them.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from fate.crypto.pool import _worker_public

INVALID = b""  # what blinding returns for a point the curve refuses (a low-order point)


@functools.lru_cache(maxsize=4)
def _scalar(scalar: bytes) -> X25519PrivateKey:
    return X25519PrivateKey.from_private_bytes(scalar)


def task_blind(scalar: bytes, points: Sequence[bytes]) -> list[bytes]:
    """Each point times the scalar; INVALID where the result would be the all-zero point."""
    key, load = _scalar(scalar), X25519PublicKey.from_public_bytes
    out = []
    for point in points:
        try:
            out.append(key.exchange(load(point)))
        except ValueError:
            out.append(INVALID)
    return out


def task_key_tables() -> tuple[int, int]:
    """(this process's id, public-key tables it has built): 1 per key when state is reused."""
    return os.getpid(), _worker_public.cache_info().misses
