"""What applying a new engine config to a running process takes: nothing, a reload, a restart.

Routers re-read their routes and TLS files on SIGHUP (and when their TLS files change);
flows re-read their peers. Everything else a process reads once at start, so any other
change restarts it. `up local` applies changes this way, and `fatectl diff --lab local`
shows the same decisions before anything happens, from the same function.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

# Top-level config keys a running process takes on SIGHUP, by process kind.
RELOADABLE: Mapping[str, frozenset[str]] = {
    "router": frozenset({"routes", "default_route"}),
    "flow": frozenset({"peers"}),
    "board": frozenset(),
}


@dataclass(frozen=True)
class ProcessChange:
    process: str  # "<party>/<module>"
    action: str  # start | reload | restart | stop
    reason: str = ""


def module_of(process: str) -> str:
    return process.rsplit("/", 1)[1]


def changed_keys(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))


def process_changes(
    wanted: Mapping[str, Mapping[str, Any]],
    current: Mapping[str, Mapping[str, Any] | None],
    alive: Mapping[str, bool],
) -> list[ProcessChange]:
    """Decisions for every process: `wanted`/`current` configs and liveness by "<party>/<module>"."""
    out: list[ProcessChange] = []
    for process in sorted(set(wanted) | {p for p, up in alive.items() if up}):
        running = alive.get(process, False)
        if process not in wanted:
            out.append(ProcessChange(process, "stop", "no longer in the spec"))
            continue
        if not running:
            out.append(ProcessChange(process, "start", "not running"))
            continue
        old = current.get(process)
        if old is None:
            out.append(ProcessChange(process, "restart", "its config file is missing"))
            continue
        keys = changed_keys(old, wanted[process])
        if not keys:
            continue
        fixed = [k for k in keys if k not in RELOADABLE.get(module_of(process), frozenset())]
        if fixed:
            out.append(ProcessChange(process, "restart", f"{', '.join(fixed)} changed"))
        else:
            out.append(ProcessChange(process, "reload", f"{', '.join(keys)} changed (SIGHUP)"))
    return out


def read_yaml(path: Path) -> Any:
    """A config or compose file as data; None when absent or unreadable."""
    try:
        return YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))
    except (OSError, YAMLError):
        return None


def compose_services(path: Path) -> dict[str, Any]:
    model = read_yaml(path)
    services = model.get("services") if isinstance(model, dict) else None
    return services if isinstance(services, dict) else {}


def container_actions(
    files: Mapping[str, list[str]],
    changed: set[str],
    old_configs: Mapping[str, Any],
    new_configs: Mapping[str, Any],
    old_defs: Mapping[str, Any],
    new_defs: Mapping[str, Any],
    running: set[str] | None,
) -> list[ProcessChange]:
    """Decisions for every compose service: create, recreate, reload (SIGHUP) or remove.

    `files` is what each service reads (render.compose.service_files: config, then secrets);
    `changed` the project files that changed; configs and definitions before and after;
    `running` the services with a running container (None when unknown).
    """
    out: list[ProcessChange] = []
    for service in sorted(set(old_defs) | set(new_defs)):
        if service not in new_defs:
            out.append(ProcessChange(service, "remove", "no longer in the spec"))
        elif running is not None and service not in running:
            out.append(ProcessChange(service, "create", "no running container"))
        elif service not in old_defs:
            out.append(ProcessChange(service, "create", "new service"))
        elif old_defs[service] != new_defs[service]:
            out.append(ProcessChange(service, "recreate", "its compose definition changed"))
        elif secrets := [f for f in files.get(service, [])[1:] if f in changed]:
            out.append(ProcessChange(service, "recreate", f"mounted {', '.join(secrets)} changed"))
        elif isinstance(old_configs.get(service), Mapping) and isinstance(new_configs.get(service), Mapping):
            keys = changed_keys(old_configs[service], new_configs[service])
            fixed = [k for k in keys if k not in RELOADABLE.get(service.rsplit("-", 1)[1], frozenset())]
            if fixed:
                out.append(ProcessChange(service, "recreate", f"{', '.join(fixed)} changed"))
            elif keys:
                out.append(ProcessChange(service, "reload", f"{', '.join(keys)} changed (SIGHUP)"))
        elif any(f in changed for f in files.get(service, [])[:1]):
            out.append(ProcessChange(service, "recreate", "its config changed"))
    return out
