"""Hetero LR seconds per epoch: (a) breast against FATE 2.2 in the same run, (b) FATE 2.0's 100k-row shape,
(c) FATE's arbiter protocol against the arbiter-free one on breast.

    python benchmarks/hetero_lr.py breast [--bits 2048] [--epochs 20] [--fate22 ../fate22-work] [--processes 2]
    python benchmarks/hetero_lr.py synthetic [--rows 100000] [--guest-cols 30] [--host-cols 300] [--bits 1024]
    python benchmarks/hetero_lr.py protocols [--bits 2048] [--epochs 20] [--repeat 2]
    python benchmarks/hetero_lr.py kernels [--bits 2048]
    any of them with --load N: N busy processes started and stopped by the benchmark (FATE's run included)

(a) trains guest + host + arbiter on the breast example data, full batch, FATE 2.2's
"fullbatch_sgd015" config (SGD lr 0.15 constant, L2 alpha 0.01, zero init, tol 0), and,
with --fate22 (a work dir set up by ../shared/reference/fate22/setup_env.sh), runs FATE 2.2
on the same data and settings with its blinding actually applied, then without it, in the
same session; ratios are against those runs. (b) is a seeded synthetic problem of the shape
FATE 2.0 published (2 min 16 s per epoch on 16 cores), with a per-phase breakdown.

(c) trains the same breast job, full batch, with a third-party arbiter (`fate.ml.hetero_lr`) and
without one (`fate.ml.hetero_lr_free`, guest and host each with its own key), alternating
--repeat times so a change of load hits both; the AUCs must agree within 1e-3.

All parties run as threads of this process over the in-memory hub, sharing one pool of
--processes worker processes for ciphertext work (the machine's cores, like FATE's run), or,
with --parties processes, as forked processes over OS pipes, each with its own pool.
Every party runs under a benchmark policy that allows the requested key size.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.workloads import load_breast, make_synthetic  # noqa: E402
from fate.crypto import paillier  # noqa: E402
from fate.crypto.codec import register_ciphertexts  # noqa: E402
from fate.crypto.keys import shared_public_key  # noqa: E402
from fate.crypto.multiexp import shared_multiexp, signed_multiexp  # noqa: E402
from fate.crypto.pool import public_key_hs  # noqa: E402
from fate.federation.federation import Federation  # noqa: E402
from fate.federation.memory import MemoryHub  # noqa: E402
from fate.federation.pipes import PipeTransport, pipe_mesh  # noqa: E402
from fate.flow.policy import Policy  # noqa: E402
from fate.ml import hetero_lr, hetero_lr_free  # noqa: E402
from fate.ml.evaluation import auc  # noqa: E402
from fate.ml.lr_params import HeteroLRParams, parse_params  # noqa: E402
from fate.ml.timing import PhaseTimer  # noqa: E402
from tests.ml.federated import run_threads  # noqa: E402

FATE22_SCRIPTS = ROOT.parent / "shared" / "reference" / "fate22"
FULLBATCH_SGD015 = {
    "optimizer": "sgd",
    "learning_rate": 0.15,
    "decay": 0.0,
    "penalty": "L2",
    "alpha": 0.01,
    "tol": 0.0,
    "batch_size": -1,
    "init_param": {"init_method": "zeros"},
}


def bench_params(**extra: Any) -> HeteroLRParams:
    """FULLBATCH_SGD015 for this run's epochs and key size (keys under 2048 bits flagged insecure, for speed)."""
    return parse_params({**FULLBATCH_SGD015, "max_iter": ARGS.epochs, "encrypt_param": {"key_length": ARGS.bits},
                         "insecure_key": ARGS.bits < 2048, **extra})


ROLES = {"guest": [9999], "host": [10000], "arbiter": [10001]}


