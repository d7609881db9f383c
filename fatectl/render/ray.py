"""A party's own Ray cluster, as the compose lab and the Helm chart start it.

One head (the GCS and the Ray Client server the flow connects to; no CPUs of its own, so no
actor lands on it) and `compute.workers` worker nodes of `cpusPerWorker` CPUs and `memory`
each, all from the engine image. Token authentication is always on (Ray >= 2.52): every Ray
process reads the party's token from a secret file, never from a literal in a rendered file.
The chart's Go templates build the same commands from values; tests compare the two.
"""

from __future__ import annotations

from dataclasses import dataclass

from fatectl.render.engine import CONTAINER_SECRETS, RAY_CLIENT_PORT, RAY_TOKEN_FILE, ray_head_service
from fatectl.spec.model import Party
from fatectl.spec.patterns import quantity_value

GCS_PORT = 6379
# Ray keeps objects (here: packed ciphertext blocks in flight) in shared memory; a third of a
# node's memory, never under the 75 MB Ray accepts, leaves the rest to the actor's heap.
OBJECT_STORE_FRACTION = 0.3
MIN_OBJECT_STORE = 80 * 2**20
# /dev/shm a little over the object store: Ray fails over to slow disk files when it is short.
SHM_HEADROOM = 16 * 2**20
TOKEN_PATH = f"{CONTAINER_SECRETS}/{RAY_TOKEN_FILE}"
# Not secrets: they say where the token is and that it is required. Usage statistics never
# leave a party (air-gapped sites would only time out trying).
ENVIRONMENT = {
    "RAY_AUTH_MODE": "token",
    "RAY_AUTH_TOKEN_PATH": TOKEN_PATH,
    "RAY_USAGE_STATS_ENABLED": "0",
}
# The head: the GCS, the Ray Client server and its per-client driver.
HEAD_CPUS = 1


@dataclass(frozen=True)
class RayNode:
    """One Ray container/pod: its command and its resource limits."""

    name: str  # compose service (ray-worker-<i>) or chart component (ray-head, ray-worker)
    command: tuple[str, ...]
    cpus: int
    memory_bytes: int
    shm_bytes: int


def memory_bytes(quantity: str) -> int:
    value = quantity_value(quantity)
    assert value is not None, "the spec's rules checked the quantity"
    return int(value)


def object_store_bytes(memory: int) -> int:
    return max(MIN_OBJECT_STORE, int(memory * OBJECT_STORE_FRACTION))


def _common(object_store: int) -> list[str]:
    return ["--block", "--disable-usage-stats", f"--object-store-memory={object_store}"]


def head_node(party: Party, head_host: str = "") -> RayNode:
    memory = memory_bytes(party.compute.memory)
    store = object_store_bytes(memory)
    command = ["ray", "start", "--head", f"--port={GCS_PORT}", f"--ray-client-server-port={RAY_CLIENT_PORT}",
               "--num-cpus=0", "--include-dashboard=false", *_common(store)]
    return RayNode(head_host or ray_head_service(party.name), tuple(command), HEAD_CPUS, memory,
                   store + SHM_HEADROOM)


def worker_nodes(party: Party, head_host: str = "") -> list[RayNode]:
    compute = party.compute
    memory = memory_bytes(compute.memory)
    store = object_store_bytes(memory)
    head = head_host or ray_head_service(party.name)
    command = ("ray", "start", f"--address={head}:{GCS_PORT}", f"--num-cpus={compute.cpus_per_worker}",
               *_common(store))
    return [RayNode(f"{party.name}-ray-worker-{i}", command, compute.cpus_per_worker, memory, store + SHM_HEADROOM)
            for i in range(1, compute.workers + 1)]


def health_command(head_host: str, client_server: bool) -> list[str]:
    """Exit 0 while the head answers with this party's token (and, for the head, its client server)."""
    command = ["ray", "health-check", f"--address={head_host}:{GCS_PORT}"]
    return command + (["--component=ray_client_server"] if client_server else [])
