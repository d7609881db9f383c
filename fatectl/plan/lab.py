"""What `fatectl up local|compose` would change in a lab: its files and its processes/containers.

The decisions come from the same functions `up` applies (fatectl.lab.changes for processes,
render.compose.service_files for containers), so the plan is what `up` then does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from fatectl.errors import EnvironmentProblem
from fatectl.lab.compose import ComposeLab
from fatectl.lab.local import LocalLab
from fatectl.plan.files import compare, files_under
from fatectl.plan.model import Plan, ServiceAction
from fatectl.plan.render import group, plan_compose, secret_changes
from fatectl.render.compose import render_compose, service_files
from fatectl.spec.model import Federation

_STOP = "its party left the spec; `up` stops it"


def plan_local(fed: Federation, root: Path | None = None) -> Plan:
    lab = LocalLab.of(fed, root)
    configs = lab.configs()
    wanted = {f"config/{name}": json.dumps(cfg, indent=2, sort_keys=True) + "\n" for name, cfg in configs.items()}
    names = {n.name for n in fed.nodes()}
    stale = {rel for rel in files_under(lab.directory, "config") if rel.split("/")[1] not in names}
    files = compare(lab.directory, wanted, lambda rel: False, stale, _STOP)
    files += secret_changes(fed, lab.directory, lab.secrets_dir)
    services: dict[str, list[ServiceAction]] = {}
    for change in lab.changes(configs):
        party = change.process.split("/")[0]
        services.setdefault(party, []).append(ServiceAction(change.process, change.action, change.reason))
    notes = () if lab.state_file.exists() else ("the local lab is not running: `up local` starts every process",)
    return Plan(f"local lab {lab.directory}", group(fed, files, {}, services, _owner(fed)), notes)


def _owner(fed: Federation) -> Any:
    names = {n.name for n in fed.nodes()}

    def owner(rel: str) -> str:
        parts = rel.split("/")
        for part in parts[:2]:
            if part in names or (parts[0] == "config" and part == parts[1]):
                return part
        return "(federation)"

    return owner


def _services(text: str | None) -> dict[str, Any]:
    if text is None:
        return {}
    try:
        model = YAML(typ="safe", pure=True).load(text)
    except YAMLError:
        return {}
    services = model.get("services") if isinstance(model, dict) else None
    return services if isinstance(services, dict) else {}


def plan_compose_lab(fed: Federation, root: Path | None = None) -> Plan:
    lab = ComposeLab.of(fed, root)
    files_plan = plan_compose(fed, lab.directory, lab=True)
    changed = {f.path for p in files_plan.parties for f in p.files}
    old = _services(lab.compose_file.read_text("utf-8") if lab.compose_file.is_file() else None)
    new = _services(render_compose(fed)["compose.yaml"])
    notes = list(files_plan.notes)
    running = _containers(lab, notes)
    actions: dict[str, list[ServiceAction]] = {}
    mounts = service_files(fed)
    owners = {f"{n.name}-{m}": n.name for n in fed.nodes() for m in n.module_names}
    for service in sorted(set(old) | set(new)):
        action = _action(service, old, new, mounts, changed, running)
        if action is not None:
            party = owners.get(service, service.rsplit("-", 1)[0])
            actions.setdefault(party, []).append(action)
    all_files = [f for p in files_plan.parties for f in p.files]
    return Plan(f"compose lab {lab.directory}", group(fed, all_files, {}, actions, _owner(fed)), tuple(notes))


def _containers(lab: ComposeLab, notes: list[str]) -> set[str] | None:
    """Services that have a container now; None when no Docker engine answers."""
    try:
        from fatectl.docker.client import docker_client
        from fatectl.lab.containers import states

        return set(states(docker_client(), lab.project))
    except EnvironmentProblem:
        notes.append("container states unknown: no Docker engine answers")
        return None


def _action(
    service: str,
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    mounts: Mapping[str, list[str]],
    changed: set[str],
    running: set[str] | None,
) -> ServiceAction | None:
    if service not in new:
        return ServiceAction(service, "remove", "no longer in the spec")
    if running is not None and service not in running:
        return ServiceAction(service, "create", "no container yet")
    if service not in old:
        return ServiceAction(service, "create", "new service")
    if old[service] != new[service]:
        return ServiceAction(service, "recreate", "its compose definition changed")
    touched = [f for f in mounts.get(service, []) if f in changed]
    if touched:
        return ServiceAction(service, "recreate", f"mounted {', '.join(touched)} changed")
    return None
