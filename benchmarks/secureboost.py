"""Hetero SecureBoost side by side: this engine, FATE 2.2, the plaintext reference and scikit-learn, in one run.

    python benchmarks/secureboost.py breast --fate22 ../fate22-work            # 2048-bit, FATE's defaults
    python benchmarks/secureboost.py default_credit --fate22 ../fate22-work    # writes the data if absent
    python benchmarks/secureboost.py synthetic                                  # FATE 2.0's 100k x (30 + 300), 1024-bit
    python benchmarks/secureboost.py default_credit --fate-data ../shared/data/fate-examples   # the real UCI files too
    python benchmarks/secureboost.py default_credit --init both --fate22 ../fate22-work  # also boost_from_average

Our guest and host run as threads of one process over the in-memory hub and share one
local compute backend (fate.compute); FATE 2.2 runs its own two processes through ../shared/reference/fate22/run_sbt.sh
(`--fate22` is its work dir, made once by its setup_env.sh; run_sbt.sh empties its fate_data, so
a work dir shared with someone else's FATE run breaks both: give each runner its own directory,
e.g. one holding only a `venv` link to the shared one) on the very same CSV files.
Per-tree time is wall time between tree boundaries on the guest; "fit" adds key generation and
set-up. `--init both` also trains our engine from the labels' prior log-odds (`boost_from_average`,
scikit-learn's start; FATE 2.2 has no such option for binary and starts at 0), so each engine is
compared with the reference that starts where it does. The centralized reference is scikit-learn's HistGradientBoostingClassifier on the joined
data with the same depth, bins, learning rate, tree count and l2 (no early stopping, no leaf-count
limit, min_samples_leaf 1). AUCs are on the training rows, as FATE's.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fate.compute.local import LocalBackend  # noqa: E402
from fate.crypto import paillier  # noqa: E402
from fate.crypto.codec import register_ciphertexts  # noqa: E402
from fate.federation.federation import Federation  # noqa: E402
from fate.federation.memory import MemoryHub  # noqa: E402
from fate.ml.component import Table  # noqa: E402
from fate.ml.evaluation import auc  # noqa: E402
from fate.ml.sbt_guest import train_guest  # noqa: E402
from fate.ml.sbt_host import train_host  # noqa: E402
from fate.ml.sbt_params import SBTParams, parse_params  # noqa: E402
from fate.ml.sbt_plain import fit_plain  # noqa: E402
from fate.ml.timing import PhaseTimer  # noqa: E402

DATA = ROOT / "examples" / "data"
SCRIPTS = ROOT.parent / "shared" / "reference" / "fate22"


def load_csv(path: Path, labelled: bool) -> Table:
    raw = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64, ndmin=2)
    header = path.read_text(encoding="utf-8").split("\n", 1)[0].split(",")
    start = 2 if labelled else 1
    return Table(tuple(str(int(i)) for i in raw[:, 0]), tuple(header[start:]), raw[:, start:],
                 raw[:, 1] if labelled else None)


def synthetic(rows: int, guest_cols: int, host_cols: int, seed: int = 7) -> tuple[Table, Table]:
    rng = np.random.default_rng(seed)
    g, h = rng.normal(size=(rows, guest_cols)), rng.normal(size=(rows, host_cols))
    logit = g[:, :5] @ rng.normal(size=5) + h[:, :10] @ rng.normal(size=10) * 0.5
    labels = (logit + rng.normal(size=rows) > 0).astype(np.float64)
    ids = tuple(str(i) for i in range(rows))
    return (Table(ids, tuple(f"g{i}" for i in range(guest_cols)), g, labels),
            Table(ids, tuple(f"h{i}" for i in range(host_cols)), h))


def _cpu() -> float:
    """CPU seconds of this process: unlike wall time, immune to other users' load."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def _worker_cpu(pid: int) -> float:
    """user + system CPU seconds of a pool worker (a forkserver's child, not ours: read from /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load1() -> float:
    return os.getloadavg()[0]


def run_ours(guest: Table, host: Table, p: SBTParams, processes: int) -> dict[str, Any]:
    register_ciphertexts()
    hub = MemoryHub()
    roles = {"guest": [9999], "host": [10000]}
    fg = Federation(hub.transport(9999), "bench", roles, "guest", default_timeout=7200)
    fh = Federation(hub.transport(10000), "bench", roles, "host", default_timeout=7200)
    tg, th = PhaseTimer(), PhaseTimer()
    backend = LocalBackend(processes) if processes > 1 else None
    out: dict[str, Any] = {}
    errors: list[BaseException] = []
    start = time.perf_counter()
    cpu_start = _cpu()
    keys = paillier.generate_keypair(p.key_length, insecure=p.insecure_key)
    if backend is not None:
        backend.warm_up(keys[0])

    def host_side() -> None:
        try:
            out["host"] = train_host(fh, host, p, "sbt", compute=backend, timer=th)
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    thread = threading.Thread(target=host_side, daemon=True)
    thread.start()
    assert guest.labels is not None
    model, scores = train_guest(fg, guest, guest.labels, p, "sbt", keys, compute=backend, timer=tg)
    thread.join()
    fit = time.perf_counter() - start
    cpu = _cpu() - cpu_start
    if backend is not None:
        cpu += sum(_worker_cpu(pid) for pid in backend.worker_pids())  # started with the backend: all theirs
        backend.close()
    if errors:
        raise errors[0]
    per_tree = np.diff(tg.marks).tolist()
    return {"fit_s": fit, "cpu_s": cpu, "tree_s": per_tree, "auc": auc(guest.labels, scores), "trees": len(model["trees"]),
            "guest_phases": tg.seconds, "host_phases": th.seconds, "load_end": load1()}


def run_fate(workdir: Path, guest_csv: Path, host_csv: Path, trees: int, bits: int, tag: str) -> dict[str, Any]:
    script = SCRIPTS / "run_sbt.sh"
    env = {**os.environ, "FATE22_WORK": str(workdir)}
    cmd = ["bash", str(script), tag, "--num_trees", str(trees), "--key_length", str(bits),
           "--guest_data", str(guest_csv), "--host_data", str(host_csv)]
    result = workdir / "results" / f"sbt_{tag}_guest.json"
    result.unlink(missing_ok=True)  # a stale result of an earlier run must never pass for this one
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=3600)
    wall = time.perf_counter() - start
    if "rc=0" not in done.stdout or not result.exists():
        return {"error": (done.stdout + done.stderr)[-2000:], "wall_s": wall}
    data = json.loads(result.read_text())
    return {"fit_s": data["fit_s"], "tree_s": data["tree_s"], "auc": data["train_auc_cached"],
            "auc_predict": data["train_auc_predict"], "wall_s": wall, "load_end": load1()}


def sklearn_auc(guest: Table, host: Table, p: SBTParams) -> float:
    from sklearn.ensemble import HistGradientBoostingClassifier

    x = np.hstack([guest.features, host.features])
    model = HistGradientBoostingClassifier(max_iter=p.num_trees, learning_rate=p.learning_rate, max_depth=p.max_depth,
                                           max_bins=p.max_bin, max_leaf_nodes=None, early_stopping=False,
                                           l2_regularization=p.l2, min_samples_leaf=1)
    model.fit(x, guest.labels)
    return auc(guest.labels, model.predict_proba(x)[:, 1])  # type: ignore[arg-type]


def dataset(name: str, args: argparse.Namespace) -> tuple[Table, Table, Path, Path]:
    if name == "breast":
        g, h = DATA / "breast_hetero_guest.csv", DATA / "breast_hetero_host.csv"
    elif name == "default_credit":
        g, h = DATA / "default_credit_hetero_guest.csv", DATA / "default_credit_hetero_host.csv"
        if not g.exists():
            subprocess.run([sys.executable, str(DATA / "make_default_credit.py")], check=True)
    elif name == "default_credit_uci":
        base = Path(args.fate_data)
        g, h = base / "default_credit_hetero_guest.csv", base / "default_credit_hetero_host.csv"
    else:
        guest, host = synthetic(args.rows, args.guest_cols, args.host_cols)
        return guest, host, Path(), Path()
    return load_csv(g, True), load_csv(h, False), g, h


def report(name: str, rows: list[tuple[str, dict[str, Any]]], extra: dict[str, float]) -> None:
    print(f"\n## {name}")
    print("| engine | fit s | s/tree (mean) | s/tree (each) | train AUC | 1-min load at end |")
    print("|---|---|---|---|---|---|")
    for engine, r in rows:
        if "error" in r:
            print(f"| {engine} | failed: {r['error'][-300:]!r} |")
            continue
        each = ", ".join(f"{t:.2f}" for t in r["tree_s"])
        mean = float(np.mean(r["tree_s"])) if r["tree_s"] else float("nan")
        print(f"| {engine} | {r['fit_s']:.2f} | {mean:.3f} | {each} | {r['auc']:.6f} | {r.get('load_end', 0):.1f} |")
        if "cpu_s" in r:
            print(f"  ({engine}: {r['cpu_s']:.1f} CPU seconds, this process and its pool workers)")
    for label, value in extra.items():
        print(f"- {label}: {value:.6f}")


def bench(name: str, args: argparse.Namespace) -> dict[str, Any]:
    guest, host, gcsv, hcsv = dataset(name, args)
    bits = args.bits or (1024 if name == "synthetic" else 2048)
    trees = args.trees or (1 if name == "synthetic" else 3)
    p = parse_params({"num_trees": trees, "he_param": {"key_length": bits}, "insecure_key": bits < 2048})
    print(f"# {name}: guest {guest.features.shape}, host {host.features.shape}, {bits}-bit keys, {trees} trees, "
          f"load {load1():.1f}", flush=True)
    rows = []
    if args.init in ("fate", "both"):
        rows.append(("fatectl engine (initial score 0, FATE's)", run_ours(guest, host, p, args.processes)))
        print(json.dumps(rows[-1], default=str), flush=True)
    if args.init in ("average", "both"):
        averaged_p = SBTParams(**{**p.__dict__, "boost_from_average": True})
        rows.append(("fatectl engine (boost_from_average, scikit-learn's start)",
                     run_ours(guest, host, averaged_p, args.processes)))
        print(json.dumps(rows[-1], default=str), flush=True)
    extra: dict[str, float] = {}
    if name != "synthetic":
        assert guest.labels is not None
        extra["plaintext reference (same algorithm, joined data) AUC"] = auc(
            guest.labels, fit_plain(guest.features, [host.features], guest.labels, p).scores)
        averaged = SBTParams(**{**p.__dict__, "boost_from_average": True})
        extra["plaintext reference with boost_from_average (scikit-learn's initial score) AUC"] = auc(
            guest.labels, fit_plain(guest.features, [host.features], guest.labels, averaged).scores)
    extra["scikit-learn HistGradientBoostingClassifier (joined data) AUC"] = sklearn_auc(guest, host, p)
    if args.fate22 and name != "synthetic":
        rows.append(("FATE 2.2", run_fate(Path(args.fate22).resolve(), gcsv, hcsv, trees, bits, f"bench_{name}_{bits}")))
        print(json.dumps(rows[-1], default=str), flush=True)
    aucs = {engine: r["auc"] for engine, r in rows if "auc" in r}
    ours_zero = next((v for k, v in aucs.items() if "initial score 0" in k), None)
    ours_avg = next((v for k, v in aucs.items() if "boost_from_average" in k), None)
    if ours_zero is not None and "FATE 2.2" in aucs:
        extra["|AUC gap| ours (start 0) vs FATE 2.2 (start 0)"] = abs(ours_zero - aucs["FATE 2.2"])
    sk = extra["scikit-learn HistGradientBoostingClassifier (joined data) AUC"]
    if ours_avg is not None:
        extra["|AUC gap| ours (boost_from_average) vs scikit-learn (starts from the average)"] = abs(ours_avg - sk)
    if ours_zero is not None:
        extra["|AUC gap| ours (start 0) vs scikit-learn (starts from the average)"] = abs(ours_zero - sk)
    report(name, rows, extra)
    return {"rows": rows, "extra": extra}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", choices=["breast", "default_credit", "default_credit_uci", "synthetic"])
    parser.add_argument("--trees", type=int, default=0, help="default 3 (1 for synthetic)")
    parser.add_argument("--bits", type=int, default=0, help="default 2048 (1024 for synthetic)")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--init", choices=["fate", "average", "both"], default="fate",
                        help="our engine's initial score: 0 as FATE (default), the prior log-odds, or both runs")
    parser.add_argument("--fate22", default="", help="FATE 2.2 work dir made by setup_env.sh")
    parser.add_argument("--fate-data", default=str(ROOT.parent / "shared" / "data" / "fate-examples"))
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--guest-cols", type=int, default=30)
    parser.add_argument("--host-cols", type=int, default=300)
    parser.add_argument("--json", default="", help="also write the results here")
    args = parser.parse_args()
    result = bench(args.dataset, args)
    if args.json:
        Path(args.json).write_text(json.dumps(result, default=str, indent=1))
    return 0


if __name__ == "__main__":
    tempfile.tempdir = tempfile.gettempdir()
    sys.exit(main())