@dataclass(frozen=True)
class Job:
    """One training run's data, settings and keys (made before the clock), and how each party plays it."""

    ids: Sequence[str]
    guest: np.ndarray
    labels: np.ndarray
    host: np.ndarray
    params: HeteroLRParams
    free: bool  # the arbiter-free protocol (guest and host each with its own key), else FATE's
    keys: dict[str, Any]
    policy: Policy

    @staticmethod
    def make(ids: Sequence[str], guest: np.ndarray, labels: np.ndarray, host: np.ndarray, params: HeteroLRParams,
             free: bool) -> Job:
        bits, insecure = params.key_length, params.insecure_key
        keys = {role: paillier.generate_keypair(bits, insecure=insecure)
                for role in (("guest", "host") if free else ("arbiter",))}
        return Job(ids, guest, labels, host, params, free, keys,
                   Policy(min_key_bits=min(bits, 2048), allow_insecure_keys=insecure))

    @property
    def roles(self) -> dict[str, list[int]]:
        return {role: ids_ for role, ids_ in ROLES.items() if role != "arbiter" or not self.free}

    def play(self, role: str, fed: Federation, timer: PhaseTimer) -> Any:
        """This party's whole training; the guest's and the host's models (the arbiter's is not used)."""
        protocol: Any = hetero_lr_free if self.free else hetero_lr
        own = {"keys": self.keys[role]} if self.free else {}
        if role == "guest":
            return protocol.train_guest(fed, self.ids, [f"g{i}" for i in range(self.guest.shape[1])], self.guest,
                                        self.labels, self.params, timer=timer, policy=self.policy, **own)
        if role == "host":
            return protocol.train_host(fed, self.ids, [f"h{i}" for i in range(self.host.shape[1])], self.host,
                                       self.params, timer=timer, policy=self.policy, **own)
        return hetero_lr.train_arbiter(fed, self.params, timer=timer, keys=self.keys["arbiter"], policy=self.policy)


def train(ids: Sequence[str], guest: np.ndarray, labels: np.ndarray, host: np.ndarray,
          params: HeteroLRParams, free: bool = False) -> dict[str, Any]:
    """One training run, FATE's arbiter protocol or (free) the arbiter-free one; keys are made before the clock."""
    job = Job.make(ids, guest, labels, host, params, free)
    if ARGS.parties == "processes":
        return train_processes(job)
    hub = MemoryHub()
    feds = {role: Federation(hub.transport(ids_[0]), "bench", job.roles, role) for role, ids_ in job.roles.items()}
    timers = {role: PhaseTimer() for role in job.roles}
    pool = paillier.CryptoPool(ARGS.processes) if ARGS.processes > 1 else None
    paillier.set_default_pool(pool)
    thread_cpu: dict[str, float] = {}
    try:
        _warm_up(job.keys, pool)
        workers = pool.worker_pids() if pool is not None else []
        workers_before = sum(_proc_cpu(pid) for pid in workers)
        process_before = _own_cpu()
        start = time.perf_counter()
        parties = {role: lambda role=role: job.play(role, feds[role], timers[role]) for role in job.roles}
        out = run_threads({role: _thread_timed(role, play, thread_cpu) for role, play in parties.items()},
                          timeout=24 * 3600)
        wall = time.perf_counter() - start
        process_cpu = _own_cpu() - process_before
        workers_cpu = sum(_proc_cpu(pid) for pid in workers) - workers_before
    finally:
        paillier.set_default_pool(None)
        if pool is not None:
            pool.close()
    epochs = np.diff(timers["guest"].marks)
    return {
        **_outcome(job, out["guest"], out["host"], epochs, wall),
        # CPU seconds: each party's own thread, the rest of this process (background obfuscator fills,
        # codec), and the pool's worker processes; total / epochs is the CPU an epoch costs whatever the load.
        "cpu_s": {**{role: round(v, 3) for role, v in sorted(thread_cpu.items())},
                  "background": round(process_cpu - sum(thread_cpu.values()), 3),
                  "pool_workers": round(workers_cpu, 3), "total": round(process_cpu + workers_cpu, 3)},
        "cpu_per_epoch_s": (process_cpu + workers_cpu) / max(len(epochs), 1),
        "phases": {role: {k: round(v, 3) for k, v in sorted(t.seconds.items())} for role, t in timers.items()
                   if t.seconds},
    }


