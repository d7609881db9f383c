"""The Ray backend: long-lived actors on the party's own Ray cluster, each keeping per-key state warm.

    compute: {engine: ray, workers: 8, cpus_per_worker: 1, address: "ray://guest-ray-head:10001",
              token_file: /run/secrets/ray-token}

`address: ""` starts a private Ray on this machine (`ray.init(address="local")`); otherwise the
job's worker process joins the party's cluster, as a Ray Client (ray://HOST:10001) or as a driver
on a node of that cluster (HOST:6379). Ciphertexts travel as packed (count, width) uint8 blocks
(fate.compute.blocks), never as pickled lists of big integers.

Failures: a chunk whose actor died (killed, out of memory, node lost) is re-run on another actor,
at most MAX_ATTEMPTS times; actors restart (max_restarts) and rebuild their tables on first use.
When no actor can finish a chunk, or a call outlives `timeout`, ComputeError names the backend,
the call and the worker; nothing waits forever.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
from gmpy2 import mpz

from fate.compute.blocks import pack, unpack, unpack_cells, width
from fate.compute.contract import Cell, ComputeError
from fate.compute.ray_worker import POINT, CryptoWorker
from fate.compute.tasks import INVALID, task_blind
from fate.crypto import encoding
from fate.crypto.array import EncryptedArray
from fate.crypto.keys import PrivateKey, PublicKey
from fate.crypto.matvec import column_products, matvec_t
from fate.crypto.pool import MIN_PARALLEL, public_key_hs, split
from fate.ml.he_pack import task_fold
from fate.ml.sbt_hist import merge_cells, task_hist

NAME = "ray"
MAX_RESTARTS = 2  # per actor; a restarted actor rebuilds its tables lazily
MAX_ATTEMPTS = 3  # per chunk, on different actors when there are several
DEFAULT_TIMEOUT = 3600.0  # seconds one call may take before it fails instead of waiting on
START_TIMEOUT = 300.0  # seconds for every actor to be placed and started (the cluster may lack CPUs)
log = logging.getLogger("fate.compute.ray")


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ComputeError(NAME, "ray is not installed; install it with `pip install fatectl[ray]`") from None
    return ray


# Tries at joining a Ray cluster before a job's compute fails (see _connect).
CONNECT_ATTEMPTS = 3


def read_token(token_file: str) -> str:
    """Ray's auth token from its file (a mounted Secret); errors name the file, never the content."""
    try:
        token = Path(token_file).read_text(encoding="utf-8").strip()
    except OSError as err:
        raise ComputeError(NAME, f"compute.token_file {token_file}: {err.strerror}") from None
    if not token:
        raise ComputeError(NAME, f"compute.token_file {token_file} is empty")
    return token


def _connect(ray: Any, slots: int, address: str, token_file: str, attempts: int = CONNECT_ATTEMPTS,
             pause: float = 2.0) -> bool:
    """Join or start Ray once per process; True when this call started a private Ray (and owns it).

    Joining a cluster is tried `attempts` times, `pause` * attempt seconds apart: a loaded head's
    client proxy can fail to start the server for one connection in time ("Starting Ray client
    server failed"), and the next try usually gets one. A wrong token fails every try, quickly.
    """
    if ray.is_initialized():
        return False
    if token_file:
        # Ray >= 2.52 reads these when it connects (and passes them to a private Ray's processes).
        os.environ["RAY_AUTH_MODE"] = "token"
        os.environ["RAY_AUTH_TOKEN"] = read_token(token_file)
    quiet = {"logging_level": logging.WARNING, "log_to_driver": False}
    where = f"at {address}" if address else "locally"
    tries, attempt = (max(1, attempts) if address else 1), 0
    while True:
        attempt += 1
        try:
            if address:
                ray.init(address=address, **quiet)
                return False
            ray.init(address="local", num_cpus=slots, include_dashboard=False, **quiet)
            return True
        except Exception as err:  # Ray raises ConnectionError, RuntimeError, ValueError... name the address
            ray.shutdown()  # a half-made client connection must not count as initialized
            if attempt >= tries:
                after = f" (after {tries} tries)" if tries > 1 else ""
                raise ComputeError(NAME, f"cannot start or reach Ray {where}{after}: {type(err).__name__}: {err}"
                                   ) from None
            time.sleep(pause * attempt)


