"""A party's compute section: where its flow's heavy work (Paillier, Xᵀ[[d]], PSI) runs.

`engine: local` keeps today's worker processes inside the flow. `engine: ray` moves the work to
Ray actors: on a Ray cluster fatectl starts for the party (a head and `workers` worker
containers or pods, on the party's private network only), or on an existing one at `rayAddress`
(for example a KubeRay cluster), which fatectl then leaves alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fatectl.errors import Problem
from fatectl.spec.document import Document, PathKey
from fatectl.spec.patterns import QUANTITY, RAY_ADDRESS, quantity_value

ENGINES = ("local", "ray")
MAX_WORKERS = 256
# A Ray node below this cannot hold its raylet, a worker process and the smallest object store
# Ray accepts (75 MB), with room for a chunk of ciphertexts in flight.
MIN_RAY_MEMORY = "512Mi"
_MIN_RAY_MEMORY_BYTES = 512 * 2**20
_RAY_ONLY = ("cpusPerWorker", "memory")


def _doc(text: str) -> dict[str, str]:
    return {"doc": text}


COMPUTE: dict[str, Any] = {
    "engine": {"type": "string", "default": "local", "allowed": list(ENGINES),
               "meta": _doc("local: worker processes inside the flow; ray: Ray actors (a cluster of the party's own)")},
    "workers": {"type": "integer", "default": 2, "min": 1, "max": MAX_WORKERS,
                "meta": _doc("local: worker processes; ray: Ray actors, and the Ray worker containers/pods "
                             "fatectl starts (one per actor)")},
    "cpusPerWorker": {"type": "integer", "default": 1, "min": 1, "max": 64,
                      "meta": _doc("ray only: whole CPUs of each Ray worker (its container/pod limit, Ray's "
                                   "num-cpus, each actor's share)")},
    "memory": {"type": "string", "default": "2Gi", "regex": QUANTITY,
               "meta": _doc(f"ray only: memory of each Ray worker container/pod (at least {MIN_RAY_MEMORY})")},
    "rayAddress": {"type": "string", "default": "", "regex": f"({RAY_ADDRESS})?",
                   "meta": _doc("ray only: join this existing cluster (host:port or ray://host:port, "
                                "e.g. a KubeRay head) instead of starting one; empty = fatectl starts the "
                                "party's own")},
}


def _section(party: dict[str, Any]) -> dict[str, Any]:
    compute = party.get("compute")
    return compute if isinstance(compute, dict) else {}


def compute_problems(doc: Document, data: dict[str, Any]) -> Iterator[Problem]:
    """Ray settings only with engine ray; rayAddress's port in range; Ray memory large enough;
    engine ray only where a flow runs (the compute is the flow's)."""
    raw_parties = doc.data.get("parties")
    parties = data.get("parties")
    for index, party in enumerate(parties if isinstance(parties, list) else []):
        if not isinstance(party, dict):
            continue
        raw = raw_parties[index] if isinstance(raw_parties, list) and index < len(raw_parties) else {}
        written = _section(raw) if isinstance(raw, dict) else {}
        compute = _section(party)
        path: PathKey = ("parties", index, "compute")
        engine, address = compute.get("engine"), compute.get("rayAddress")
        if engine == "local":
            for key in (*_RAY_ONLY, "rayAddress"):
                if key in written and (key != "rayAddress" or address):
                    yield doc.problem((*path, key), f"{key} is a Ray setting; it needs engine: ray", key=True)
        if engine == "ray":
            modules = party.get("modules")
            if isinstance(modules, list) and "flow" not in modules:
                yield doc.problem((*path, "engine"), "engine ray runs the flow's work; add 'flow' to modules")
            if address and "memory" in written:
                yield doc.problem(
                    (*path, "memory"),
                    "memory sizes the Ray nodes fatectl starts; with rayAddress the cluster is yours to size",
                    key=True,
                )
        if isinstance(address, str) and address:
            port = address.rsplit(":", 1)[-1]
            if port.isdigit() and not 1 <= int(port) <= 65535:
                yield doc.problem((*path, "rayAddress"), f"port {port} of {address!r} is not in 1-65535")
        memory = compute.get("memory")
        if engine == "ray" and not address and isinstance(memory, str):
            size = quantity_value(memory)
            if size is not None and size < _MIN_RAY_MEMORY_BYTES:
                default = "" if "memory" in written else " (the default)"
                yield doc.problem((*path, "memory"), f"{memory}{default} is too little for a Ray node; "
                                                     f"give at least {MIN_RAY_MEMORY}")
