"""Engine config files (router.yaml, flow.yaml, board.yaml) for every process of a federation.

One pure function serves the compose lab, the local lab and the Helm chart, so the three
targets cannot disagree about routes. A `Layout` says how a process addresses its peers
and where secrets and data live on that target.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Literal

from fatectl.errors import Problem, RenderError
from fatectl.spec.model import Exchange, Federation, Party, PartyPolicy

LayoutKind = Literal["compose", "local", "helm"]

CONTAINER_SECRETS = "/run/secrets"
CONTAINER_DATA = "/data"
# On Kubernetes a flow with flow.database.existingSecret reads its store's URL from this variable,
# which the chart fills from the Secret: the URL (and any password in it) is in no ConfigMap.
DATABASE_URL_ENV = "FATE_DATABASE_URL"
# A party's own Ray cluster (compute.engine ray without rayAddress): the flow is a Ray Client of
# its head, on the party's private network only, and presents Ray's token from this secret file.
RAY_CLIENT_PORT = 10001
RAY_TOKEN_FILE = "ray_token"


@dataclass(frozen=True)
class Layout:
    """How one deployment target addresses processes and lays out files.

    compose: peers by service name on the federation network at container ports,
             secrets under /run/secrets, data under /data (the party's named volume).
    local:   every process on 127.0.0.1 at the spec's compose host ports (the local lab
             reuses them), secrets under `secrets_dir/<name>/`, data under `data_dir/<name>/`.
    helm:    peers at their spec `address` (nodePort when the router Service is a NodePort),
             the party's own router by its Service name `<release>-router`, secrets and data
             mounted like compose.
    """

    kind: LayoutKind
    secrets_dir: str = CONTAINER_SECRETS
    data_dir: str = CONTAINER_DATA
    release: str = ""  # helm only: release name; empty = the party's name

    @classmethod
    def compose(cls) -> Layout:
        return cls("compose")

    @classmethod
    def local(cls, secrets_dir: str, data_dir: str) -> Layout:
        return cls("local", secrets_dir=str(secrets_dir), data_dir=str(data_dir))

    @classmethod
    def helm(cls, release: str = "") -> Layout:
        return cls("helm", release=release)


def router_service(name: str) -> str:
    """Compose service / Kubernetes Service name of a party's (or the exchange's) router."""
    return f"{name}-router"


def flow_service(name: str) -> str:
    return f"{name}-flow"


def board_service(name: str) -> str:
    return f"{name}-board"


def ray_head_service(name: str) -> str:
    """Compose service / Kubernetes Service name of a party's own Ray head."""
    return f"{name}-ray-head"


def engine_configs(fed: Federation, layout: Layout) -> dict[str, dict[str, Any]]:
    """Map `<name>/router.yaml`, `<name>/flow.yaml`, `<name>/board.yaml` to config dicts.

    Raises RenderError listing every missing host port when the local layout cannot be built.
    """
    _check_layout(fed, layout)
    configs: dict[str, dict[str, Any]] = {}
    exchange = fed.exchange if fed.exchange.enabled else None
    for party in fed.parties:
        configs[f"{party.name}/router.yaml"] = _party_router(fed, party, exchange, layout)
        if "flow" in party.module_names:
            configs[f"{party.name}/flow.yaml"] = _flow(fed, party, layout)
        if "board" in party.module_names:
            configs[f"{party.name}/board.yaml"] = _board(fed, party, layout)
    if exchange is not None:
        configs[f"{exchange.name}/router.yaml"] = _exchange_router(fed, exchange, layout)
    return dict(sorted(configs.items()))


def _check_layout(fed: Federation, layout: Layout) -> None:
    if layout.kind != "local":
        return
    problems = [
        Problem(f"party {p.name} has no compose.hostPorts.{m} (the local lab listens on host ports)")
        for p in fed.parties
        for m in p.module_names
        if m in ("router", "flow") and m not in p.compose.host_ports
    ]
    if fed.exchange.enabled and fed.exchange.host_port is None:
        problems.append(Problem("exchange has no hostPort (the local lab listens on host ports)"))
    if problems:
        raise RenderError("cannot lay out the local lab", problems)


