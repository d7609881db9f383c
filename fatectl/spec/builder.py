"""Build the frozen model from a validated, defaulted spec document.

Also fills the defaults that depend on other fields: namespaces and compose
host ports (assigned deterministically, never on a port the spec already uses).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from fatectl.spec.model import (
    MODULES,
    Compose,
    Compute,
    Engine,
    Exchange,
    Federation,
    Ingress,
    Kubernetes,
    Module,
    Party,
    PartyPolicy,
    Persistence,
    PolicyRule,
    Resources,
    Security,
    freeze,
)
from fatectl.spec.rules import quantity_text
from fatectl.spec.schema import HOST_PORT_BASE, HOST_PORT_SLOT


def build_federation(data: dict[str, Any], source: str = "") -> Federation:
    """The Federation described by data, which must already pass the schema and the rules."""
    host_ports = assign_host_ports(data)
    security = data["security"]
    engine = data["engine"]
    return Federation(
        name=data["name"],
        api_version=data["apiVersion"],
        engine=Engine(
            image=engine["image"],
            tag=engine["tag"],
            registry=engine["registry"],
            pull_policy=engine["pullPolicy"],
            image_pull_secrets=tuple(engine["imagePullSecrets"]),
        ),
        security=Security(
            tls=security["tls"],
            paillier_key_bits=security["paillierKeyBits"],
            allow_insecure_keys=security["allowInsecureKeys"],
        ),
        exchange=_exchange(data["exchange"], host_ports.get(("exchange", "router"))),
        parties=tuple(
            _party(party, {m: host_ports[(str(index), m)] for m in party["modules"]})
            for index, party in enumerate(data["parties"])
        ),
        source=source,
    )


def assign_host_ports(data: dict[str, Any]) -> dict[tuple[str, str], int]:
    """Compose host port per (party index or "exchange", module): given ones kept, the rest allocated.

    Allocation depends only on the spec's order, so renders are deterministic; a
    computed port skips every port the spec names explicitly and every port
    allocated before it.
    """
    wanted: list[tuple[tuple[str, str], int | None, int]] = []
    exchange = data["exchange"]
    if exchange["enabled"]:
        wanted.append((("exchange", "router"), exchange["compose"].get("hostPort"), HOST_PORT_BASE))
    for index, party in enumerate(data["parties"]):
        given = party["compose"]["hostPorts"]
        for module in party["modules"]:
            base = HOST_PORT_BASE + HOST_PORT_SLOT * (index + 1) + MODULES.index(module)
            wanted.append(((str(index), module), given.get(module), base))
    used = {port for _, port, _ in wanted if port is not None}
    assigned: dict[tuple[str, str], int] = {}
    for key, port, base in wanted:
        if port is None:
            port = base
            while port in used:
                port += 1
            used.add(port)
        assigned[key] = port
    return assigned


def _resources(data: dict[str, Any]) -> Resources:
    return Resources(
        requests=MappingProxyType({k: quantity_text(v) for k, v in sorted(data["requests"].items())}),
        limits=MappingProxyType({k: quantity_text(v) for k, v in sorted(data["limits"].items())}),
    )


def _party(data: dict[str, Any], host_ports: dict[str, int]) -> Party:
    k8s = data["kubernetes"]
    node_ports = k8s["nodePorts"]
    modules = []
    for name in data["modules"]:
        section = data[name]
        persistence, database_secret = None, ""
        if name == "flow":
            p = section["persistence"]
            persistence = Persistence(size=p["size"], storage_class=p["storageClass"], existing_claim=p["existingClaim"])
            database_secret = section["database"]["existingSecret"]
        modules.append(
            Module(
                name=name,
                port=section["port"],
                resources=_resources(section["resources"]),
                persistence=persistence,
                database_secret=database_secret,
                node_port=node_ports.get(name),
            )
        )
    ingress = k8s["ingress"]
    return Party(
        id=data["id"],
        name=data["name"],
        address=data["address"],
        modules=tuple(modules),
        kubernetes=Kubernetes(
            namespace=k8s.get("namespace") or f"fate-{data['id']}",
            service_type=k8s["serviceType"],
            node_selector=freeze(k8s["nodeSelector"]),
            tolerations=freeze(k8s["tolerations"]),
            affinity=freeze(k8s["affinity"]),
            ingress=Ingress(
                enabled=ingress["enabled"],
                host=ingress["host"],
                class_name=ingress["className"],
                tls_secret=ingress["tlsSecret"],
            ),
            existing_tls_secret=k8s["existingTlsSecret"],
            existing_token_secret=k8s["existingTokenSecret"],
            existing_ray_token_secret=k8s["existingRayTokenSecret"],
        ),
        compose=Compose(host_ports=MappingProxyType(dict(sorted(host_ports.items(), key=_module_order)))),
        policy=_policy(data["policy"]),
        compute=_compute(data["compute"]),
    )


def _compute(data: dict[str, Any]) -> Compute:
    return Compute(
        engine=data["engine"],
        workers=data["workers"],
        cpus_per_worker=data["cpusPerWorker"],
        memory=data["memory"],
        ray_address=data["rayAddress"],
    )


def _policy(data: dict[str, Any]) -> PartyPolicy:
    return PartyPolicy(
        approval=data["approval"],
        min_key_bits=data["minKeyBits"],
        allow_insecure_keys=data["allowInsecureKeys"],
        min_batch_size=data["minBatchSize"],
        trusted_arbiters=tuple(data["trustedArbiters"]),
        max_parties=data["maxParties"],
        approval_timeout=data["approvalTimeout"],
        model_reuse=data["modelReuse"],
        rules=tuple(
            PolicyRule(
                name=r["name"],
                approval=r["approval"],
                peers=tuple(r["peers"]),
                components=tuple(r["components"]),
                tables=tuple(r["tables"]),
                roles=tuple(r["roles"]),
            )
            for r in data["rules"]
        ),
    )


def _module_order(item: tuple[str, int]) -> int:
    return MODULES.index(item[0])


def _exchange(data: dict[str, Any], host_port: int | None) -> Exchange:
    k8s = data["kubernetes"]
    return Exchange(
        enabled=data["enabled"],
        name=data["name"],
        id=data["id"],
        address=data["address"],
        port=data["port"],
        host_port=host_port,
        node_port=k8s.get("nodePort"),
        namespace=k8s.get("namespace") or f"fate-{data['name']}",
        service_type=k8s["serviceType"],
        resources=_resources(data["resources"]),
    )
