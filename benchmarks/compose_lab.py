"""Engine image and compose lab: image size, build time, `up` to federation-ready, and the
breast hetero-LR job's wall time in containers against the local lab (same spec, same job,
same run, one after the other).

Everything is driven through the `fatectl` CLI, as a user would, in fresh labs under a
temporary lab root; the example job runs unchanged (2048-bit Paillier).

    python benchmarks/compose_lab.py [--runs 2] [--skip-job] [--base-image IMAGE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fatectl.docker.build import docker_client
from fatectl.spec.sample import generate_spec_text
from fatectl.spec.schema import HOST_PORT_BASE

REPO = Path(__file__).resolve().parent.parent
JOB = REPO / "examples" / "jobs" / "breast-hetero-lr.yaml"
DATA = REPO / "examples" / "data"


class Cli:
    def __init__(self, lab_root: Path) -> None:
        self.env = {**os.environ, "FATECTL_LAB_DIR": str(lab_root)}

    def run(self, *args: str) -> tuple[float, str]:
        """Run `fatectl ARGS`; return its wall time and stdout, or stop with its error."""
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "fatectl.cli", *args], capture_output=True, text=True, env=self.env)
        seconds = time.perf_counter() - started
        if proc.returncode != 0:
            sys.exit(f"fatectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return seconds, proc.stdout


def write_spec(directory: Path, n: int, exchange: bool, name: str, offset: int) -> str:
    path = directory / f"{name}.yaml"
    # The benchmark runs its job unattended: every party's policy says so (lab_policy).
    path.write_text(generate_spec_text(n, exchange, name=name, host_port_base=HOST_PORT_BASE + offset,
                                       lab_policy=True))
    return str(path)


def measure_build(cli: Cli, spec: str, base: list[str]) -> dict[str, float]:
    cold, _ = cli.run("images", "build", spec, "--no-cache", "-q", *base)
    warm, _ = cli.run("images", "build", spec, "-q", *base)
    image = docker_client().images.get("fate-engine:0.1.0")
    return {"cold_s": cold, "cached_s": warm, "size_mb": image.attrs["Size"] / 1e6}


def measure_up(cli: Cli, spec: str, runs: int) -> list[float]:
    """Fresh labs (no volumes, no containers) from `up compose` to federation-ready."""
    times = []
    for _ in range(runs):
        cli.run("down", "compose", spec, "--volumes")
        seconds, _ = cli.run("up", "compose", spec, "-q")
        times.append(seconds)
    cli.run("down", "compose", spec, "--volumes")
    return times


def run_job(cli: Cli, spec: str) -> tuple[float, float]:
    cli.run("data", "upload", spec, "--party", "9999", "--name", "breast_hetero_guest", "--overwrite",
            str(DATA / "breast_hetero_guest.csv"))
    cli.run("data", "upload", spec, "--party", "10000", "--name", "breast_hetero_host", "--overwrite",
            str(DATA / "breast_hetero_host.csv"))
    seconds, out = cli.run("job", "submit", spec, "--party", "9999", str(JOB), "--wait", "--output", "json")
    job = json.loads(out)
    _, outputs = cli.run("job", "outputs", spec, "--party", "9999", job["id"], "--output", "json")
    auc = next(o["value"] for o in json.loads(outputs) if o["name"] == "auc")
    return seconds, float(auc)


def measure_job(cli: Cli, spec: str) -> dict[str, float]:
    cli.run("up", "compose", spec, "-q")
    compose_s, compose_auc = run_job(cli, spec)
    cli.run("down", "compose", spec, "--volumes")
    cli.run("up", "local", spec, "-q")
    try:
        local_s, local_auc = run_job(cli, spec)
    finally:
        cli.run("down", "local", spec)
    return {"compose_s": compose_s, "local_s": local_s, "ratio": compose_s / local_s,
            "compose_auc": compose_auc, "local_auc": local_auc}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2, help="fresh `up` runs per lab size")
    parser.add_argument("--skip-job", action="store_true", help="skip the breast job comparison")
    parser.add_argument("--base-image", default=None, help="base image (default: as `fatectl images build`)")
    args = parser.parse_args()
    base = ["--base-image", args.base_image] if args.base_image else []
    with tempfile.TemporaryDirectory(prefix="bench-lab-") as tmp:
        root = Path(tmp)
        cli = Cli(root / "labs")
        two = write_spec(root, 2, False, "bench-two", 4000)
        three = write_spec(root, 3, True, "bench-three", 4100)
        build = measure_build(cli, two, base)
        print(f"image: {build['size_mb']:.0f} MB; build {build['cold_s']:.1f}s without cache, "
              f"{build['cached_s']:.1f}s cached", flush=True)
        for label, spec in (("2 parties", two), ("3 parties + exchange", three)):
            times = measure_up(cli, spec, args.runs)
            print(f"up -> federation-ready, {label}: median {statistics.median(times):.1f}s "
                  f"(runs: {', '.join(f'{t:.1f}' for t in times)})", flush=True)
        if not args.skip_job:
            job = measure_job(cli, two)
            print(f"breast job (2048-bit): containers {job['compose_s']:.1f}s (AUC {job['compose_auc']:.6f}), "
                  f"local lab {job['local_s']:.1f}s (AUC {job['local_auc']:.6f}); "
                  f"containers/local = {job['ratio']:.2f}", flush=True)


if __name__ == "__main__":
    main()
