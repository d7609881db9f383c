"""Offline/online Paillier: DJN obfuscators h_s^alpha computed ahead of need, each handed out exactly once.

An obfuscator does not depend on the data, so a party can compute it while it waits for
its peers; encryption and re-randomization then cost one modular multiplication online.
The pool belongs to one PublicKey object (it can never serve another key's factors), is
bounded (OBFUSCATOR_BUDGET_BYTES), and hands a factor out by popping it from a deque
under a lock, so no factor is ever given twice, from any thread. A forked child would
share its parent's factors, so every pool is emptied in the child (os.register_at_fork)
and also whenever it notices that its process id changed; forkserver and spawn workers
never receive one (PublicKey pickles as its modulus and h_s only).
"""

from __future__ import annotations

import os
import threading
import weakref
from collections import deque
from collections.abc import Callable

from gmpy2 import mpz

# Memory one pool may hold per key and process: ~131,000 factors for a 2048-bit key.
OBFUSCATOR_BUDGET_BYTES = 64 * 2**20
# Factors computed between two looks at the lock (and at whether the pool was dropped).
FILL_BATCH = 16

_LIVE: weakref.WeakSet[ObfuscatorPool] = weakref.WeakSet()


def capacity_for(n_bits: int) -> int:
    """How many factors (each about as long as n^2) fit in the budget."""
    return max(FILL_BATCH, OBFUSCATOR_BUDGET_BYTES // (2 * ((n_bits + 7) // 8)))


class ObfuscatorPool:
    """Fresh h_s^alpha factors for one key: `take` pops precomputed ones first and makes the rest online."""

    def __init__(self, make: Callable[[], mpz], capacity: int) -> None:
        if capacity < 1:
            raise ValueError("an obfuscator pool needs room for at least one factor")
        self._make = make
        self.capacity = capacity
        self._ready: deque[mpz] = deque()
        self._lock = threading.Lock()
        self._owner = os.getpid()
        self._target = 0
        self._filler: threading.Thread | None = None
        self._generation = 0
        self._make_batch: Callable[[int], list[mpz]] | None = None
        self.batch = FILL_BATCH
        # Statistics for tests and benchmarks: what was precomputed, served from the pool, made online.
        self.produced = 0
        self.served_offline = 0
        self.served_online = 0
        _LIVE.add(self)

    def set_maker(self, make: Callable[[], mpz]) -> None:
        """Make factors another way from now on (the key's owner has a faster, CRT-based one); same values."""
        with self._lock:
            self._make = make

    def ready(self) -> int:
        with self._lock:
            self._check_process()
            return len(self._ready)

    def take(self, count: int) -> list[mpz]:
        """`count` factors no one else has had or will have."""
        with self._lock:
            self._check_process()
            offline = min(count, len(self._ready))
            out = [self._ready.popleft() for _ in range(offline)]
            self.served_offline += offline
            self.served_online += count - offline
        make = self._make
        out.extend(make() for _ in range(count - offline))
        return out

    def fill(self, count: int, make_batch: Callable[[int], list[mpz]] | None = None) -> int:
        """Precompute until `count` factors (at most the capacity) are ready, in this thread; returns how many were made.

        `make_batch(k)` makes k factors elsewhere (e.g. in a process pool) instead of one by one here.
        """
        made = 0
        generation = self._generation
        while True:
            with self._lock:
                self._check_process()
                missing = min(count, self.capacity) - len(self._ready)
                if missing <= 0 or generation != self._generation:
                    return made
            if make_batch is not None:
                batch = make_batch(min(missing, self.batch))
            else:
                make = self._make
                batch = [make() for _ in range(min(missing, FILL_BATCH))]
            with self._lock:
                if generation != self._generation or os.getpid() != self._owner:
                    return made  # dropped (or forked) meanwhile: these factors must not be served
                self._ready.extend(batch)
                self.produced += len(batch)
            made += len(batch)

    def fill_async(self, count: int, make_batch: Callable[[int], list[mpz]] | None = None, batch: int = FILL_BATCH) -> None:
        """Start (or retarget) a background thread that precomputes up to `count` ready factors, then exits."""
        with self._lock:
            self._check_process()
            self._target = max(self._target, min(count, self.capacity))
            self._make_batch, self.batch = make_batch, batch
            if self._filler is not None:
                return  # the running thread reads the new target before it exits
            self._filler = threading.Thread(target=self._run, name="obfuscator-fill", daemon=True)
            self._filler.start()

    def _run(self) -> None:
        while True:
            target = self._target
            self.fill(target, self._make_batch)
            with self._lock:
                if self._target <= target or len(self._ready) >= self._target or os.getpid() != self._owner:
                    self._target = 0
                    self._filler = None
                    return

    def wait(self, timeout: float | None = None) -> None:
        """Block until a background fill has finished (tests, and a benchmark's warm-up)."""
        with self._lock:
            filler = self._filler
        if filler is not None:
            filler.join(timeout)

    def drop(self) -> None:
        """Forget every precomputed factor (key rotation, or a process that must not reuse them)."""
        with self._lock:
            self._drop_locked()

    def _drop_locked(self) -> None:
        self._ready.clear()
        self._target = 0
        self._generation += 1

    def _check_process(self) -> None:
        # Called with the lock held: a forked child must never hand out its parent's factors.
        if os.getpid() != self._owner:
            self._owner = os.getpid()
            self._filler = None
            self._drop_locked()

    def _after_fork_in_child(self) -> None:
        # The parent's lock may have been held by another thread at the fork: replace it.
        self._lock = threading.Lock()
        self._owner = os.getpid()
        self._filler = None
        self._drop_locked()


def _forget_all_in_child() -> None:
    for pool in list(_LIVE):
        pool._after_fork_in_child()


os.register_at_fork(after_in_child=_forget_all_in_child)