def _encode_grid(x: np.ndarray, frac: int) -> tuple[np.ndarray, int, list[int]]:
    """fate.crypto.matvec's encoding (encode, strip common twos) as a (rows, cols) array, and each
    column's sum of |multiplier|; vectorized when it fits int64, so the driver's serial share stays small
    (the shared suite checks the ciphertexts equal fate.crypto.matvec's)."""
    rows, cols = x.shape
    with np.errstate(over="ignore"):
        scaled = np.ldexp(x, frac)
    limit = float(2**62) / max(rows, 1)  # every column sum of |v| must fit int64 too
    if frac >= 0 and x.size and bool(np.all(np.abs(scaled) < limit)):
        grid = np.rint(scaled).astype(np.int64)
        combined = int(np.bitwise_or.reduce(np.abs(grid), axis=None))
        if combined == 0:
            return grid, 0, [0] * cols
        shift = min((combined & -combined).bit_length() - 1, frac)
        grid >>= shift
        return grid, frac - shift, [int(v) for v in np.abs(grid).sum(axis=0)]
    ints, frac = encoding.strip_common_twos(encoding.encode(x, frac), frac)
    try:
        out = np.array(ints, dtype=np.int64).reshape(rows, cols)
    except OverflowError:
        out = np.array(ints, dtype=object).reshape(rows, cols)
    return out, frac, [sum(abs(v) for v in ints[j::cols]) for j in range(cols)]


