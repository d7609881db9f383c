"""A reusable process pool for big ciphertext arrays, and the chunk tasks it runs.

Workers are started by a fork server (never by forking a threaded service) and
keep per-key state (fixed-base tables, CRT constants) between calls, so a pool
created once per worker process pays the table set-up once per key.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

import gmpy2
from gmpy2 import mpz

from fate.crypto.keys import PrivateKey, PublicKey
from fate.crypto.multiexp import signed_multiexp

# Below this many elements the inter-process copy costs more than it saves.
MIN_PARALLEL = 64

T = TypeVar("T")


class CryptoPool:
    """Processes that run chunks of Paillier work; reuse one across calls (it is cheap to keep)."""

    def __init__(self, processes: int | None = None, start_method: str | None = None) -> None:
        """start_method defaults to forkserver: safe in threaded services, but like spawn it
        needs an importable __main__ (a script with a main guard, or python -m)."""
        self.processes = processes or os.cpu_count() or 1
        if start_method is None:
            start_method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
        method = start_method
        self._executor = ProcessPoolExecutor(self.processes, mp_context=multiprocessing.get_context(method))

    def map(self, fn: Callable[..., T], chunks: Sequence[tuple[Any, ...]]) -> list[T]:
        futures = [self._executor.submit(fn, *args) for args in chunks]
        return [f.result() for f in futures]

    def warm_up(self, public_key: PublicKey) -> None:
        """Start every worker and build its table for this key now rather than inside a timed call."""
        self.map(_warm, [(int(public_key.n), public_key_hs(public_key))] * (self.processes * 2))

    def worker_pids(self) -> list[int]:
        """Process ids of the live workers (for monitoring their CPU and memory)."""
        return sorted(self._executor._processes or {})

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> CryptoPool:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


_default: CryptoPool | None = None


def set_default_pool(pool: CryptoPool | None) -> None:
    """Pool used by operators (+, *) and by calls that pass no pool; None runs in-process."""
    global _default
    _default = pool


def choose(pool: CryptoPool | None, size: int) -> CryptoPool | None:
    chosen = pool if pool is not None else _default
    if chosen is None or chosen.processes < 2 or size < MIN_PARALLEL:
        return None
    return chosen


def split(items: Sequence[T], parts: int) -> list[Sequence[T]]:
    """Contiguous, nearly equal slices, in order."""
    parts = max(1, min(parts, len(items)))
    size, extra = divmod(len(items), parts)
    out, start = [], 0
    for i in range(parts):
        end = start + size + (1 if i < extra else 0)
        out.append(items[start:end])
        start = end
    return out


def public_key_hs(public_key: PublicKey) -> int:
    # Workers must use the parent's h_s so results match the parent's own key object.
    return int(public_key._table.pow(1))


@functools.lru_cache(maxsize=4)
def _worker_public(n: int, hs: int) -> PublicKey:
    return PublicKey(mpz(n), mpz(hs))


@functools.lru_cache(maxsize=8)
def _worker_private(n: int, p: int, q: int) -> PrivateKey:
    return PrivateKey(PublicKey(mpz(n)), mpz(p), mpz(q))


def _warm(n: int, hs: int) -> None:
    _worker_public(n, hs).obfuscator()


def task_encrypt(n: int, hs: int, residues: Sequence[int]) -> list[mpz]:
    return _worker_public(n, hs).raw_encrypt(residues)


def task_rerandomize(n: int, hs: int, ciphertexts: Sequence[mpz]) -> list[mpz]:
    return _worker_public(n, hs).raw_rerandomize(ciphertexts)


def task_decrypt(n: int, p: int, q: int, ciphertexts: Sequence[mpz]) -> list[mpz]:
    return _worker_private(n, p, q).raw_decrypt(ciphertexts)


def task_scale(nsquare: mpz, ciphertexts: Sequence[mpz], exponents: Sequence[int]) -> list[mpz]:
    """c_i ** e_i; gmpy2 inverts c_i itself for a negative e_i, so the exponent stays short."""
    return [gmpy2.powmod(c, e, nsquare) for c, e in zip(ciphertexts, exponents, strict=True)]


def task_matvec(nsquare: mpz, bases: Sequence[mpz], columns: Sequence[Sequence[int]]) -> list[mpz]:
    return [signed_multiexp(bases, column, nsquare) for column in columns]


def run_chunked(
    pool: CryptoPool | None,
    local: Callable[..., list[T]],
    task: Callable[..., list[T]],
    head: tuple[Any, ...],
    items: Sequence[Any],
    *more: Sequence[Any],
) -> list[T]:
    """local(items, *more) in-process, or task(*head, chunk...) across the pool when it pays."""
    chosen = choose(pool, len(items))
    if chosen is None:
        return local(items, *more)
    # Several chunks per process smooth out load from other programs on the machine.
    parts = chosen.processes * 2
    sliced = [split(seq, parts) for seq in (items, *more)]
    results = chosen.map(task, [(*head, *group) for group in zip(*sliced, strict=True)])
    return [x for chunk in results for x in chunk]
