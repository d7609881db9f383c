"""Helm charts: a static Go-template chart plus Jinja-rendered values.yaml and Chart.yaml.

Pure: `render_helm(fed)` returns {relative path: text}; writing and secrets live elsewhere.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from fatectl import __version__
from fatectl.render.engine import Layout, engine_configs
from fatectl.render.ray import memory_bytes, object_store_bytes
from fatectl.render.templating import render_template
from fatectl.resources import templates_root
from fatectl.spec.model import DEFAULT_PORTS, Compute, Exchange, Federation, Module, Party, Resources, thaw

CHART_DIR = "helm/fate-party"
# Disk for the bodies a router holds (spooled above 4 MiB). The router refuses past its own
# total_bytes (1 GiB by default) first; this is the kubelet's backstop, which evicts the pod.
SPOOL_SIZE_LIMIT = "2Gi"
# Fixed non-root ids: the restricted Pod Security Standard forbids root, and fixed ids
# let fsGroup make the mounted secrets readable without world permissions.
RUN_AS = 10001


def chart_sources() -> dict[str, str]:
    """The static chart files, copied verbatim (Go templates never pass through Jinja)."""
    root = templates_root() / CHART_DIR
    return {
        str(path.relative_to(root)): path.read_text(encoding="utf-8")
        for path in sorted(root.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def render_helm(fed: Federation, party_id: int | None = None) -> dict[str, str]:
    """Charts for every party and the enabled exchange (or only `party_id`), keyed `<name>/<file>`."""
    targets = _targets(fed, party_id)
    static = chart_sources()
    files: dict[str, str] = {}
    for name in targets:
        values = chart_values(fed, name)
        files[f"{name}/Chart.yaml"] = render_template(
            "helm/Chart.yaml.j2",
            role=values["role"],
            party_name=name,
            party_id=values["partyId"],
            federation=fed.name,
            chart_version=__version__,
            app_version=fed.engine.tag,
        )
        files[f"{name}/values.yaml"] = render_template(
            "helm/values.yaml.j2", v=values, namespace=_namespace(fed, name)
        )
        files.update({f"{name}/{path}": text for path, text in static.items()})
    return dict(sorted(files.items()))


def chart_names(fed: Federation) -> tuple[str, ...]:
    return tuple(n.name for n in fed.nodes())


def _targets(fed: Federation, party_id: int | None) -> tuple[str, ...]:
    if party_id is None:
        return chart_names(fed)
    return (fed.node(party_id).name,)


def _namespace(fed: Federation, name: str) -> str:
    return fed.node_named(name).namespace


def chart_values(fed: Federation, name: str) -> dict[str, Any]:
    """values.yaml content for the chart of party (or exchange) `name`, as data."""
    configs = engine_configs(fed, Layout.helm(release=name))
    router = configs[f"{name}/router.yaml"]
    routes = [{"partyId": r["party_id"], "host": r["host"], "port": r["port"]} for r in router["routes"]]
    node = fed.node_named(name)
    party = None if node.is_exchange else fed.party(node.id)
    common = {
        "federation": fed.name,
        "role": node.role,
        "partyId": party.id if party else fed.exchange.id,
        "partyName": name,
        "image": {
            "registry": fed.engine.registry,
            "repository": fed.engine.image,
            "tag": fed.engine.tag,
            "pullPolicy": fed.engine.pull_policy,
        },
        "imagePullSecrets": list(fed.engine.image_pull_secrets),
        "securityContext": {"runAsUser": RUN_AS, "runAsGroup": RUN_AS, "fsGroup": RUN_AS},
    }
    if party is None:
        return {**common, **_exchange_values(fed, fed.exchange, routes)}
    default = router["default_route"]
    if default is not None:
        default = {"partyId": default["party_id"], "host": default["host"], "port": default["port"]}
    values = _party_values(fed, party, routes, default)
    flow = configs.get(f"{name}/flow.yaml")
    if flow is not None:  # the same policy the local and compose labs get, from the one renderer
        values["flow"]["policy"] = flow["policy"]
    return {**common, **values}


def _resources(module: Module | None) -> dict[str, Any]:
    return _resources_of(module.resources) if module else {}


def _resources_of(resources: Resources) -> dict[str, Any]:
    out = {"requests": thaw(resources.requests), "limits": thaw(resources.limits)}
    return {k: v for k, v in out.items() if v}


def _party_values(
    fed: Federation, party: Party, routes: list[dict[str, Any]], default_route: dict[str, Any] | None
) -> dict[str, Any]:
    k8s = party.kubernetes
    router, flow, board = (party.module(m) for m in ("router", "flow", "board"))
    assert router is not None
    persistence = flow.persistence if flow and flow.persistence else None
    peers = [fed.exchange] if fed.exchange.enabled else list(fed.peers_of(party.id))
    return {
        "tls": {"mode": fed.security.tls, "existingSecret": k8s.existing_tls_secret},
        "token": {"existingSecret": k8s.existing_token_secret},
        "router": {
            "port": router.port,
            "service": {
                "type": k8s.service_type,
                "nodePort": router.node_port if k8s.service_type == "NodePort" else None,
            },
            "routes": routes,
            "defaultRoute": default_route,
            "resources": _resources(router),
            "spool": {"sizeLimit": SPOOL_SIZE_LIMIT},
        },
        "flow": {
            "enabled": flow is not None,
            "port": flow.port if flow else DEFAULT_PORTS["flow"],
            "resources": _resources(flow),
            "peers": [p.id for p in fed.peers_of(party.id)],
            "persistence": {
                "size": persistence.size if persistence else "10Gi",
                "storageClass": persistence.storage_class if persistence else "",
                "existingClaim": persistence.existing_claim if persistence else "",
            },
            "database": {"existingSecret": flow.database_secret if flow else ""},
        },
        "board": {
            "enabled": board is not None,
            "port": board.port if board else DEFAULT_PORTS["board"],
            "resources": _resources(board),
            "ingress": {
                "enabled": board is not None and k8s.ingress.enabled,
                "host": k8s.ingress.host,
                "className": k8s.ingress.class_name,
                "tlsSecret": k8s.ingress.tls_secret,
            },
        },
        "networkPolicy": {"enabled": True, "peers": [_policy_peer(p) for p in peers], "extraFlowSources": []},
        **_compute_values(party.compute, k8s.existing_ray_token_secret),
        "nodeSelector": thaw(k8s.node_selector),
        "tolerations": thaw(k8s.tolerations),
        "affinity": thaw(k8s.affinity),
    }


def _exchange_values(fed: Federation, exchange: Exchange, routes: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "tls": {"mode": fed.security.tls, "existingSecret": ""},
        "token": {"existingSecret": ""},
        "router": {
            "port": exchange.port,
            "service": {
                "type": exchange.service_type,
                "nodePort": exchange.node_port if exchange.service_type == "NodePort" else None,
            },
            "routes": routes,
            "defaultRoute": None,
            "resources": _resources_of(exchange.resources),
            "spool": {"sizeLimit": SPOOL_SIZE_LIMIT},
        },
        "flow": {
            "enabled": False,
            "port": DEFAULT_PORTS["flow"],
            "resources": {},
            "peers": [],
            "persistence": {"size": "10Gi", "storageClass": "", "existingClaim": ""},
            "database": {"existingSecret": ""},
        },
        "board": {
            "enabled": False,
            "port": DEFAULT_PORTS["board"],
            "resources": {},
            "ingress": {"enabled": False, "host": "", "className": "", "tlsSecret": ""},
        },
        "networkPolicy": {
            "enabled": True,
            "peers": [_policy_peer(p) for p in fed.parties],
            "extraFlowSources": [],
        },
        **_compute_values(Compute(), ""),
        "nodeSelector": {},
        "tolerations": [],
        "affinity": {},
    }


def _compute_values(compute: Compute, token_secret: str) -> dict[str, Any]:
    """compute as the chart reads it, and the sizing of the Ray cluster it starts for engine ray."""
    return {
        "compute": {
            "engine": compute.engine,
            "workers": compute.workers,
            "cpusPerWorker": compute.cpus_per_worker,
            "memory": compute.memory,
            "rayAddress": compute.ray_address,
        },
        "ray": {
            "objectStoreMemory": object_store_bytes(memory_bytes(compute.memory)),
            "token": {"existingSecret": token_secret},
        },
    }


def _policy_peer(peer: Party | Exchange) -> dict[str, Any]:
    """A peer allowed to reach the router: by IP when its address is one, else by namespace."""
    try:
        ip = ipaddress.ip_address(peer.address)
    except ValueError:
        ns = peer.kubernetes.namespace if isinstance(peer, Party) else peer.namespace
        return {"partyId": peer.id, "namespace": ns}
    return {"partyId": peer.id, "cidr": f"{ip}/{ip.max_prefixlen}"}
