"""flow.yaml's `compute:` section, and the one backend a job's worker process builds from it.

    compute:
      engine: local        # local | ray
      workers: 2           # local: processes (default: os.cpu_count()); ray: number of actors
      cpus_per_worker: 1   # ray only
      address: ""          # ray only: "" starts a private local Ray; else ray.init(address=...)
      token_file: ""       # ray only: file holding Ray's auth token; never logged

Parsed (and checked: known engine, workers >= 1, Ray installed) when the flow starts, so a
wrong section stops the flow with every problem at once instead of failing the first job.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fate.compute.contract import ENGINES, ComputeBackend

KEYS = ("engine", "workers", "cpus_per_worker", "address", "token_file")
RAY_ONLY = ("cpus_per_worker", "address", "token_file")
INSTALL_RAY = "pip install fatectl[ray]"


@dataclass(frozen=True)
class ComputeConfig:
    engine: str = "local"
    workers: int | None = None  # None: one local process per core
    cpus_per_worker: float = 1.0
    address: str = ""
    token_file: str = ""

    @property
    def worker_count(self) -> int:
        return self.workers or os.cpu_count() or 1


def ray_installed() -> bool:
    return importlib.util.find_spec("ray") is not None


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def parse_compute(data: Any, where: str = "compute") -> tuple[ComputeConfig, list[str]]:
    """The section as a ComputeConfig and every problem found (an empty list when it is valid)."""
    if data is None:
        return ComputeConfig(), []
    if not isinstance(data, Mapping):
        return ComputeConfig(), [f"{where}: expected a mapping with engine, workers, ... , got {data!r}"]
    problems = [f"{where}.{key}: unknown key (expected one of {', '.join(KEYS)})" for key in data if key not in KEYS]
    engine = data.get("engine", "local")
    if engine not in ENGINES:
        problems.append(f"{where}.engine: expected one of {', '.join(ENGINES)}, got {engine!r}")
    elif engine == "ray" and not ray_installed():
        problems.append(f"{where}.engine: ray is not installed here; install it with `{INSTALL_RAY}` "
                        "(or use engine: local)")
    workers = data.get("workers")
    if workers is not None and not _count(workers):
        problems.append(f"{where}.workers: expected an integer >= 1, got {workers!r}")
        workers = None
    cpus = data.get("cpus_per_worker", 1)
    if isinstance(cpus, bool) or not isinstance(cpus, int | float) or not cpus > 0:
        problems.append(f"{where}.cpus_per_worker: expected a number > 0, got {cpus!r}")
        cpus = 1
    texts = {}
    for key in ("address", "token_file"):
        value = data.get(key, "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            problems.append(f"{where}.{key}: expected a string, got {type(value).__name__}")
            value = ""
        texts[key] = value
    if engine == "local":
        problems.extend(f"{where}.{key}: only used with engine: ray" for key in ("address", "token_file") if texts[key])
    address = texts["address"]
    if address and not address.startswith("ray://") and ":" not in address and address != "auto":
        problems.append(f"{where}.address: expected \"\" (a private local Ray), ray://HOST:PORT (Ray Client), "
                        f"HOST:PORT (the head's GCS) or auto, got {address!r}")
    config = ComputeConfig(str(engine), workers, float(cpus), address, texts["token_file"])
    return config, problems


def build_backend(config: ComputeConfig) -> ComputeBackend:
    """The backend this config names; Ray is imported only here, and only for engine: ray."""
    if config.engine == "ray":
        from fate.compute.ray import RayBackend

        return RayBackend(config.worker_count, config.cpus_per_worker, config.address, config.token_file)
    from fate.compute.local import LocalBackend

    return LocalBackend(config.worker_count)
