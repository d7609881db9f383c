"""The compose lab: every party (and the exchange) as services of one Compose project.

Pure: `render_compose(fed)` returns {relative path: text}; secrets are written elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fatectl.render import ray
from fatectl.render.engine import (
    RAY_TOKEN_FILE,
    Layout,
    board_service,
    engine_configs,
    flow_service,
    ray_head_service,
    router_service,
)
from fatectl.render.templating import render_template
from fatectl.render.yamltext import dump_yaml
from fatectl.spec.model import Federation, Party

TLS_FILES = ("ca.crt", "tls.crt", "tls.key")
# A party's config directory is bind-mounted whole, not file by file: fatectl replaces a config
# by rename, and only a directory mount shows a running container the new file. So routes and
# peers reach running routers and flows by a reload (SIGHUP), no new container needed.
CONFIG_MOUNT = "/etc/fate"
TOKEN_FILE = "flow_token"
READER_TOKEN_FILE = "flow_reader_token"
BOARD_PASSWORD_FILE = "board_password"


@dataclass(frozen=True)
class Service:
    name: str
    command: list[str]
    config_dir: str  # ./config/<owner>, mounted read-only at CONFIG_MOUNT
    networks: list[str]
    volume: str
    secrets: list[dict[str, str]] = field(default_factory=list)
    ports: list[str] = field(default_factory=list)
    healthcheck: list[str] = field(default_factory=list)
    depends_on: list[dict[str, str]] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict)
    # Ray nodes: CPU and memory limits, /dev/shm for the object store, a slower health check
    # (each check starts a Python that imports ray).
    cpus: int = 0
    mem_limit: int = 0
    shm_size: int = 0
    check_interval: str = "10s"


def secret_files(fed: Federation) -> dict[str, list[str]]:
    """Secret files each compose process needs, relative to the project's secrets/ directory."""
    tls = list(TLS_FILES) if fed.security.tls != "none" else []
    needs: dict[str, list[str]] = {}
    for p in fed.parties:
        needs[router_service(p.name)] = [f"{p.name}/{f}" for f in tls]
        if "flow" in p.module_names:
            ray_token = [RAY_TOKEN_FILE] if p.compute.starts_ray else []
            needs[flow_service(p.name)] = [f"{p.name}/{f}" for f in [*tls, TOKEN_FILE, READER_TOKEN_FILE, *ray_token]]
        for service in ray_services(p):
            needs[service] = [f"{p.name}/{RAY_TOKEN_FILE}"]
        if "board" in p.module_names:
            needs[board_service(p.name)] = [f"{p.name}/{f}" for f in (READER_TOKEN_FILE, BOARD_PASSWORD_FILE)]
    if fed.exchange.enabled:
        needs[router_service(fed.exchange.name)] = [f"{fed.exchange.name}/{f}" for f in tls]
    return needs


def ray_services(party: Party) -> list[str]:
    """Compose services of the party's own Ray cluster (none unless compute.engine ray without rayAddress)."""
    if not party.compute.starts_ray:
        return []
    return [ray_head_service(party.name), *(node.name for node in ray.worker_nodes(party))]


def service_files(fed: Federation) -> dict[str, list[str]]:
    """Files each compose service reads, relative to the project directory: its config first
    (seen live through the config directory mount), then its secrets (bind-mounted file by
    file, so a rewritten secret reaches only a new container).
    """
    needs = secret_files(fed)
    out: dict[str, list[str]] = {}
    for node in fed.nodes():
        for module in node.module_names:
            service = f"{node.name}-{module}"
            out[service] = [f"config/{node.name}/{module}.yaml", *(f"secrets/{f}" for f in needs.get(service, []))]
    return out


