"""Frozen, typed view of a validated federation spec.

Everything past the loader works with these objects, never with raw dicts.
Optional mappings (nodeSelector, affinity, resources ...) are kept as sorted,
read-only mappings and tuples (see freeze) so the objects stay immutable and
rendering stays deterministic.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

MODULES = ("router", "flow", "board")
# Modules a module cannot run without (flow reaches peers only through its router).
MODULE_DEPENDENCIES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {"router": (), "flow": ("router",), "board": ("flow",)}
)
DEFAULT_PORTS: Mapping[str, int] = MappingProxyType({"router": 9370, "flow": 9380, "board": 8080})
# What a party's policy can name; the engine's registry (fate.ml.registry.BUILTINS) must offer the same.
COMPONENTS = ("psi", "hetero_lr", "evaluation", "homo_lr", "homo_nn", "feature_scale", "statistics", "data_split",
              "hetero_feature_binning", "hetero_feature_selection", "hetero_secureboost")
JOB_ROLES = ("guest", "host", "arbiter")
APPROVALS = ("manual", "auto", "deny")


def freeze(value: Any) -> Any:
    """Deep-freeze JSON-like data: dicts -> MappingProxyType (sorted), lists -> tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: freeze(value[k]) for k in sorted(value)})
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """Inverse of freeze, for handing data to serializers."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [thaw(v) for v in value]
    return value


@dataclass(frozen=True)
class Engine:
    image: str = "fate-engine"
    tag: str = "0.1.0"
    registry: str = ""
    pull_policy: str = "IfNotPresent"
    image_pull_secrets: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        """Full image reference, e.g. registry.local/fate/fate-engine:0.1.0."""
        repo = f"{self.registry.rstrip('/')}/{self.image}" if self.registry else self.image
        return f"{repo}:{self.tag}"


@dataclass(frozen=True)
class Security:
    tls: str = "mutual"  # none | mutual
    paillier_key_bits: int = 2048
    # Keys under 2048 bits are only for labs and tests; the spec must say so explicitly.
    allow_insecure_keys: bool = False


@dataclass(frozen=True)
class Resources:
    requests: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    limits: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class Persistence:
    size: str = "10Gi"
    storage_class: str = ""
    existing_claim: str = ""


@dataclass(frozen=True)
class Module:
    """One engine module of a party (router, flow or board)."""

    name: str
    port: int
    resources: Resources = field(default_factory=Resources)
    persistence: Persistence | None = None  # flow only
    # flow only, Kubernetes only: an existing Secret with database_url (and database_password)
    # that puts the flow's store on PostgreSQL; empty = SQLite on the flow's volume.
    database_secret: str = ""
    node_port: int | None = None  # Kubernetes NodePort, when service type is NodePort


@dataclass(frozen=True)
class Ingress:
    enabled: bool = False
    host: str = ""
    class_name: str = ""
    tls_secret: str = ""


@dataclass(frozen=True)
class Kubernetes:
    namespace: str
    service_type: str = "ClusterIP"  # ClusterIP | NodePort | LoadBalancer
    node_selector: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    tolerations: tuple[Any, ...] = ()
    affinity: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    ingress: Ingress = field(default_factory=Ingress)
    # Existing Secrets to use instead of chart-generated ones (TLS material, flow token).
    existing_tls_secret: str = ""
    existing_token_secret: str = ""
    existing_ray_token_secret: str = ""  # key auth_token


@dataclass(frozen=True)
class Compose:
    """Where a party's services are published on the lab host (always on 127.0.0.1)."""

    host_ports: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class Compute:
    """Where a party's flow runs its heavy work (fatectl.spec.compute)."""

    engine: str = "local"  # local | ray
    workers: int = 2  # local: processes; ray: actors (and the Ray worker nodes fatectl starts)
    cpus_per_worker: int = 1  # ray only: whole CPUs (Ray's num-cpus is an integer)
    memory: str = "2Gi"  # ray only: each Ray node fatectl starts
    ray_address: str = ""  # ray only: an existing cluster; empty = fatectl starts the party's own

    @property
    def starts_ray(self) -> bool:
        """fatectl runs a Ray head and workers for this party (compose services, chart Deployments)."""
        return self.engine == "ray" and not self.ray_address


