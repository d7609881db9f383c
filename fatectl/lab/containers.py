"""The Docker containers of one Compose project, as the compose lab inspects them.

Found by the labels Compose puts on every container, so nothing depends on container
names.
"""

from __future__ import annotations

from dataclasses import dataclass

from fatectl.docker.client import Container as DockerContainer
from fatectl.docker.client import DockerClient

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"


@dataclass(frozen=True)
class Container:
    service: str
    state: str  # running | exited | restarting | created | absent ... (Docker's words)
    health: str  # healthy | unhealthy | starting | "" (no healthcheck)


def project_containers(client: DockerClient, project: str) -> list[DockerContainer]:
    return list(client.containers.list(all=True, filters={"label": f"{PROJECT_LABEL}={project}"}))


def _service(c: DockerContainer) -> str:
    return str(c.labels.get(SERVICE_LABEL, c.name))


def _health(c: DockerContainer) -> str:
    return str((c.attrs.get("State", {}).get("Health") or {}).get("Status", ""))


def states(client: DockerClient, project: str) -> dict[str, Container]:
    """Each service's container state and health."""
    return {_service(c): Container(_service(c), c.status, _health(c)) for c in project_containers(client, project)}


def published_ports(client: DockerClient, project: str) -> set[int]:
    return {
        int(binding["HostPort"])
        for c in project_containers(client, project)
        for bindings in (c.attrs.get("NetworkSettings", {}).get("Ports") or {}).values()
        for binding in bindings or []
        if binding.get("HostPort")
    }


def crashed(client: DockerClient, project: str) -> str | None:
    """A container that keeps dying makes waiting pointless; name it."""
    for c in project_containers(client, project):
        if c.status in ("exited", "dead") or (c.status == "restarting" and c.attrs.get("RestartCount", 0) >= 2):
            return f"{_service(c)} is {c.status} (exit code {c.attrs.get('State', {}).get('ExitCode')})"
    return None


def unhealthy_logs(client: DockerClient, project: str, lines: int = 15) -> str:
    """The last log lines of every started container that is not running healthily."""
    parts = []
    for c in project_containers(client, project):
        health = _health(c)
        if c.status == "created" or (c.status == "running" and health != "unhealthy"):
            continue
        tail = c.logs(tail=lines).decode("utf-8", "replace").rstrip()
        parts.append(f"\n{_service(c)} ({c.status}{', ' + health if health else ''}), last log lines:\n{tail}")
    return "".join(parts)


def log_tail(client: DockerClient, project: str, service: str, lines: int = 20) -> str:
    for c in project_containers(client, project):
        if _service(c) == service:
            return str(c.logs(tail=lines).decode("utf-8", "replace"))
    return f"(no container for {service})"
