"""Homo FedAvg rounds: secure aggregation vs plaintext FedAvg (and Paillier, and Flower's SecAgg+).

    python benchmarks/homo.py [--clients 3 10] [--size 10000] [--rounds 5] [--local-epochs 1 10] [--repeats 3]
                              [--flower /tmp/flwr-venv/bin/python] [--processes] [--without masks shares]

For each client count, in one process over the in-memory hub (every client and the
aggregator a thread, as in the tests), or with --processes every client a forked process linked
to the aggregator by a pipe (`fate.federation.pipes`: no interpreter lock shared between parties):
- aggregation only: each client submits a fixed 10,000-element vector, the aggregator
  collects the sum; seconds per round at the aggregator (median), bytes each client sends
  and receives per round (mean over clients, payloads as the codec puts them on the wire);
- full round: homo_nn with a 30-320-1 MLP (10,241 parameters) on the breast_homo training
  rows split over the clients, minibatches of 32, 1 and 10 local epochs per round: seconds per
  round = training plus aggregation, as a job would see it;
- Flower: with --flower, flwr's SecAgg+ client stages for the same size and client count,
  run by that interpreter (benchmarks/homo_flower.py) in the same run.
Secure aggregation is measured with keys per job (the default), fresh keys every round, and
for 10 clients SecAgg+ with 4 neighbours.
Each measurement is the median round of a run, the first round left out (it also agrees X25519 keys
and checks headers; reported apart as "first"); "cpu" is the process CPU time per round over the
whole run (every party is a thread of this process). Runs repeat --repeats times, plaintext and
secure alternating, and the median run is reported with every run's figure beside it.
Paillier (2048-bit, packed) is measured once, for the aggregation only and 3 clients.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import resource
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fate.crypto.codec import register_ciphertexts  # noqa: E402
from fate.federation.federation import Federation  # noqa: E402
from fate.federation.memory import MemoryHub  # noqa: E402
from fate.federation.pipes import PipeTransport, pipe_mesh  # noqa: E402
from fate.federation.transport import Transport  # noqa: E402
from fate.ml.homo.aggregators import aggregator_side, client_side  # noqa: E402
from fate.ml.homo.params import parse_params  # noqa: E402
from fate.ml.homo.secagg import Roster  # noqa: E402
from fate.ml.homo.train import train_aggregator, train_client  # noqa: E402

ARBITER = 1


def _threads(jobs: list[Callable[[], Any]]) -> None:
    errors: list[BaseException] = []

    def run(job: Callable[[], Any]) -> None:
        try:
            job()
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=run, args=(j,), daemon=True) for j in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    if errors:
        raise errors[0]


class Traffic:
    def __init__(self) -> None:
        self.bytes: dict[int, int] = {}

    def __call__(self, job: str, tag: str, src: int, dst: int, payload: bytes) -> None:
        for party in (src, dst):
            if party != ARBITER:
                self.bytes[party] = self.bytes.get(party, 0) + len(payload)

    def per_client(self, rounds: int) -> float:
        return statistics.mean(self.bytes.values()) / rounds


class Clocked(Federation):
    """The aggregator's federation, noting when each round's result goes out (the end of that round)."""

    ends: list[float]
    cpu: list[float]

    def remote(self, obj: Any, tag: str, role: str, party_ids: Any = None) -> None:
        found = re.search(r"\.r(\d+)\.result$", tag)
        if found and len(self.ends) == int(found.group(1)):
            self.ends.append(time.perf_counter())
            self.cpu.append(time.process_time())
        super().remote(obj, tag, role, party_ids)


def _run(n: int, traffic: Traffic, server: Callable[[Clocked], None], client: Callable[[int, Federation], None],
         processes: bool) -> tuple[Clocked, float]:
    """The aggregator (`server`) and n clients (`client`): threads of this process over the in-memory hub, or,
    with `processes`, a forked process per client linked to the aggregator by a pipe. Returns the aggregator's
    federation and the CPU seconds every party used."""
    clients = [100 + i for i in range(n)]
    roles = {"guest": clients[:1], "host": clients[1:], "arbiter": [ARBITER]}

    def federation(transport: Transport, p: int) -> Federation:
        return Federation(transport, "bench", roles, "guest" if p == clients[0] else "host")

    def clocked(transport: Transport) -> Clocked:
        arbiter = Clocked(transport, "bench", roles, "arbiter")
        arbiter.ends, arbiter.cpu = [], []
        return arbiter

    if not processes:
        hub = MemoryHub(on_wire=traffic)
        arbiter, feds = clocked(hub.transport(ARBITER)), {p: federation(hub.transport(p), p) for p in clients}
        cpu = time.process_time()
        _threads([lambda: server(arbiter), *(lambda p=p: client(p, feds[p]) for p in clients)])
        return arbiter, time.process_time() - cpu
    links = pipe_mesh([ARBITER, *clients], [(ARBITER, p) for p in clients])
    children = [multiprocessing.get_context("fork").Process(
        target=lambda p=p: client(p, federation(PipeTransport(p, links[p]), p))) for p in clients]
    before, cpu = resource.getrusage(resource.RUSAGE_CHILDREN), time.process_time()
    for child in children:
        child.start()
    for p in clients:
        links[p][ARBITER].close()  # the child's end: its exit closes the pipe
    arbiter = clocked(PipeTransport(ARBITER, links[ARBITER], on_wire=traffic))
    try:
        server(arbiter)
    finally:
        for child in children:
            child.join(600)
        arbiter.transport.close()
    if any(child.exitcode for child in children):
        raise RuntimeError(f"client processes failed: exit codes {[c.exitcode for c in children]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = time.process_time() - cpu
    return arbiter, own + (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _secure(method: str) -> dict[str, Any]:
    """'secagg-rekey': fresh keys every round, as in the paper and in Flower; 'secagg-plus': 4 neighbours."""
    secure = {"method": method.split("-")[0], "client_timeout": 60, "rekey_every_round": method.endswith("-rekey")}
    return {**secure, "neighbors": 4} if method.endswith("-plus") else secure


def aggregation_only(method: str, n: int, size: int, rounds: int, processes: bool = False) -> dict[str, float]:
    params = parse_params({"secure_aggregate": _secure(method)}, "homo_lr", n)
    traffic = Traffic()
    times: list[float] = []

    def client(p: int, fed: Federation) -> None:
        vector = np.random.default_rng(p).uniform(-1, 1, size)
        side = client_side(fed, "agg", params.secure, 120)
        for r in range(rounds):
            side.submit(r, vector)
            side.open(fed.get(f"agg.r{r}.result", "arbiter")["sum"])

    def server(arbiter: Clocked) -> None:
        side = aggregator_side(arbiter, "agg", params.secure, lambda m: None)
        roster = Roster.of(arbiter)
        for r in range(rounds):
            start = time.perf_counter()
            result = side.collect(r, roster.order, size)
            times.append(time.perf_counter() - start)
            for p in roster.order:
                arbiter.remote({"sum": result.payload}, f"agg.r{r}.result", roster.roles[p], [p])

    _, cpu = _run(n, traffic, server, client, processes)
    return {"seconds": statistics.median(times[1:] or times), "first": times[0], "cpu": cpu / rounds,
            "bytes": traffic.per_client(rounds)}


def _breast() -> tuple[np.ndarray, np.ndarray]:
    rows = []
    for name in ("guest", "host"):
        lines = (ROOT / "examples" / "data" / f"breast_homo_{name}.csv").read_text().splitlines()[1:]
        rows += [[float(v) for v in line.split(",")[1:]] for line in lines]
    data = np.array(rows)
    return data[:, 1:], data[:, 0]


def full_round(method: str, n: int, rounds: int, epochs: int, processes: bool = False) -> dict[str, float]:
    raw = {"max_iter": rounds, "local_epochs": epochs, "batch_size": 32, "learning_rate": 0.1, "hidden_layers": [320],
           "early_stop": "none", "init_param": {"random_seed": 1}, "secure_aggregate": _secure(method)}
    params = parse_params(raw, "homo_nn", n)
    traffic = Traffic()
    x, y = _breast()
    parts = dict(zip(range(100, 100 + n), np.array_split(np.arange(len(y)), n), strict=True))
    header = tuple(f"x{i}" for i in range(x.shape[1]))
    elapsed: list[float] = []

    def server(arbiter: Clocked) -> None:
        start, cpu_start = time.perf_counter(), time.process_time()
        train_aggregator(arbiter, params, "nn")
        elapsed.append(time.perf_counter() - start)
        arbiter.ends.insert(0, start)
        arbiter.cpu.insert(0, cpu_start)

    def client(p: int, fed: Federation) -> None:
        train_client(fed, header, x[parts[p]], y[parts[p]], params, "nn")

    arbiter, cpu = _run(n, traffic, server, client, processes)
    # Round 0 also agrees keys (X25519) and checks headers: reported apart, as "first"; "seconds" and
    # "cpu" are medians of the later rounds, what a long job pays per round. With threads "cpu" is the
    # process CPU time (every party is a thread); with processes, the children's CPU is only known for
    # the whole run: "cpu" is then every process's CPU time over the run, per round.
    spans = np.diff(arbiter.ends)
    per_round = cpu / rounds if processes else float(np.median(np.diff(arbiter.cpu)[1:]))
    return {"seconds": float(np.median(spans[1:])), "first": float(spans[0]), "mean": elapsed[0] / rounds,
            "cpu": per_round, "bytes": traffic.per_client(rounds)}


def flower(python: str, n: int, size: int, rounds: int) -> dict[str, Any]:
    done = subprocess.run([python, str(ROOT / "benchmarks" / "homo_flower.py"), str(n), str(size), str(rounds)],
                          capture_output=True, text=True, timeout=1800, check=False)
    if done.returncode:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr else f"exit {done.returncode}"}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def without(parts: list[str]) -> None:
    """What-if runs, INSECURE, to find what the rest of the protocol costs: "masks" makes every mask zeros
    (no ChaCha20), "shares" makes Shamir sharing the identity (no polynomials). Never in a real job."""
    import fate.crypto.shamir as shamir_module
    import fate.ml.homo.secagg as client_module
    import fate.ml.homo.secagg_server as server_module

    def zeros(seed: bytes, size: int, setting: Any, out: np.ndarray | None = None) -> np.ndarray:
        words = np.empty(size, dtype=np.uint64) if out is None else out
        words.fill(0)
        return words

    if "masks" in parts:
        client_module.mask = server_module.mask = zeros  # type: ignore[assignment]
    if "shares" in parts:
        shamir_module.split_int = lambda secret, threshold, xs, prime: dict.fromkeys(xs, secret)  # type: ignore
        shamir_module.combine_int = lambda shares, threshold, prime: next(iter(shares.values()))  # type: ignore


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, nargs="+", default=[3, 10])
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--local-epochs", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--flower", help="a Python interpreter with flwr installed")
    parser.add_argument("--processes", action="store_true", help="clients as processes over pipes, not threads")
    parser.add_argument("--without", nargs="+", choices=("masks", "shares"), default=[],
                        help="INSECURE what-if: zero masks and/or identity Shamir shares, to measure the rest")
    args = parser.parse_args()
    register_ciphertexts()
    without(args.without)
    for n in args.clients:
        row: dict[str, Any] = {"clients": n, "size": args.size, "parties": "processes" if args.processes else "threads",
                               "without": args.without}
        runs: dict[str, list[dict[str, float]]] = {}
        # Plaintext and secure runs alternate, so a change of machine load hits both alike.
        for _ in range(args.repeats):
            for method in ("none", "secagg", "secagg-rekey") + (("secagg-plus",) if n > 5 else ()):
                runs.setdefault(f"agg_{method}", []).append(
                    aggregation_only(method, n, args.size, args.rounds, args.processes))
            for epochs in args.local_epochs:
                for method in ("none", "secagg") + (("secagg-plus",) if n > 5 else ()):
                    runs.setdefault(f"round_{method}_e{epochs}", []).append(
                        full_round(method, n, args.rounds, epochs, args.processes))
        if n <= 3:
            runs["agg_paillier"] = [aggregation_only("paillier", n, args.size, 3)]
        for name, found in runs.items():
            row[name] = {"seconds": statistics.median(r["seconds"] for r in found),
                         "all": [round(r["seconds"], 4) for r in found], "bytes": found[0]["bytes"],
                         "first": statistics.median(r["first"] for r in found),
                         "cpu": statistics.median(r["cpu"] for r in found)}
        row["agg_ratio"] = row["agg_secagg"]["seconds"] / row["agg_none"]["seconds"]
        for epochs in args.local_epochs:
            for method in ("secagg", "secagg-plus"):
                if f"round_{method}_e{epochs}" in row:
                    row[f"round_ratio_{method}_e{epochs}"] = (row[f"round_{method}_e{epochs}"]["seconds"]
                                                              / row[f"round_none_e{epochs}"]["seconds"])
        if args.flower:
            row["flower_secaggplus"] = flower(args.flower, n, args.size, args.rounds)
        row["load"] = os.getloadavg()
        print(json.dumps(row), flush=True)

if __name__ == "__main__":
    main()
