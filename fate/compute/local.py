"""The default backend: today's CryptoPool (forkserver processes, per-key tables kept warm) behind
the contract. One worker runs everything in the caller's process, as before there was a pool.

A pool whose process dies (killed, out of memory) is broken for good in concurrent.futures; the
backend replaces it once and re-runs the call on fresh processes, and names the dead process in a
ComputeError if the fresh pool breaks too.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures.process import BrokenProcessPool
from types import TracebackType
from typing import Any, TypeVar

import numpy as np
from gmpy2 import mpz

from fate.compute.contract import Cell, ComputeError
from fate.compute.tasks import INVALID, task_blind, task_key_tables
from fate.crypto.array import EncryptedArray
from fate.crypto.keys import PrivateKey, PublicKey
from fate.crypto.matvec import matvec_t
from fate.crypto.pool import (
    CryptoPool,
    _worker_public,
    choose,
    public_key_hs,
    run_chunked,
    task_decrypt,
    task_encrypt,
    task_rerandomize,
)
from fate.ml.he_pack import task_fold
from fate.ml.sbt_hist import split_by_features, task_hist

T = TypeVar("T")
NAME = "local"


class _RestartingPool(CryptoPool):
    """A CryptoPool that replaces its executor once when a worker process died under a call."""

    def map(self, fn: Callable[..., T], chunks: Sequence[tuple[Any, ...]]) -> list[T]:
        before = self.worker_pids()
        try:
            return super().map(fn, chunks)
        except BrokenProcessPool:
            dead = [pid for pid in before if not _alive(pid)]
            self._restart()
        try:
            return super().map(fn, chunks)
        except BrokenProcessPool:
            dead += [pid for pid in self.worker_pids() if not _alive(pid)]
            self._restart()
            who = ", ".join(f"pid {pid}" for pid in dead) or "a pool process"
            raise ComputeError(NAME, f"{fn.__name__} failed twice: worker processes died under it", who) from None

    def _restart(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._executor = CryptoPool(self.processes)._executor


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    # A killed child stays a zombie until the executor reaps it.
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class LocalBackend:
    name = NAME

    def __init__(self, workers: int | None = None) -> None:
        count = workers or os.cpu_count() or 1
        if count < 1:
            raise ComputeError(NAME, f"workers must be >= 1, got {count}")
        self._workers = count
        # One worker: no pool, every call in-process (what the engine did before backends).
        self.pool: CryptoPool | None = _RestartingPool(count) if count > 1 else None

    @property
    def workers(self) -> int:
        return self._workers

    def worker_pids(self) -> list[int]:
        if self.pool is None:
            return [os.getpid()]
        if len(self.pool.worker_pids()) < self._workers:  # processes start on first use; start them now
            self.pool.map(task_key_tables, [()] * (self._workers * 2))
        return self.pool.worker_pids()

    def warm_up(self, public_key: PublicKey) -> None:
        if self.pool is not None:
            self.pool.warm_up(public_key)
        else:
            _worker_public(int(public_key.n), public_key_hs(public_key)).obfuscator()

    def encrypt(self, public_key: PublicKey, residues: Sequence[int]) -> list[mpz]:
        head = (int(public_key.n), public_key_hs(public_key))
        return run_chunked(self.pool, public_key.raw_encrypt, task_encrypt, head, list(residues))

    def rerandomize(self, public_key: PublicKey, ciphertexts: Sequence[mpz]) -> list[mpz]:
        head = (int(public_key.n), public_key_hs(public_key))
        return run_chunked(self.pool, public_key.raw_rerandomize, task_rerandomize, head, list(ciphertexts))

    def decrypt(self, private_key: PrivateKey, ciphertexts: Sequence[mpz]) -> list[mpz]:
        head = (int(private_key.public_key.n), int(private_key.p), int(private_key.q))
        return run_chunked(self.pool, private_key.raw_decrypt, task_decrypt, head, list(ciphertexts))

    def matvec_t(self, matrix: Any, encrypted: EncryptedArray, frac_bits: int | None = None) -> EncryptedArray:
        return matvec_t(matrix, encrypted, frac_bits=frac_bits, pool=self.pool)

    def blind(self, scalar: bytes, points: Sequence[bytes]) -> list[bytes]:
        return run_chunked(self.pool, lambda ps: task_blind(scalar, ps), task_blind, (scalar,), list(points))

    def histogram(self, nsquare: mpz, slots: int, n_nodes: int, ciphertexts: Sequence[mpz], bins: np.ndarray,
                  nodes: np.ndarray) -> list[Cell]:
        chosen = choose(self.pool, len(ciphertexts))
        if chosen is None:
            return task_hist(nsquare, slots, n_nodes, ciphertexts, bins, nodes)
        pool = chosen
        return split_by_features(lambda tasks: pool.map(task_hist, tasks), pool.processes, nsquare, slots, n_nodes,
                                 ciphertexts, bins, nodes)

    def fold(self, nsquare: mpz, slot_bits: int, groups: Sequence[Sequence[mpz]]) -> list[mpz]:
        return run_chunked(self.pool, lambda gs: task_fold(nsquare, slot_bits, gs), task_fold, (nsquare, slot_bits),
                           list(groups))

    def key_tables(self) -> dict[str, int]:
        if self.pool is None:
            return {f"pid {os.getpid()}": task_key_tables()[1]}
        # A pool cannot address one process; ask often enough that every idle one answers.
        seen = self.pool.map(task_key_tables, [()] * (self._workers * 4))
        return {f"pid {pid}": tables for pid, tables in sorted(dict(seen).items())}

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool = None

    def __enter__(self) -> LocalBackend:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


__all__ = ["INVALID", "LocalBackend"]
