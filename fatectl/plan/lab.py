"""What `fatectl up local|compose` would change in a lab: its files and its processes/containers.

The decisions come from the same functions `up` applies (fatectl.lab.changes for processes,
render.compose.service_files for containers), so the plan is what `up` then does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from fatectl.errors import EnvironmentProblem
from fatectl.lab.changes import compose_services, container_actions, read_yaml
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


def plan_compose_lab(fed: Federation, root: Path | None = None) -> Plan:
    lab = ComposeLab.of(fed, root)
    files_plan = plan_compose(fed, lab.directory, lab=True)
    changed = {f.path for p in files_plan.parties for f in p.files}
    notes = list(files_plan.notes)
    files = service_files(fed)
    rendered = render_compose(fed)
    new_model = YAML(typ="safe", pure=True).load(rendered["compose.yaml"])
    new_configs = {svc: YAML(typ="safe", pure=True).load(rendered[paths[0]]) for svc, paths in files.items()}
    changes = container_actions(
        files, changed, {svc: read_yaml(lab.directory / paths[0]) for svc, paths in files.items()}, new_configs,
        compose_services(lab.compose_file), new_model["services"], _containers(lab, notes))
    owners = {f"{n.name}-{m}": n.name for n in fed.nodes() for m in n.module_names}
    actions: dict[str, list[ServiceAction]] = {}
    for change in changes:
        party = owners.get(change.process, change.process.rsplit("-", 1)[0])
        actions.setdefault(party, []).append(ServiceAction(change.process, change.action, change.reason))
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