@dataclass(frozen=True)
class PolicyRule:
    """Jobs a rule covers: every listed field must match; an empty list matches anything."""

    name: str
    approval: str  # manual | auto | deny
    peers: tuple[int, ...] = ()  # initiating parties
    components: tuple[str, ...] = ()  # every component of the job must be listed
    tables: tuple[str, ...] = ()  # this party's input table
    roles: tuple[str, ...] = ()  # every role this party is asked to play must be listed


@dataclass(frozen=True)
class PartyPolicy:
    """What a party runs for others, and its security floors; its own, never a peer's."""

    approval: str = "manual"  # for jobs others initiate that no rule covers
    min_key_bits: int = 2048
    allow_insecure_keys: bool = False  # this party's own lab-only flag
    min_batch_size: int = 32
    trusted_arbiters: tuple[int, ...] = ()
    max_parties: int = 16
    approval_timeout: int = 86400  # seconds
    model_reuse: str = "manual"  # others' jobs scoring with a model stored here: auto, manual, deny
    rules: tuple[PolicyRule, ...] = ()


@dataclass(frozen=True)
class Party:
    id: int
    name: str
    address: str  # where peers reach this party's router (host or IP)
    modules: tuple[Module, ...]
    kubernetes: Kubernetes
    compose: Compose = field(default_factory=Compose)
    policy: PartyPolicy = field(default_factory=PartyPolicy)
    compute: Compute = field(default_factory=Compute)

    def module(self, name: str) -> Module | None:
        return next((m for m in self.modules if m.name == name), None)

    @property
    def module_names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.modules)

    @property
    def router_port(self) -> int:
        router = self.module("router")
        assert router is not None, "validation guarantees every party has a router"
        return router.port


@dataclass(frozen=True)
class Exchange:
    """Optional star-topology hub: parties route to each other through it."""

    enabled: bool = False
    name: str = "exchange"
    id: int = 0  # party-id space of the exchange itself (not a data party)
    address: str = ""
    port: int = 9370
    host_port: int | None = None  # compose lab
    node_port: int | None = None
    namespace: str = "fate-exchange"
    service_type: str = "ClusterIP"  # ClusterIP | NodePort | LoadBalancer
    resources: Resources = field(default_factory=Resources)


@dataclass(frozen=True)
class Node:
    """A party or the exchange, as deployment sees it: one router, a namespace, some modules."""

    id: int
    name: str
    address: str
    role: Literal["party", "exchange"]
    module_names: tuple[str, ...]
    namespace: str  # the one place a member's Kubernetes namespace is decided

    @property
    def is_exchange(self) -> bool:
        return self.role == "exchange"


@dataclass(frozen=True)
class Federation:
    name: str
    engine: Engine
    security: Security
    exchange: Exchange
    parties: tuple[Party, ...]
    api_version: str = "fatectl/v1"
    source: str = ""  # file the spec was loaded from, for messages

    def nodes(self) -> tuple[Node, ...]:
        """Every member that runs a router: the parties, then the exchange when enabled."""
        out = [Node(p.id, p.name, p.address, "party", p.module_names, p.kubernetes.namespace) for p in self.parties]
        if self.exchange.enabled:
            ex = self.exchange
            out.append(Node(ex.id, ex.name, ex.address, "exchange", ("router",), ex.namespace))
        return tuple(out)

    def node(self, node_id: int) -> Node:
        """A party or the exchange by id; SpecError naming the known ids otherwise."""
        for n in self.nodes():
            if n.id == node_id:
                return n
        self.party(node_id)  # raises the error that names the parties
        raise AssertionError("unreachable")

    def node_named(self, name: str) -> Node:
        return next(n for n in self.nodes() if n.name == name)

    def party(self, party_id: int) -> Party:
        for p in self.parties:
            if p.id == party_id:
                return p
        from fatectl.errors import SpecError

        known = ", ".join(str(p.id) for p in self.parties)
        raise SpecError(f"no party with id {party_id} in {self.source or 'the spec'} (parties: {known})")

    def peers_of(self, party_id: int) -> tuple[Party, ...]:
        return tuple(p for p in self.parties if p.id != party_id)

    @property
    def topology(self) -> str:
        """"star" when every message goes through the exchange, else "direct"."""
        return "star" if self.exchange.enabled else "direct"
