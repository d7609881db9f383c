"""What runs inside each Ray actor: the same kernels as the local pool, on packed byte blocks.

Per-key state lives in this process's caches (fate.crypto.pool's per-key tables, CRT constants,
the PSI scalar), so an actor builds a key's fixed-base table once and keeps it for the job.
No `import ray` here: Ray wraps this class with ray.remote at run time (fate.compute.ray).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from gmpy2 import mpz

from fate.compute.blocks import pack, pack_cells, unpack, width
from fate.compute.tasks import INVALID, task_blind, task_key_tables
from fate.crypto.multiexp import signed_multiexp
from fate.crypto.pool import _warm, task_decrypt, task_encrypt, task_rerandomize
from fate.ml.he_pack import task_fold
from fate.ml.sbt_hist import task_hist

POINT = 32


class CryptoWorker:
    """One long-lived actor; every method takes and returns uint8 blocks, never lists of big integers."""

    def pid(self) -> int:
        return os.getpid()

    def key_tables(self) -> int:
        return task_key_tables()[1]

    def warm(self, n: int, hs: int) -> None:
        _warm(n, hs)

    def encrypt(self, n: int, hs: int, residues: np.ndarray) -> np.ndarray:
        return pack(task_encrypt(n, hs, unpack(residues)), width(n * n))

    def rerandomize(self, n: int, hs: int, ciphertexts: np.ndarray) -> np.ndarray:
        return pack(task_rerandomize(n, hs, unpack(ciphertexts)), width(n * n))

    def decrypt(self, n: int, p: int, q: int, ciphertexts: np.ndarray) -> np.ndarray:
        return pack(task_decrypt(n, p, q, unpack(ciphertexts)), width(n))

    def matvec(self, nsquare: int, ciphertexts: np.ndarray, columns: np.ndarray) -> np.ndarray:
        """prod_i c_i^x_ij per column j of the (rows, cols) plaintext multipliers."""
        bases, n2 = unpack(ciphertexts), mpz(nsquare)
        return pack([signed_multiexp(bases, columns[:, j].tolist(), n2) for j in range(columns.shape[1])], width(n2))

    def blind(self, scalar: bytes, points: np.ndarray) -> np.ndarray:
        data = points.tobytes()
        out = task_blind(scalar, [data[i : i + POINT] for i in range(0, len(data), POINT)])
        # An all-zero row marks a refused point: a real X25519 result is never all zero.
        return np.frombuffer(b"".join(p if p != INVALID else bytes(POINT) for p in out),
                             dtype=np.uint8).reshape(len(out), POINT)

    def hist(self, nsquare: int, slots: int, n_nodes: int, ciphertexts: np.ndarray, bins: np.ndarray,
             nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n2 = mpz(nsquare)
        return pack_cells(task_hist(n2, slots, n_nodes, unpack(ciphertexts), bins, nodes), width(n2))

    def fold(self, nsquare: int, slot_bits: int, ciphertexts: np.ndarray, sizes: Sequence[int]) -> np.ndarray:
        n2, flat = mpz(nsquare), unpack(ciphertexts)
        groups, at = [], 0
        for size in sizes:
            groups.append(flat[at : at + size])
            at += size
        return pack(task_fold(n2, slot_bits, groups), width(n2))
