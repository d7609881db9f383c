"""A directory of wheels for the engine image: the project wheel plus every dependency.

The image installs Python packages only from these files (`pip install --no-index`), so
a build needs the network only while this directory is first filled, and an air-gapped
site can carry the directory instead of reaching PyPI. Wheels are fetched for the image's
interpreter (CPython 3.11 on glibc Linux), whatever Python runs fatectl.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from fatectl.errors import EnvironmentProblem

IMAGE_PYTHON = "3.11"
# Oldest glibc tags first is irrelevant to pip; every tag the image's glibc (>= 2.28 in
# bookworm and python:3.11-slim) can load is listed so binary wheels are found.
_EPOCH = "315532800"  # 1980-01-01, the earliest time a zip entry can carry
_MANYLINUX = ("manylinux2014", "manylinux_2_17", "manylinux_2_28", "manylinux_2_34")
# The image can keep a party's flow store on PostgreSQL (flow.database.existingSecret): psycopg
# with its own libpq, a few MB, so no image variant is needed for it. Ray (compute.engine: ray) is
# in every image too: one tag means one content whatever the spec, a party switches engines
# without a rebuild, and the Ray head and workers run from the very image the flow runs.
IMAGE_EXTRAS = "postgres,ray"


@dataclass(frozen=True)
class Wheelhouse:
    directory: Path
    project_wheel: Path
    wheels: tuple[Path, ...]


def _checkout() -> Path:
    return Path(__file__).resolve().parents[2]  # fatectl/docker/wheels.py -> the checkout


def default_wheels_dir() -> Path:
    """The wheel cache `fatectl images build` fills in the source tree, and bundles read."""
    return _checkout() / ".cache" / "wheels"


def source_root() -> Path:
    """The checkout fatectl runs from; building the project wheel needs its sources."""
    root = _checkout()
    if not (root / "setup.py").is_file() or not (root / "compose" / "Dockerfile").is_file():
        raise EnvironmentProblem(
            f"building the engine image needs the fatectl source tree (setup.py, compose/); not found at {root}"
        )
    return root


def _platform_args() -> list[str]:
    machine = platform.machine().lower()
    arch = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)
    args = ["--only-binary=:all:", "--python-version", IMAGE_PYTHON, "--implementation", "cp"]
    args += ["--abi", f"cp{IMAGE_PYTHON.replace('.', '')}", "--abi", "abi3", "--abi", "none"]
    for tag in _MANYLINUX:
        args += ["--platform", f"{tag}_{arch}"]
    return args


def _pip(args: list[str], what: str) -> None:
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    # Fixed zip timestamps: the same sources give the same wheel, so the image layer cache holds.
    env = {**os.environ, "SOURCE_DATE_EPOCH": _EPOCH}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise EnvironmentProblem(f"{what} failed ({' '.join(cmd[2:5])} ...):\n{tail}")


def prepare_wheels(directory: str | Path, offline: bool = False) -> Wheelhouse:
    """Build the project wheel into `directory` and add every dependency it needs.

    Dependencies already in `directory` are reused without touching an index; with
    `offline=True` a missing one is an error instead of a download.
    """
    root = source_root()
    directory = Path(directory).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("fatectl-*.whl"):
        old.unlink()
    build = ["wheel", "--no-deps", "-q", "-w", str(directory), str(root)]
    try:
        # The running environment's setuptools builds without reaching an index when it can.
        _pip([*build, "--no-build-isolation"], "building the fatectl wheel")
    except EnvironmentProblem:
        if offline:
            raise
        _pip(build, "building the fatectl wheel")
    project = next(directory.glob("fatectl-*.whl"), None)
    if project is None:
        raise EnvironmentProblem(f"pip built no fatectl wheel in {directory}")
    download = ["download", "-q", "-d", str(directory), *_platform_args(), f"{project}[{IMAGE_EXTRAS}]"]
    try:
        _pip([*download, "--no-index", "--find-links", str(directory)], "resolving wheels from the cache")
    except EnvironmentProblem:
        if offline:
            raise
        _pip(download, "downloading dependency wheels")
    wheels = tuple(sorted(p for p in directory.glob("*.whl") if p != project))
    return Wheelhouse(directory=directory, project_wheel=project, wheels=wheels)
