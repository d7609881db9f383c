"""The compute-backend contract: chunks of Paillier, PSI and histogram work over workers that keep
per-key state warm.

A backend is a party's own pool of workers (local processes, or actors on the party's own Ray
cluster). Every operation returns exactly what the in-process computation returns (the shared
suite in tests/compute checks it on each implementation); randomized operations (encryption,
re-randomization) return ciphertexts that decrypt to the same plaintexts. Work below
`MIN_PARALLEL` elements runs in the caller's process: shipping it costs more than it saves.

Workers receive the party's own keys (a private key's factors for decryption, a PSI scalar for
blinding): a backend must never be reachable by another party (docs/compute.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Any, Optional, Protocol, runtime_checkable

import numpy as np
from gmpy2 import mpz

from fate.crypto.array import EncryptedArray
from fate.crypto.keys import PrivateKey, PublicKey

# A histogram cell: the product of its rows' ciphertexts, or None for a cell no row fell into.
Cell = Optional["mpz"]

ENGINES = ("local", "ray")


class ComputeError(Exception):
    """A backend could not finish a piece of work; the message names the backend and the worker."""

    def __init__(self, backend: str, message: str, worker: str = "") -> None:
        self.backend, self.worker = backend, worker
        where = f"{backend} compute backend" + (f", worker {worker}" if worker else "")
        super().__init__(f"{where}: {message}")


@runtime_checkable
class ComputeBackend(Protocol):
    """What PSI, hetero LR and SecureBoost ask of a party's compute."""

    name: str  # "local" or "ray"

    @property
    def workers(self) -> int:
        """How many workers share the work (processes or actors)."""

    def warm_up(self, public_key: PublicKey) -> None:
        """Start every worker and build its fixed-base table for this key now, not inside a timed call."""

    def encrypt(self, public_key: PublicKey, residues: Sequence[int]) -> list[mpz]:
        """Fresh encryptions of plaintexts already reduced to [0, n) (PublicKey.raw_encrypt)."""

    def rerandomize(self, public_key: PublicKey, ciphertexts: Sequence[mpz]) -> list[mpz]:
        """Same plaintexts, fresh randomness (PublicKey.raw_rerandomize)."""

    def decrypt(self, private_key: PrivateKey, ciphertexts: Sequence[mpz]) -> list[mpz]:
        """Residues in [0, n) (PrivateKey.raw_decrypt)."""

    def matvec_t(self, matrix: Any, encrypted: EncryptedArray, frac_bits: int | None = None) -> EncryptedArray:
        """X^T [[d]], ciphertext for ciphertext equal to fate.crypto.matvec.matvec_t."""

    def blind(self, scalar: bytes, points: Sequence[bytes]) -> list[bytes]:
        """PSI: each 32-byte X25519 point multiplied by the secret 32-byte scalar."""

    def histogram(self, nsquare: mpz, slots: int, n_nodes: int, ciphertexts: Sequence[mpz], bins: np.ndarray,
                  nodes: np.ndarray) -> list[Cell]:
        """SecureBoost: encrypted sums per (node, feature, bin slot) of the rows given (fate.ml.sbt_hist.task_hist)."""

    def fold(self, nsquare: mpz, slot_bits: int, groups: Sequence[Sequence[mpz]]) -> list[mpz]:
        """Horner folding of each group of slot sums into one ciphertext (fate.ml.he_pack.task_fold)."""

    def worker_pids(self) -> list[int]:
        """Process ids of the workers on this machine (for measuring their CPU time)."""

    def key_tables(self) -> dict[str, int]:
        """Per worker, how many public-key tables it has built (state reuse shows as 1 per key)."""

    def close(self) -> None:
        """Stop the workers (idempotent)."""

    def __enter__(self) -> ComputeBackend: ...

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None: ...