class RayBackend:
    name = NAME

    def __init__(self, workers: int, cpus_per_worker: float = 1.0, address: str = "", token_file: str = "",
                 timeout: float = DEFAULT_TIMEOUT, max_restarts: int = MAX_RESTARTS) -> None:
        if workers < 1:
            raise ComputeError(NAME, f"workers must be >= 1, got {workers}")
        self._ray = ray = _ray()
        self._started = _connect(ray, math.ceil(workers * cpus_per_worker), address, token_file)
        self.timeout = timeout
        actor = ray.remote(num_cpus=cpus_per_worker, max_restarts=max_restarts, max_task_retries=0)(CryptoWorker)
        self._actors = [actor.remote() for _ in range(workers)]
        self._suspect: set[int] = set()
        self._next = 0
        self._lock = threading.Lock()  # the parties' threads share one backend
        try:
            self._pids: list[int] = self._run("pid", [()] * workers, spread=False, timeout=START_TIMEOUT)
        except ComputeError:
            self.close()
            raise ComputeError(NAME, f"{workers} actors of {cpus_per_worker} CPU did not all start within "
                                     f"{START_TIMEOUT:.0f} s; does the Ray cluster have the CPUs free?") from None

    # ---- dispatch ----
    def _label(self, index: int) -> str:
        return f"actor {index} (pid {self._pids[index]})" if index < len(getattr(self, "_pids", [])) else f"actor {index}"

    def _target(self, avoid: int | None = None) -> int:
        """A live actor other than `avoid` (for a chunk whose actor died), round robin."""
        count = len(self._actors)
        with self._lock:
            self._next += 1
            start = self._next
        for step in range(count):
            index = (start + step) % count
            if index != avoid and index not in self._suspect:
                return index
        return (start + (1 if start % count == avoid and count > 1 else 0)) % count

    def _spread(self, chunks: int) -> list[int]:
        """Chunk i of one call on actor (start + i): every call covers all actors evenly, even when several
        parties' threads submit at once (a shared round robin would let one call pile onto one actor)."""
        count = len(self._actors)
        with self._lock:
            start = self._next
            self._next += chunks
        healthy = [i for i in range(count) if i not in self._suspect] or list(range(count))
        return [healthy[(start + i) % len(healthy)] for i in range(chunks)]

    def _run(self, method: str, chunks: Sequence[tuple[Any, ...]], spread: bool = True,
             timeout: float | None = None) -> list[Any]:
        """Each chunk on an actor (round robin, or actor i for chunk i); a dead actor's chunk runs again elsewhere."""
        ray = self._ray
        errors = ray.exceptions
        results: list[Any] = [None] * len(chunks)
        attempts = [0] * len(chunks)
        pending: dict[Any, tuple[int, int]] = {}

        def submit(i: int, index: int) -> None:
            attempts[i] += 1
            pending[getattr(self._actors[index], method).remote(*chunks[i])] = (i, index)

        for i, index in enumerate(self._spread(len(chunks)) if spread else range(len(chunks))):
            submit(i, index)
        limit = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=max(0.0, deadline - time.monotonic()))
            if not ready:
                busy = ", ".join(sorted({self._label(a) for _, a in pending.values()}))
                raise ComputeError(NAME, f"{method} did not finish within {limit:g} s", busy)
            i, index = pending.pop(ready[0])
            try:
                results[i] = ray.get(ready[0])
                self._suspect.discard(index)
            except errors.RayActorError as err:
                self._suspect.add(index)
                log.warning("ray compute: %s died during %s (%s); re-running its chunk", self._label(index), method,
                            type(err).__name__)
                if attempts[i] >= MAX_ATTEMPTS:
                    raise ComputeError(NAME, f"{method}: the worker died and the chunk failed {attempts[i]} times "
                                             "on the remaining workers", self._label(index)) from None
                submit(i, self._target(avoid=index))
            except errors.RayError as err:
                raise ComputeError(NAME, f"{method} failed: {type(err).__name__}: {str(err)[:500]}",
                                   self._label(index)) from None
        return results

    # ---- the contract ----
    @property
    def workers(self) -> int:
        return len(self._actors)

    def worker_pids(self) -> list[int]:
        self._pids = self._run("pid", [()] * len(self._actors), spread=False)
        return list(self._pids)

    def warm_up(self, public_key: PublicKey) -> None:
        self._run("warm", [(int(public_key.n), public_key_hs(public_key))] * len(self._actors), spread=False)

    def _parts(self, items: Sequence[Any], per_worker: int = 2) -> list[Sequence[Any]]:
        return split(items, len(self._actors) * per_worker)

    def _small(self, size: int) -> bool:
        return size < MIN_PARALLEL

    def encrypt(self, public_key: PublicKey, residues: Sequence[int]) -> list[mpz]:
        if self._small(len(residues)):
            return public_key.raw_encrypt(residues)
        n, hs, size = int(public_key.n), public_key_hs(public_key), width(public_key.n)
        blocks = self._run("encrypt", [(n, hs, pack(part, size)) for part in self._parts(residues)])
        return [c for block in blocks for c in unpack(block)]

    def rerandomize(self, public_key: PublicKey, ciphertexts: Sequence[mpz]) -> list[mpz]:
        if self._small(len(ciphertexts)):
            return public_key.raw_rerandomize(ciphertexts)
        n, hs, size = int(public_key.n), public_key_hs(public_key), width(public_key.nsquare)
        blocks = self._run("rerandomize", [(n, hs, pack(part, size)) for part in self._parts(ciphertexts)])
        return [c for block in blocks for c in unpack(block)]

    def decrypt(self, private_key: PrivateKey, ciphertexts: Sequence[mpz]) -> list[mpz]:
        if self._small(len(ciphertexts)):
            return private_key.raw_decrypt(ciphertexts)
        key = private_key.public_key
        head, size = (int(key.n), int(private_key.p), int(private_key.q)), width(key.nsquare)
        blocks = self._run("decrypt", [(*head, pack(part, size)) for part in self._parts(ciphertexts)])
        return [c for block in blocks for c in unpack(block)]

    def matvec_t(self, matrix: Any, encrypted: EncryptedArray, frac_bits: int | None = None) -> EncryptedArray:
        x = encoding.as_float_array(matrix)
        if x.ndim != 2 or encrypted.ndim != 1 or x.shape[0] != encrypted.size or self._small(x.shape[0]):
            return matvec_t(matrix, encrypted, frac_bits=frac_bits)  # shape errors and small inputs: in-process
        rows, cols = x.shape
        frac = encoding.multiplier_frac_bits(x) if frac_bits is None else frac_bits
        grid, frac, col_sums = _encode_grid(x, frac)
        bound = None if encrypted.bound is None else encrypted.bound * max(col_sums, default=0)
        key = encrypted.public_key
        EncryptedArray(key, [], (0,), 0, bound)  # refuses a result that could overflow, before any work
        n2, size = key.nsquare, width(key.nsquare)
        cts = encrypted.ciphertexts
        chunks = [(int(n2), pack(cts[s.start : s.stop], size), grid[s.start : s.stop])
                  for s in split(range(rows), len(self._actors)) if isinstance(s, range) and len(s)]
        partials = [unpack(block) for block in self._run("matvec", chunks)]
        return EncryptedArray(key, column_products(partials, cols, n2), (cols,), encrypted.frac_bits + frac, bound)

    def blind(self, scalar: bytes, points: Sequence[bytes]) -> list[bytes]:
        if self._small(len(points)):
            return task_blind(scalar, points)
        if any(len(p) != POINT for p in points):
            raise ValueError(f"PSI points are {POINT} bytes each")
        blocks = self._run("blind", [(scalar, np.frombuffer(b"".join(part), dtype=np.uint8).reshape(len(part), POINT))
                                     for part in self._parts(points)])
        zero = bytes(POINT)
        return [INVALID if row == zero else row for block in blocks
                for row in (bytes(r) for r in np.asarray(block))]

    def histogram(self, nsquare: mpz, slots: int, n_nodes: int, ciphertexts: Sequence[mpz], bins: np.ndarray,
                  nodes: np.ndarray) -> list[Cell]:
        if self._small(len(ciphertexts)):
            return task_hist(nsquare, slots, n_nodes, ciphertexts, bins, nodes)
        size = width(nsquare)
        parts = [s for s in split(range(len(ciphertexts)), len(self._actors)) if isinstance(s, range) and len(s)]
        answers = self._run("hist", [(int(nsquare), slots, n_nodes, pack(ciphertexts[s.start : s.stop], size),
                                      bins[s.start : s.stop], nodes[s.start : s.stop]) for s in parts])
        return merge_cells([unpack_cells(block, present) for block, present in answers], nsquare)

    def fold(self, nsquare: mpz, slot_bits: int, groups: Sequence[Sequence[mpz]]) -> list[mpz]:
        if self._small(len(groups)):
            return task_fold(nsquare, slot_bits, groups)
        size = width(nsquare)
        chunks = [(int(nsquare), slot_bits, pack([c for g in part for c in g], size), [len(g) for g in part])
                  for part in self._parts(groups)]
        return [c for block in self._run("fold", chunks) for c in unpack(block)]

    def key_tables(self) -> dict[str, int]:
        counts = self._run("key_tables", [()] * len(self._actors), spread=False)
        return {self._label(i): count for i, count in enumerate(counts)}

    def close(self) -> None:
        actors, self._actors = self._actors, []
        for handle in actors:
            try:
                self._ray.kill(handle, no_restart=True)
            except Exception:  # an actor already gone is what close wants anyway
                log.debug("ray compute: actor already gone at close")
        if self._started and self._ray.is_initialized():
            self._ray.shutdown()
            self._started = False

    def __enter__(self) -> RayBackend:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