def render_compose(fed: Federation) -> dict[str, str]:
    """`compose.yaml` plus `config/<name>/<process>.yaml` for every process."""
    configs = engine_configs(fed, Layout.compose())
    needs = secret_files(fed)
    services: list[Service] = []
    for party in fed.parties:
        services.extend(_party_services(party, needs))
    if fed.exchange.enabled:
        ex = fed.exchange
        ports = [f"127.0.0.1:{ex.host_port}:{ex.port}"] if ex.host_port else []
        services.append(_process(ex.name, "router", needs, ["federation"], ports))
    files = {f"config/{path}": dump_yaml(cfg) for path, cfg in configs.items()}
    files["compose.yaml"] = render_template(
        "compose/compose.yaml.j2",
        name=fed.name,
        image=fed.engine.ref,
        pull_policy=_pull_policy(fed.engine.pull_policy),
        services=services,
        networks=[p.name for p in fed.parties],
        volumes=sorted({s.volume for s in services if s.volume}),
        secrets=[
            {"name": _secret_name(path), "file": f"./secrets/{path}"}
            for path in sorted({f for files in needs.values() for f in files})
        ],
    )
    return dict(sorted(files.items()))


def _pull_policy(k8s_policy: str) -> str:
    # The lab image is built or loaded locally, never pulled, unless the spec insists.
    return {"Always": "always", "Never": "never"}.get(k8s_policy, "missing")


def _party_services(party: Party, needs: dict[str, list[str]]) -> list[Service]:
    ports = party.compose.host_ports
    out = []
    for module in party.modules:
        networks = [party.name, "federation"] if module.name == "router" else [party.name]
        published = [f"127.0.0.1:{ports[module.name]}:{module.port}"] if module.name in ports else []
        out.append(_process(party.name, module.name, needs, networks, published))
    if party.compute.starts_ray:
        out.extend(_ray_services(party, needs))
        flow = next(s for s in out if s.name == flow_service(party.name))
        # The flow is the cluster's Ray Client: it presents the token too (fate.compute also sets this).
        flow.environment.update({k: v for k, v in ray.ENVIRONMENT.items()})
        flow.depends_on.append({"name": ray_head_service(party.name), "condition": "service_healthy"})
    return out


def _ray_services(party: Party, needs: dict[str, list[str]]) -> list[Service]:
    """The party's Ray head and workers: on the party's network only (never `federation`, no host
    port), so no other party's container can even resolve them."""
    head = ray.head_node(party)
    out = []
    for node, is_head in ((head, True), *((w, False) for w in ray.worker_nodes(party))):
        out.append(Service(
            name=node.name,
            command=list(node.command),
            config_dir="",
            networks=[party.name],
            volume="",
            secrets=[{"source": _secret_name(f), "target": f.split("/", 1)[1]} for f in needs.get(node.name, [])],
            healthcheck=["CMD", *ray.health_command(head.name, client_server=is_head)],
            depends_on=[] if is_head else [{"name": head.name, "condition": "service_healthy"}],
            environment=dict(ray.ENVIRONMENT),
            cpus=node.cpus,
            mem_limit=node.memory_bytes,
            shm_size=node.shm_bytes,
            check_interval="30s",
        ))
    return out


def _process(
    owner: str, module: str, needs: dict[str, list[str]], networks: list[str], ports: list[str]
) -> Service:
    service = f"{owner}-{module}"
    target = f"{CONFIG_MOUNT}/{module}.yaml"
    upstream = {"flow": router_service(owner), "board": flow_service(owner)}.get(module)
    return Service(
        name=service,
        command=["python", "-m", "fate", module, "--config", target],
        config_dir=f"./config/{owner}",
        networks=networks,
        volume="" if module == "board" else f"{owner}-data",
        secrets=[{"source": _secret_name(f), "target": f.split("/", 1)[1]} for f in needs.get(service, [])],
        ports=ports,
        healthcheck=["CMD", "python", "-m", "fate", "check", module, "--config", target],
        depends_on=[{"name": upstream, "condition": "service_healthy"}] if upstream else [],
    )


def _secret_name(path: str) -> str:
    return path.replace("/", "-").replace(".", "-").replace("_", "-")