def _listen(port: int, layout: Layout) -> dict[str, Any]:
    return {"host": "127.0.0.1" if layout.kind == "local" else "0.0.0.0", "port": port}


def _secrets_dir(name: str, layout: Layout) -> PurePosixPath:
    if layout.kind == "local":
        return PurePosixPath(layout.secrets_dir) / name
    return PurePosixPath(layout.secrets_dir)


def _data_dir(name: str, process: str, layout: Layout) -> str:
    if layout.kind == "local":
        return str(PurePosixPath(layout.data_dir) / name / process)
    return str(PurePosixPath(layout.data_dir) / process)


def _tls(fed: Federation, name: str, layout: Layout) -> dict[str, Any]:
    if fed.security.tls == "none":
        return {"mode": "none"}
    base = _secrets_dir(name, layout)
    return {
        "mode": fed.security.tls,
        "ca_file": str(base / "ca.crt"),
        "cert_file": str(base / "tls.crt"),
        "key_file": str(base / "tls.key"),
    }


def _own_port(party: Party, module: str, layout: Layout) -> int:
    """Port a party's process listens on (local lab: its host port)."""
    if layout.kind == "local":
        return party.compose.host_ports[module]
    mod = party.module(module)
    assert mod is not None
    return mod.port


def _peer_endpoint(party: Party, layout: Layout) -> dict[str, Any]:
    """Where another process reaches this party's router."""
    if layout.kind == "local":
        return {"host": "127.0.0.1", "port": party.compose.host_ports["router"]}
    if layout.kind == "compose":
        return {"host": router_service(party.name), "port": party.router_port}
    router = party.module("router")
    assert router is not None
    node_port = router.node_port if party.kubernetes.service_type == "NodePort" else None
    return {"host": party.address, "port": node_port or router.port}


def _exchange_endpoint(exchange: Exchange, layout: Layout) -> dict[str, Any]:
    if layout.kind == "local":
        assert exchange.host_port is not None
        return {"host": "127.0.0.1", "port": exchange.host_port}
    if layout.kind == "compose":
        return {"host": router_service(exchange.name), "port": exchange.port}
    node_port = exchange.node_port if exchange.service_type == "NodePort" else None
    return {"host": exchange.address, "port": node_port or exchange.port}


def _own_router(party: Party, layout: Layout) -> dict[str, Any]:
    """Where a party's flow/board reach the party's own router."""
    if layout.kind == "local":
        return {"host": "127.0.0.1", "port": party.compose.host_ports["router"]}
    name = router_service(layout.release or party.name)
    return {"host": name, "port": party.router_port}


def _party_router(fed: Federation, party: Party, exchange: Exchange | None, layout: Layout) -> dict[str, Any]:
    if exchange is None:
        routes = [{"party_id": p.id, **_peer_endpoint(p, layout)} for p in fed.peers_of(party.id)]
        default_route = None
    else:
        # Star topology: a party knows only the exchange; the exchange knows everyone.
        routes = []
        # The exchange's id pins which certificate the next hop must present.
        default_route = {**_exchange_endpoint(exchange, layout), "party_id": exchange.id}
    return {
        "party_id": party.id,
        "role": "party",
        "listen": _listen(_own_port(party, "router", layout), layout),
        "tls": _tls(fed, party.name, layout),
        "routes": sorted(routes, key=lambda r: r["party_id"]),
        "default_route": default_route,
        "data_dir": _data_dir(party.name, "router", layout),
    }


def _exchange_router(fed: Federation, exchange: Exchange, layout: Layout) -> dict[str, Any]:
    port = exchange.host_port if layout.kind == "local" and exchange.host_port else exchange.port
    return {
        "party_id": exchange.id,
        "role": "exchange",
        "listen": _listen(port, layout),
        "tls": _tls(fed, exchange.name, layout),
        "routes": [
            {"party_id": p.id, **_peer_endpoint(p, layout)} for p in sorted(fed.parties, key=lambda p: p.id)
        ],
        "default_route": None,
        "data_dir": _data_dir(exchange.name, "router", layout),
    }