def train_processes(job: Job) -> dict[str, Any]:
    """train() with each party a forked process, pipes between them, and its own pool of --processes
    workers, as parties deployed apart: no interpreter lock and no factor pool shared between them."""
    roles = job.roles
    links = pipe_mesh([ids_[0] for ids_ in roles.values()])
    results, sink = multiprocessing.Pipe(duplex=False)

    def party(role: str) -> None:
        pool = paillier.CryptoPool(ARGS.processes) if ARGS.processes > 1 else None
        paillier.set_default_pool(pool)
        _warm_up(job.keys, pool)  # before the first epoch, as train() does
        set_up = _own_cpu() + (sum(_proc_cpu(pid) for pid in pool.worker_pids()) if pool is not None else 0.0)
        timer = PhaseTimer()
        model = job.play(role, Federation(PipeTransport(roles[role][0], links[roles[role][0]]), "bench", roles, role),
                         timer)
        workers = sum(_proc_cpu(pid) for pid in pool.worker_pids()) if pool is not None else 0.0
        if pool is not None:
            pool.close()
        sink.send((role, model if role != "arbiter" else None, timer.marks, timer.seconds,
                   _own_cpu() + workers - set_up))

    start = time.perf_counter()
    children = [multiprocessing.get_context("fork").Process(target=party, args=(role,)) for role in roles]
    for child in children:
        child.start()
    got = {}
    for _ in children:
        role, model, marks, seconds, cpu = results.recv()
        got[role] = (model, marks, seconds, cpu)
    for child in children:
        child.join(600)
    wall = time.perf_counter() - start
    if any(child.exitcode for child in children):
        raise SystemExit(f"a party process failed: exit codes {[c.exitcode for c in children]}")
    total = sum(v[3] for v in got.values())
    epochs = np.diff(got["guest"][1])
    return {
        **_outcome(job, got["guest"][0], got["host"][0], epochs, wall),
        # Each party process with its pool's workers (the forkserver's children: read from /proc), from the end
        # of its set-up (key tables, pool warm-up: made before the clock in train() too) to the end of training.
        "cpu_s": {**{role: round(v[3], 3) for role, v in sorted(got.items())}, "total": round(total, 3)},
        "cpu_per_epoch_s": total / max(len(epochs), 1),
        "phases": {role: {k: round(t, 3) for k, t in sorted(v[2].items())} for role, v in got.items() if v[2]},
    }


def _outcome(job: Job, g: Any, h: Any, epochs: np.ndarray, wall: float) -> dict[str, Any]:
    """AUC of the joint model on the training rows, and the epoch times of a run."""
    scores = job.guest @ g.weights + (g.intercept or 0.0) + job.host @ h.weights
    return {"auc": auc(job.labels, scores), "epochs": len(epochs), "wall_s": wall, "mean_epoch_s": float(np.mean(epochs)),
            "median_epoch_s": float(statistics.median(epochs)), "load_avg_1m": os.getloadavg()[0]}


def _warm_up(keys: dict[str, Any], pool: paillier.CryptoPool | None) -> None:
    """Every key object a party will use (its own, and the one decoded from the wire), tables built now."""
    for public, _ in keys.values():
        for key in (public, shared_public_key(int(public.n))):
            public_key_hs(key)
            if pool is not None:
                pool.warm_up(key)


def _thread_timed(role: str, job: Any, into: dict[str, float]) -> Any:
    def run() -> Any:
        start = time.thread_time()
        try:
            return job()
        finally:
            into[role] = time.thread_time() - start
    return run


def _own_cpu() -> float:
    t = os.times()
    return t.user + t.system


