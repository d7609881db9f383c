"""Obfuscators made by the process pool's workers, in batches small enough not to delay real work.

A background fill (fate.crypto.obfuscators) calls `make_batch(k)` repeatedly; each call is one
task per worker, so a matvec or decryption submitted meanwhile waits for at most one batch.
Each worker draws its own alpha from `secrets`; the factors come back once and are queued once.
"""

from __future__ import annotations

from collections.abc import Callable

from gmpy2 import mpz

from fate.crypto.keys import PublicKey
from fate.crypto.pool import CryptoPool, _worker_public, choose, public_key_hs

# Factors per task: ~10 ms of work at 2048 bits on this machine, the most a real task may wait.
PER_TASK = 8


def task_obfuscators(n: int, hs: int, count: int) -> list[mpz]:
    key = _worker_public(n, hs)  # the worker's cached key and table for (n, h_s)
    return [key.obfuscator() for _ in range(count)]


def worker_batches(key: PublicKey, pool: CryptoPool | None) -> tuple[Callable[[int], list[mpz]] | None, int]:
    """A batch maker on the pool's workers and its batch size, or (None, default) to fill in-process."""
    chosen = choose(pool, 1 << 30)  # the size test is ours: any fill is worth spreading
    if chosen is None:
        return None, 16
    head = (int(key.n), public_key_hs(key))
    workers = chosen.processes

    def make_batch(count: int) -> list[mpz]:
        sizes = [count // workers + (1 if i < count % workers else 0) for i in range(workers)]
        parts = chosen.map(task_obfuscators, [(*head, size) for size in sizes if size])
        return [f for part in parts for f in part]

    return make_batch, PER_TASK * workers
