"""Offline bundle size and create/verify/load times, against plain Docker in the same run.

    python benchmarks/bundle.py [--spec examples/two-party.yaml] [--repeat 2]

Needs the spec's engine image on the local Docker engine (`fatectl images build SPEC`)
and the wheel cache (.cache/wheels). References measured alongside, on the same image:
`docker save` to a file (for create), one sha256 pass over the bundle file (for verify)
and `docker load` of the plain saved archive (for load). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from fatectl.bundle import tarball
from fatectl.bundle.create import create_bundle
from fatectl.bundle.load import load_bundle
from fatectl.bundle.signing import generate_keypair
from fatectl.bundle.verify import verify_bundle
from fatectl.docker.store import DockerImages
from fatectl.docker.wheels import default_wheels_dir
from fatectl.spec.loader import load_federation


def timed(fn: Callable[[], object], repeat: int) -> float:
    """Median wall time of `repeat` runs."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="examples/two-party.yaml")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    fed = load_federation(args.spec)
    store = DockerImages()
    image = store.describe(fed.engine.ref)
    wheels = default_wheels_dir()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-bundle-") as tmp:
        work = Path(tmp)
        key = generate_keypair(work / "sign.key")
        saved = work / "saved.tar"
        save_s = timed(lambda: store.save(fed.engine.ref, saved), args.repeat)
        load_ref_s = timed(lambda: store.load(saved), args.repeat)
        for label, compress, level in (("tar", False, 0), ("tar.gz level 1", True, 1), ("tar.gz level 6", True, 6)):
            tarball.GZIP_LEVEL = level  # the shipped default is level 1; 6 is measured for the choice
            out = work / f"b-{level}.tar"
            create_s = timed(
                lambda out=out, compress=compress: create_bundle(
                    fed, out, sign_key=key.private_path, wheels_dir=wheels, compress=compress, images=store
                ),
                args.repeat,
            )
            hash_s = timed(lambda out=out: sha256_file(out), args.repeat)
            verify_s = timed(lambda out=out: verify_bundle(out, key.public_path), args.repeat)
            sites = (work / f"site-{level}-{i}" for i in range(args.repeat))
            load_s = timed(
                lambda out=out, sites=sites: load_bundle(out, key.public_path, dest=next(sites), images=store),
                args.repeat,
            )
            rows.append((label, out.stat().st_size, create_s, verify_s, load_s, hash_s))
    print(f"engine image {fed.engine.ref} ({image.approx_size / 1e6:.0f} MB), wheels {wheels}, median of {args.repeat}")
    ratios = ", ".join(f"{r[0]} {r[1] / rows[0][1]:.2f}" for r in rows)
    print(f"references: docker save {save_s:.2f}s, docker load {load_ref_s:.2f}s; size vs plain tar: {ratios}")
    print()
    print("| bundle | size MB | create s (x docker save) | verify s (x sha256 of file) | load s (x docker load) |")
    print("|---|---|---|---|---|")
    for label, size, create_s, verify_s, load_s, hash_s in rows:
        print(
            f"| {label} | {size / 1e6:.1f} | {create_s:.2f} ({create_s / save_s:.2f}x) | "
            f"{verify_s:.2f} ({verify_s / hash_s:.2f}x) | {load_s:.2f} ({load_s / load_ref_s:.2f}x) |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