def _proc_cpu(pid: int) -> float:
    """utime + stime of a live process, from /proc (the pool's workers are not our direct children)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def background_load(processes: int) -> Iterator[None]:
    """`processes` busy loops (other engineers' work, reproducibly) for the duration; always stopped."""
    # Each loop also ends when the benchmark does (killed, it cannot stop them): its parent changes.
    spin = ("import os, time\nparent, end = os.getppid(), time.time() + 6 * 3600\n"
            "while time.time() < end and os.getppid() == parent: pass\n")
    busy = [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(processes)]
    try:
        if busy:
            time.sleep(1.0)  # let the scheduler see them before the clock starts
        yield
    finally:
        for proc in busy:
            proc.kill()
        for proc in busy:
            proc.wait()


def run_fate22(work: Path, bits: int, blinded: bool, epochs: int) -> dict[str, Any]:
    """FATE 2.2 through its own launcher script; returns its guest-side RESULT line."""
    tag = f"bench{bits}{'obf' if blinded else 'plain'}"
    cmd = ["bash", str(FATE22_SCRIPTS / "run_lr.sh"), "fullbatch_sgd015", str(bits), tag, "--epochs", str(epochs)]
    if blinded:
        cmd += ["--force_obfuscate", "1"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(cmd, env={**os.environ, "FATE22_WORK": str(work)}, capture_output=True, text=True,
                          check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT "):])
            if result.get("role") == "guest":
                # All of FATE's processes (launcher, parties, PSI, set-up included): an upper bound per epoch.
                result["cpu_s_all_processes"] = round(cpu, 3)
                return result
    raise SystemExit(f"FATE 2.2 run failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")


def bench_breast() -> None:
    guest_t, host_t, labels = load_breast()
    params = bench_params()
    Row = tuple[str, float, float, float | None, float, float]

    def ours(label: str, free: bool) -> Row:
        result = train(guest_t.ids, guest_t.features, labels, host_t.features, params, free=free)
        print(f"{label}: {json.dumps(result)}", flush=True)
        return (label, result["mean_epoch_s"], result["median_epoch_s"], result["cpu_per_epoch_s"], result["auc"],
                result["load_avg_1m"])

    def both(when: str) -> list[Row]:
        return [ours(f"fatectl, arbiter ({when})", False), ours(f"fatectl, arbiter-free ({when})", True)]

    rows = both("before FATE")
    if ARGS.fate22:
        # FATE runs between two runs of ours, so a change in the machine's load shows up as a gap between them.
        for blinded in (True, False)[: 1 if ARGS.blinded_only else 2]:
            ref = run_fate22(Path(ARGS.fate22).resolve(), ARGS.bits, blinded, ARGS.epochs)
            print(f"FATE 2.2 ({'blinded' if blinded else 'as shipped'}): {json.dumps(ref)}", flush=True)
            label = "FATE 2.2, blinding applied" if blinded else "FATE 2.2 as shipped (no blinding)"
            rows.append((label, ref["mean_epoch_s"], ref["mean_epoch_s"], None, ref["train_auc"], os.getloadavg()[0]))
        rows += both("after FATE")
    print(f"\nbreast, full batch, {ARGS.epochs} epochs, {ARGS.bits}-bit keys, {ARGS.processes} processes, "
          f"parties as {ARGS.parties}, "
          f"{ARGS.load} busy background processes\n")
    print("| engine | s/epoch (mean) | s/epoch (median) | CPU s/epoch (all processes) | train AUC | 1-min load at end"
          " | FATE-blinded / this |")
    print("|---|---|---|---|---|---|---|")
    reference = next((r[1] for r in rows if r[0] == "FATE 2.2, blinding applied"), None)
    for name, mean, median, cpu, score, load in rows:
        ratio = f"{reference / mean:.1f}x" if reference else "-"
        cpu_text = "-" if cpu is None else f"{cpu:.3f}"
        print(f"| {name} | {mean:.3f} | {median:.3f} | {cpu_text} | {score:.7f} | {load:.1f} | {ratio} |")


def bench_synthetic() -> None:
    n = ARGS.rows
    guest, host, labels = make_synthetic(np.random.default_rng(2024), n, ARGS.guest_cols, ARGS.host_cols)
    params = bench_params(batch_size=ARGS.batch)
    ours = train([str(i) for i in range(n)], guest, labels, host, params)
    print(json.dumps(ours))
    print(f"\nsynthetic guest {n} x {ARGS.guest_cols}, host {n} x {ARGS.host_cols}, {ARGS.bits}-bit keys, "
          f"batch {ARGS.batch}, {ARGS.processes} processes: {ours['mean_epoch_s']:.1f} s/epoch over "
          f"{ours['epochs']} epoch(s) (FATE 2.0 published: 136 s/epoch on 16 cores)")
    print("\n| party | " + " | ".join(sorted({k for p in ours["phases"].values() for k in p})) + " |")
    phases = sorted({k for p in ours["phases"].values() for k in p})
    print("|---|" + "---|" * len(phases))
    for role, seconds in ours["phases"].items():
        print(f"| {role} | " + " | ".join(f"{seconds.get(k, 0.0):.1f}" for k in phases) + " |")


def bench_protocols() -> None:
    guest_t, host_t, labels = load_breast()
    params = bench_params()
    runs: dict[str, list[dict[str, Any]]] = {"arbiter (third party)": [], "arbiter-free": []}
    for _ in range(ARGS.repeat):
        for name, free in (("arbiter (third party)", False), ("arbiter-free", True)):
            result = train(guest_t.ids, guest_t.features, labels, host_t.features, params, free=free)
            print(f"{name}: {json.dumps(result)}", flush=True)
            runs[name].append(result)
    print(f"\nbreast, full batch, {ARGS.epochs} epochs, {ARGS.bits}-bit keys, {ARGS.processes} processes, "
          f"parties as {ARGS.parties}, "
          f"{ARGS.repeat} alternating runs each\n")
    print("| protocol | s/epoch (mean of runs) | s/epoch (median epoch) | train AUC | 1-min load at end |")
    print("|---|---|---|---|---|")
    for name, results in runs.items():
        mean = statistics.mean(r["mean_epoch_s"] for r in results)
        median = statistics.median(r["median_epoch_s"] for r in results)
        loads = "/".join(f"{r['load_avg_1m']:.1f}" for r in results)
        print(f"| {name} | {mean:.3f} | {median:.3f} | {results[-1]['auc']:.7f} | {loads} |")
    gap = abs(runs["arbiter (third party)"][-1]["auc"] - runs["arbiter-free"][-1]["auc"])
    print(f"\nAUC difference: {gap:.2e} (must be < 1e-3)")
    if gap >= 1e-3:
        raise SystemExit("the two protocols disagree on AUC")


def bench_kernels() -> None:
    """CPU seconds (this process, one core) of the kernels an epoch is made of, old way against new."""
    rng = np.random.default_rng(5)
    public, _private = paillier.generate_keypair(ARGS.bits, insecure=ARGS.bits < 2048)
    public.obfuscator()  # the fixed-base table, built once per key
    count = 569
    residues = [int(v) for v in rng.integers(0, 2**62, count)]
    start = time.process_time()
    public.raw_encrypt(residues)
    online = time.process_time() - start
    public.obfuscators.fill(count)
    start = time.process_time()
    public.raw_encrypt(residues)
    offline = time.process_time() - start
    print(f"\n{ARGS.bits}-bit key, {count} encryptions, CPU s: online {online:.3f}, with precomputed factors "
          f"{offline:.4f} ({online / offline:.0f}x less on the critical path; the factors cost the online figure, "
          "paid while waiting)")
    print("\n| X^T[[d]] shape | per-column signed Pippenger (before) | shared bases (now) | before / now |")
    print("|---|---|---|---|")
    for rows, cols in ((569, 20), (569, 10), (ARGS.rows // 10, 30)):
        bases = [public.raw_encrypt([int(v)])[0] for v in rng.integers(0, 2**40, rows)]
        exps = rng.integers(-(2**24) + 1, 2**24, size=(cols, rows))
        start = time.process_time()
        old = [signed_multiexp(bases, col.tolist(), public.nsquare) for col in exps]
        before = time.process_time() - start
        start = time.process_time()
        new = shared_multiexp(bases, exps, public.nsquare)
        now = time.process_time() - start
        assert new == old, "the kernels disagree"
        print(f"| {rows} rows x {cols} columns, 24-bit | {before:.3f} | {now:.3f} | {before / now:.2f}x |")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("workload", choices=("breast", "synthetic", "protocols", "kernels"))
    parser.add_argument("--bits", type=int, default=None, help="Paillier key bits (breast 2048, synthetic 1024)")
    parser.add_argument("--epochs", type=int, default=None, help="breast 20, synthetic 1")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--fate22", default=None, help="FATE 2.2 work dir (setup_env.sh) to run side by side")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--guest-cols", type=int, default=30)
    parser.add_argument("--host-cols", type=int, default=300)
    parser.add_argument("--batch", type=int, default=-1, help="synthetic batch size (-1: full batch)")
    parser.add_argument("--repeat", type=int, default=2, help="protocols: alternating runs of each")
    parser.add_argument("--load", type=int, default=0, help="busy background processes started (and stopped) "
                        "by the benchmark for the whole run, FATE 2.2's included")
    parser.add_argument("--blinded-only", action="store_true", help="breast: skip FATE 2.2 as shipped")
    parser.add_argument("--parties", choices=("threads", "processes"), default="threads",
                        help="breast/protocols: the parties as threads of this process (one shared pool), or as "
                        "forked processes over pipes, each with its own pool of --processes workers")
    args = parser.parse_args()
    synthetic = args.workload == "synthetic"
    args.bits = args.bits or (1024 if synthetic else 2048)
    args.epochs = args.epochs or (1 if synthetic else 20)
    return args


if __name__ == "__main__":
    register_ciphertexts()  # ciphertexts cross the in-memory hub through the wire codec
    ARGS = parse_args()
    print(f"load average at start: {os.getloadavg()}", flush=True)
    with background_load(ARGS.load):
        {"breast": bench_breast, "synthetic": bench_synthetic, "protocols": bench_protocols,
         "kernels": bench_kernels}[ARGS.workload]()
    print(f"load average at end: {os.getloadavg()}", flush=True)
