"""A worker SIGKILLed in the middle of a call: the call re-runs on the other workers and completes,
or fails with one ComputeError naming the backend and the worker; it never hangs."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from fate.compute.contract import ComputeBackend, ComputeError
from fate.crypto import paillier

Keys = tuple[paillier.PublicKey, paillier.PrivateKey]
JOB = 6000  # ~5 s of 1024-bit decryptions: long enough to be killed in the middle
BOUND = 120.0  # seconds: what "never hangs" means here


def _in_thread(fn: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = fn()
        except Exception as err:  # the test inspects whatever the call raised
            outcome["error"] = err

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def _kill_mid_job(backend: ComputeBackend, keys: Keys) -> tuple[dict[str, Any], list[int], int, float]:
    pk, sk = keys
    cts = pk.raw_encrypt(list(range(JOB)))
    victim = backend.worker_pids()[0]
    started = time.monotonic()
    thread, outcome = _in_thread(lambda: backend.decrypt(sk, cts))
    time.sleep(1.0)  # every worker is inside its first chunk by now
    assert thread.is_alive(), "the job finished before the kill; make JOB larger"
    os.kill(victim, signal.SIGKILL)
    thread.join(BOUND)
    assert not thread.is_alive(), f"the call still runs {BOUND} s after a worker was killed"
    return outcome, list(range(JOB)), victim, time.monotonic() - started


def test_a_killed_worker_s_chunks_rerun_on_the_others(make_backend: Callable[..., ComputeBackend],
                                                       keys: Keys) -> None:
    with make_backend(2) as backend:
        outcome, expected, victim, _ = _kill_mid_job(backend, keys)
        assert "error" not in outcome, outcome.get("error")
        assert [int(m) for m in outcome["result"]] == expected
        assert victim not in backend.worker_pids()
        # The backend keeps working after the loss.
        assert [int(m) for m in backend.decrypt(keys[1], keys[0].raw_encrypt(list(range(200))))] == list(range(200))


def test_ray_with_its_only_worker_killed_fails_with_one_clear_error(keys: Keys, request: pytest.FixtureRequest) -> None:
    request.getfixturevalue("ray_session")
    from fate.compute.ray import RayBackend

    with RayBackend(1, cpus_per_worker=0.5, max_restarts=0) as backend:
        outcome, _, victim, seconds = _kill_mid_job(backend, keys)
    err = outcome.get("error")
    assert isinstance(err, ComputeError), outcome
    assert err.backend == "ray" and f"pid {victim}" in err.worker
    assert str(err).startswith(f"ray compute backend, worker actor 0 (pid {victim}): decrypt")
    assert seconds < 30


def test_ray_gives_up_on_a_call_that_outlives_its_timeout(keys: Keys, request: pytest.FixtureRequest) -> None:
    request.getfixturevalue("ray_session")
    from fate.compute.ray import RayBackend

    pk, sk = keys
    cts = pk.raw_encrypt(list(range(JOB)))
    late = r"worker actor 0 \(pid \d+\): decrypt did not finish within 0.5 s"
    with RayBackend(1, cpus_per_worker=0.5, timeout=0.5) as backend, pytest.raises(ComputeError, match=late):
        backend.decrypt(sk, cts)


def test_local_processes_killed_twice_in_one_call_fail_with_one_clear_error(keys: Keys) -> None:
    from fate.compute.local import LocalBackend

    pk, sk = keys
    cts = pk.raw_encrypt(list(range(JOB)))
    with LocalBackend(2) as backend:
        first = backend.worker_pids()
        started = time.monotonic()
        thread, outcome = _in_thread(lambda: backend.decrypt(sk, cts))
        time.sleep(1.0)
        os.kill(first[0], signal.SIGKILL)
        deadline = time.monotonic() + 60
        fresh: list[int] = []
        while time.monotonic() < deadline and not fresh:  # the re-run's fresh processes
            assert backend.pool is not None
            fresh = [pid for pid in backend.pool.worker_pids() if pid not in first]
            time.sleep(0.05)
        assert fresh, "the pool was not replaced after its worker died"
        time.sleep(0.5)
        os.kill(fresh[0], signal.SIGKILL)
        thread.join(BOUND)
        assert not thread.is_alive()
    err = outcome.get("error")
    assert isinstance(err, ComputeError), outcome
    assert err.backend == "local" and f"pid {first[0]}" in err.worker and f"pid {fresh[0]}" in err.worker
    assert "task_decrypt failed twice" in str(err) and time.monotonic() - started < BOUND