def _secret_file(party: Party, layout: Layout, name: str) -> str:
    return str(_secrets_dir(party.name, layout) / name)


def _flow(fed: Federation, party: Party, layout: Layout) -> dict[str, Any]:
    flow = party.module("flow")
    on_postgres = layout.kind == "helm" and flow is not None and bool(flow.database_secret)
    return {
        "party_id": party.id,
        "listen": _listen(_own_port(party, "flow", layout), layout),
        "token_file": _secret_file(party, layout, "flow_token"),
        # Read-only: the board's credential, so no board (or its login) ever holds the flow token.
        "reader_token_file": _secret_file(party, layout, "flow_reader_token"),
        "router": _own_router(party, layout),
        "tls": _tls(fed, party.name, layout),
        "data_dir": _data_dir(party.name, "flow", layout),
        "database_url": "",
        **({"database_url_env": DATABASE_URL_ENV} if on_postgres else {}),
        # In a star topology the router knows only the exchange, so the flow is told whom to expect.
        "peers": [p.id for p in fed.peers_of(party.id)],
        "policy": flow_policy(party.policy),
        "compute": flow_compute(party, layout),
    }


def flow_compute(party: Party, layout: Layout) -> dict[str, Any]:
    """The flow's compute section (fate.compute reads it).

    engine ray without rayAddress: compose and Helm start the party's own Ray head and workers,
    and the flow reaches the head as a Ray Client with the party's Ray token; the local lab
    leaves the address empty, so the flow starts a private Ray of its own on this machine.
    With rayAddress the flow joins that cluster, presenting a token only when the chart is
    given one (kubernetes.existingRayTokenSecret).
    """
    compute = party.compute
    address, token_file = compute.ray_address, ""
    if compute.starts_ray and layout.kind != "local":
        address = f"ray://{ray_head_service(layout.release or party.name)}:{RAY_CLIENT_PORT}"
        token_file = _secret_file(party, layout, RAY_TOKEN_FILE)
    elif compute.ray_address and layout.kind == "helm" and party.kubernetes.existing_ray_token_secret:
        token_file = _secret_file(party, layout, RAY_TOKEN_FILE)
    return {
        "engine": compute.engine,
        "workers": compute.workers,
        "cpus_per_worker": compute.cpus_per_worker,
        "address": address,
        "token_file": token_file,
    }


def flow_policy(policy: PartyPolicy) -> dict[str, Any]:
    """The party's policy as its flow reads it (fate.flow.policy, snake_case); every field written,
    so the flow config says exactly what the party enforces."""
    return {
        "approval": policy.approval,
        "min_key_bits": policy.min_key_bits,
        "allow_insecure_keys": policy.allow_insecure_keys,
        "min_batch_size": policy.min_batch_size,
        "trusted_arbiters": list(policy.trusted_arbiters),
        "max_parties": policy.max_parties,
        "approval_timeout": policy.approval_timeout,
        "model_reuse": policy.model_reuse,
        "rules": [
            {"name": r.name, "approval": r.approval, "peers": list(r.peers), "components": list(r.components),
             "tables": list(r.tables), "roles": list(r.roles)}
            for r in policy.rules
        ],
    }


def _board(fed: Federation, party: Party, layout: Layout) -> dict[str, Any]:
    board = party.module("board")
    assert board is not None
    if layout.kind == "local":
        flow = {"host": "127.0.0.1", "port": party.compose.host_ports["flow"]}
        port = party.compose.host_ports.get("board", board.port)
    else:
        flow_mod = party.module("flow")
        assert flow_mod is not None
        flow = {"host": flow_service(layout.release or party.name), "port": flow_mod.port}
        port = board.port
    return {
        "party_id": party.id,
        "listen": _listen(port, layout),
        "flow": flow,
        "token_file": _secret_file(party, layout, "flow_reader_token"),
        "password_file": _secret_file(party, layout, "board_password"),
    }
