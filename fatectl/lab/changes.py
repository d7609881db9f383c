"""What applying a new engine config to a running process takes: nothing, a reload, a restart.

Routers re-read their routes and TLS files on SIGHUP (and when their TLS files change);
flows re-read their peers. Everything else a process reads once at start, so any other
change restarts it. `up local` applies changes this way, and `fatectl diff --lab local`
shows the same decisions before anything happens, from the same function.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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
