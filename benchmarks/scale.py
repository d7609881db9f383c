"""A party's compute on one machine and beyond: X^T[[d]] and a hetero LR epoch, local processes vs Ray.

    python benchmarks/scale.py [--rows 100000] [--guest-cols 30] [--host-cols 300] [--bits 1024]
                               [--workers 1 2] [--engines local ray] [--no-epoch] [--link-gbit 10]

For each engine and worker count, in one run: the host's X^T[[d]] (rows x host-cols, 1024-bit),
then one full-batch epoch of FATE's arbiter protocol (guest rows x guest-cols with labels, host
rows x host-cols), every party a thread of this process over the in-memory hub, all sharing the
one backend under test. Ray runs in this process (`ray.init(num_cpus=2)`), its actors are real
processes; "local" with one worker is the in-process path (no pool), as the engine ran before.

Reported per run: wall seconds; CPU seconds of this process (the driver: encoding, packing,
protocol), of the backend's workers, and of every other process this one started (Ray's GCS,
raylet, idle workers; the local pool's fork server); the 1-minute load average sampled every
2 s during the run (the machine is shared). Ratios are against runs of the same session. At the
end, the cost model of docs/benchmarks.md ("Scaling a party") predicts an epoch at 10^8 rows on
32 nodes x 16 cores from the per-row costs measured here.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.workloads import make_synthetic  # noqa: E402
from fate.compute.contract import ComputeBackend  # noqa: E402
from fate.compute.local import LocalBackend  # noqa: E402
from fate.crypto import paillier  # noqa: E402
from fate.crypto.codec import register_ciphertexts  # noqa: E402
from fate.crypto.encoding import multiplier_frac_bits  # noqa: E402
from fate.crypto.keys import shared_public_key  # noqa: E402
from fate.crypto.pool import public_key_hs  # noqa: E402
from fate.federation.federation import Federation  # noqa: E402
from fate.federation.memory import MemoryHub  # noqa: E402
from fate.flow.policy import Policy  # noqa: E402
from fate.ml import hetero_lr  # noqa: E402
from fate.ml.evaluation import auc  # noqa: E402
from fate.ml.hetero_lr import FEATURE_BITS  # noqa: E402
from fate.ml.lr_params import parse_params  # noqa: E402
from fate.ml.timing import PhaseTimer  # noqa: E402
from tests.ml.federated import run_threads  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
CT_BYTES = 256  # a 1024-bit key's ciphertext (mod n^2) as a packed block row


# ---- CPU accounting through /proc: this process, its workers, everything else it started ----
def _stat(pid: int) -> tuple[int, float] | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK  # ppid, utime + stime


def _descendants(root: int) -> dict[int, float]:
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (st := _stat(int(entry.name))) is not None:
            table[int(entry.name)] = st
    found, frontier = {}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, cpu) in table.items():
            if ppid == parent and pid not in found:
                found[pid] = cpu
                frontier.append(pid)
    return found


class Meter:
    """Wall, driver CPU, workers' CPU, other descendants' CPU, and the load average over a block."""

    def __init__(self, workers: list[int]) -> None:
        self.workers = set(workers)

    @contextmanager
    def measure(self) -> Iterator[dict[str, Any]]:
        out: dict[str, Any] = {}
        loads: list[float] = []
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(2.0):
                loads.append(os.getloadavg()[0])

        sampler = threading.Thread(target=sample, daemon=True)
        before, cpu0, wall0 = _descendants(os.getpid()), time.process_time(), time.perf_counter()
        loads.append(os.getloadavg()[0])
        sampler.start()
        try:
            yield out
        finally:
            wall = time.perf_counter() - wall0
            driver = time.process_time() - cpu0
            after = _descendants(os.getpid())
            stop.set()
            sampler.join()
            loads.append(os.getloadavg()[0])
            delta = {pid: after[pid] - before.get(pid, 0.0) for pid in after}
            per_worker = sorted((round(delta.get(pid, 0.0), 2) for pid in self.workers), reverse=True)
            out.update(wall_s=round(wall, 2), driver_cpu_s=round(driver, 2), worker_cpu_s=per_worker,
                       other_cpu_s=round(sum(v for pid, v in delta.items() if pid not in self.workers), 2),
                       load_mean=round(statistics.mean(loads), 2), load_max=round(max(loads), 2))


# ---- the two workloads ----
def matvec(backend: ComputeBackend, host: np.ndarray, d: paillier.EncryptedArray) -> paillier.EncryptedArray:
    scaled = host / len(host)
    return backend.matvec_t(scaled, d, frac_bits=multiplier_frac_bits(scaled, FEATURE_BITS))


def epoch(backend: ComputeBackend, guest: np.ndarray, labels: np.ndarray, host: np.ndarray,
          keys: tuple[paillier.PublicKey, paillier.PrivateKey]) -> dict[str, Any]:
    """One full-batch epoch of FATE's arbiter protocol, every party on this backend."""
    roles = {"guest": [9999], "host": [10000], "arbiter": [10001]}
    hub = MemoryHub()
    feds = {role: Federation(hub.transport(ids[0]), "scale", roles, role) for role, ids in roles.items()}
    timers = {role: PhaseTimer() for role in roles}
    params = parse_params({"optimizer": "sgd", "learning_rate": 0.15, "penalty": "L2", "alpha": 0.01, "tol": 0.0,
                           "batch_size": -1, "max_iter": 1, "init_param": {"init_method": "zeros"},
                           "encrypt_param": {"key_length": ARGS.bits}, "insecure_key": ARGS.bits < 2048})
    policy = Policy(min_key_bits=min(ARGS.bits, 2048), allow_insecure_keys=ARGS.bits < 2048)
    ids = [str(i) for i in range(len(guest))]
    jobs: dict[str, Callable[[], Any]] = {
        "guest": lambda: hetero_lr.train_guest(feds["guest"], ids, [f"g{i}" for i in range(guest.shape[1])], guest,
                                               labels, params, timer=timers["guest"], policy=policy, compute=backend),
        "host": lambda: hetero_lr.train_host(feds["host"], ids, [f"h{i}" for i in range(host.shape[1])], host, params,
                                             timer=timers["host"], policy=policy, compute=backend),
        "arbiter": lambda: hetero_lr.train_arbiter(feds["arbiter"], params, timer=timers["arbiter"], keys=keys,
                                                   policy=policy, compute=backend),
    }
    threads_cpu: dict[str, float] = {}

    def timed(role: str, job: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> Any:
            start = time.thread_time()
            try:
                return job()
            finally:
                threads_cpu[role] = round(time.thread_time() - start, 4)
        return run

    out = run_threads({role: timed(role, job) for role, job in jobs.items()}, timeout=24 * 3600)
    g, h = out["guest"], out["host"]
    scores = guest @ g.weights + (g.intercept or 0.0) + host @ h.weights
    return {"auc": auc(labels, scores), "party_cpu_s": threads_cpu,
            "phases": {role: {k: round(v, 2) for k, v in sorted(t.seconds.items())} for role, t in timers.items()}}


def backend_for(engine: str, workers: int) -> ComputeBackend:
    if engine == "local":
        return LocalBackend(workers)
    from fate.compute.ray import RayBackend

    return RayBackend(workers, cpus_per_worker=1.0)


def run_one(engine: str, workers: int, data: dict[str, Any]) -> dict[str, Any]:
    keys, d = data["keys"], data["d"]
    with backend_for(engine, workers) as backend:
        # Tables for every key object a party will use (its own and the one decoded off the wire), built now.
        for key in (keys[0], shared_public_key(int(keys[0].n))):
            public_key_hs(key)
            backend.warm_up(key)
        meter = Meter(backend.worker_pids() if (engine, workers) != ("local", 1) else [])
        result: dict[str, Any] = {"engine": engine, "workers": workers}
        with meter.measure() as mv:
            product = matvec(backend, data["host"], d)
        result["matvec"] = mv
        if data.setdefault("product", product.ciphertexts) != product.ciphertexts:
            raise SystemExit(f"{engine} x{workers}: X^T[[d]] differs from the first run's ciphertexts")
        if ARGS.epoch:
            with meter.measure() as ep:
                ep.update(epoch(backend, data["guest"], data["labels"], data["host"], keys))
            result["epoch"] = ep
            if abs(data.setdefault("auc", ep["auc"]) - ep["auc"]) > 1e-6:
                raise SystemExit(f"{engine} x{workers}: AUC {ep['auc']} differs from the first run's {data['auc']}")
    print(json.dumps(result), flush=True)
    return result


def cpu_total(m: dict[str, Any]) -> float:
    return float(m["driver_cpu_s"] + sum(m["worker_cpu_s"]) + m["other_cpu_s"])


def critical_cpu(m: dict[str, Any]) -> float:
    """The CPU seconds on the longest path: the driver plus its busiest worker (the load-independent time)."""
    return float(m["driver_cpu_s"] + (max(m["worker_cpu_s"]) if m["worker_cpu_s"] else 0.0))


def report(results: list[dict[str, Any]]) -> None:
    rows, cols = ARGS.rows, ARGS.host_cols
    print(f"\nguest {rows} x {ARGS.guest_cols}, host {rows} x {cols}, {ARGS.bits}-bit, cpu_count {os.cpu_count()}\n")
    print("| workload | engine | workers | wall s | driver CPU s | workers' CPU s | other CPU s | load mean/max |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        for name in ("matvec", "epoch"):
            if name in r:
                m = r[name]
                print(f"| {name} | {r['engine']} | {r['workers']} | {m['wall_s']:.1f} | {m['driver_cpu_s']:.1f} | "
                      f"{' + '.join(f'{v:.1f}' for v in m['worker_cpu_s']) or '-'} | {m['other_cpu_s']:.1f} | "
                      f"{m['load_mean']:.1f}/{m['load_max']:.1f} |")
    runs = {(r["engine"], r["workers"]): r for r in results}
    print("\n| ratio | workload | wall | critical-path CPU |")
    print("|---|---|---|---|")
    for name in ("matvec", "epoch"):
        for w in ARGS.workers:
            if ("local", w) in runs and ("ray", w) in runs and name in runs[("ray", w)]:
                a, b = runs[("ray", w)][name], runs[("local", w)][name]
                print(f"| ray / local, {w} worker(s) | {name} | {a['wall_s'] / b['wall_s']:.3f} | "
                      f"{critical_cpu(a) / critical_cpu(b):.3f} |")
        for engine in ARGS.engines:
            if (engine, 1) in runs and (engine, 2) in runs and name in runs[(engine, 2)]:
                one, two = runs[(engine, 1)][name], runs[(engine, 2)][name]
                print(f"| {engine}: 1 worker / 2 workers (speed-up) | {name} | {one['wall_s'] / two['wall_s']:.2f} | "
                      f"{critical_cpu(one) / critical_cpu(two):.2f} |")
    model(runs)


def serial_per_row(data_rows: int) -> dict[str, float]:
    """The drivers' serial CPU per row: one Ray actor takes every chunk (off this process); an epoch at
    rows/4 and at rows, 30 + 30 columns; the slope drops fixed costs. Two readings: the busiest party's
    own thread, and this whole process (all three parties' drivers, Ray's client threads, the hub)."""
    from fate.compute.ray import RayBackend

    rng = np.random.default_rng(7)
    cols, thread, process = 30, {}, {}
    keys = paillier.generate_keypair(ARGS.bits, insecure=ARGS.bits < 2048)
    with RayBackend(1) as backend:
        for key in (keys[0], shared_public_key(int(keys[0].n))):
            backend.warm_up(key)
        for rows in (data_rows // 4, data_rows):
            guest, host = rng.standard_normal((rows, cols)), rng.standard_normal((rows, cols))
            labels = (guest[:, 0] + host[:, 0] > 0).astype(np.float64)
            start = time.process_time()
            thread[rows] = max(epoch(backend, guest, labels, host, keys)["party_cpu_s"].values())
            process[rows] = time.process_time() - start
    small, large = data_rows // 4, data_rows
    return {"thread_us": (thread[large] - thread[small]) / (large - small) * 1e6,
            "process_us": (process[large] - process[small]) / (large - small) * 1e6, "cols": cols,
            "readings": f"busiest party thread {thread[small]:.3f} s / {thread[large]:.3f} s, whole process "
                        f"{process[small]:.3f} s / {process[large]:.3f} s at {small} / {large} rows"}


def model(runs: dict[tuple[str, int], dict[str, Any]]) -> None:
    """Per-row costs measured here, projected to the full shape on this machine and to 10^8 rows on
    32 nodes x 16 cores (docs/benchmarks.md, "Scaling a party", states the assumptions)."""
    base = runs.get(("ray", 1))
    if base is None or "epoch" not in base:
        return
    ep, n = base["epoch"], ARGS.rows
    parallel = sum(ep["worker_cpu_s"]) / n  # actor CPU per row: all chunked work of the three parties
    probe = serial_per_row(n)
    # Conservative: every party's driver work counted as one serial stream (really one per party).
    serial = max(probe["process_us"], probe["thread_us"]) / 1e6
    print(f"\nserial probe ({probe['cols']} + {probe['cols']} columns): {probe['readings']}; "
          f"{probe['thread_us']:.1f} us/row (busiest party), {probe['process_us']:.1f} us/row (whole process)")
    link = ARGS.link_gbit * 1e9 / 8  # bytes per second
    print(f"\ncost model: chunked work {parallel * 1e6:.0f} us/row (one actor, {ARGS.host_cols}+{ARGS.guest_cols} "
          f"columns), driver {serial * 1e6:.1f} us/row serial, packed ciphertexts {CT_BYTES} B, "
          f"{ARGS.link_gbit:g} Gbit/s links")
    print("| rows | cores | chunked work / cores | driver (serial) | between parties | driver <-> actors | epoch |")
    print("|---|---|---|---|---|---|---|")
    for rows, cores in ((100_000, 1), (100_000, 2), (10**8, 32 * 16)):
        # Per row: [[u]] host->guest and [[d]] guest->host cross the inter-party link; the busier party (the
        # guest) sends each row's ciphertext to an actor and back (re-randomization) and once more (X^T[[u]]).
        terms = (parallel * rows / cores, serial * rows, 2 * CT_BYTES * rows / link, 3 * CT_BYTES * rows / link)
        print(f"| {rows:,} | {cores} | " + " | ".join(f"{t:.0f} s" for t in terms) + f" | {sum(terms):.0f} s |")


def main() -> None:
    rng = np.random.default_rng(2024)
    n = ARGS.rows
    guest, host, labels = make_synthetic(rng, n, ARGS.guest_cols, ARGS.host_cols)
    keys = paillier.generate_keypair(ARGS.bits, insecure=ARGS.bits < 2048)
    with LocalBackend(os.cpu_count() or 1) as setup:  # [[d]] for the X^T[[d]] runs, made once, off the clock
        d = paillier.EncryptedArray(keys[0], setup.encrypt(keys[0], [int(v) % int(keys[0].n) for v in
                                    rng.integers(-(2**40), 2**40, size=n)]), (n,), 32, 2**40)
    data = {"guest": guest, "host": host, "labels": labels, "keys": keys, "d": d}
    if "ray" in ARGS.engines:
        import ray

        ray.init(num_cpus=max(ARGS.workers), include_dashboard=False, log_to_driver=False)
    results = []
    for workers in ARGS.workers:
        for engine in ARGS.engines:
            results.append(run_one(engine, workers, data))
    report(results)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--guest-cols", type=int, default=30)
    parser.add_argument("--host-cols", type=int, default=300)
    parser.add_argument("--bits", type=int, default=1024)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--engines", nargs="+", choices=("local", "ray"), default=["local", "ray"])
    parser.add_argument("--no-epoch", dest="epoch", action="store_false", help="X^T[[d]] only")
    parser.add_argument("--link-gbit", type=float, default=10.0, help="cost model: link bandwidth, Gbit/s")
    return parser.parse_args()


if __name__ == "__main__":
    register_ciphertexts()  # ciphertexts cross the in-memory hub through the wire codec
    ARGS = parse_args()
    main()
