"""The local lab: every party's router and flow (and the exchange) as processes on this host.

No Docker needed: the embedded default and the basis of the integration tests. State
lives under `.lab/<federation>/local/` (configs, secrets, data, logs, state.json with
the pids); processes listen on 127.0.0.1 at the spec's compose host ports, so the
same client commands reach a local or a compose lab.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fatectl.errors import EnvironmentProblem, Problem
from fatectl.readiness import Readiness, port_free, probe_federation, wait_ready
from fatectl.render.engine import Layout, engine_configs
from fatectl.render.writer import write_file
from fatectl.secrets import ensure_secrets
from fatectl.spec.model import Federation, Party

LAB_ROOT_ENV = "FATECTL_LAB_DIR"
Progress = Callable[[str], None]


@dataclass(frozen=True)
class LocalLab:
    fed: Federation
    directory: Path  # .lab/<name>/local

    @property
    def secrets_dir(self) -> Path:
        return self.directory / "secrets"

    @property
    def state_file(self) -> Path:
        return self.directory / "state.json"

    def log_file(self, process: str) -> Path:
        return self.directory / "logs" / f"{process.replace('/', '.')}.log"


@dataclass(frozen=True)
class Process:
    name: str  # "<party>/router", "<party>/flow", "<exchange>/router"
    pid: int | None
    alive: bool
    port: int


@dataclass(frozen=True)
class LocalStatus:
    lab: LocalLab
    processes: tuple[Process, ...]
    readiness: Readiness


def lab_for(fed: Federation, root: Path | None = None) -> LocalLab:
    base = root or Path(os.environ.get(LAB_ROOT_ENV, ".lab"))
    return LocalLab(fed, (base / fed.name / "local").absolute())


def _configs(lab: LocalLab) -> dict[str, dict[str, Any]]:
    return engine_configs(lab.fed, Layout.local(str(lab.secrets_dir), str(lab.directory / "data")))


_SERVICE_ORDER = ("router", "flow", "board")


def _start_order(name: str) -> tuple[int, str]:
    # Routers before flows (a flow asks its router for peers when it starts), boards last (they read flows).
    return (_SERVICE_ORDER.index(name.rsplit("/", 1)[1].removesuffix(".yaml")), name)


def _read_state(lab: LocalLab) -> dict[str, dict[str, Any]]:
    try:
        state: dict[str, dict[str, Any]] = json.loads(lab.state_file.read_text(encoding="utf-8"))
        return state
    except (OSError, ValueError):
        return {}


def _alive(entry: dict[str, Any] | None) -> bool:
    """The recorded process still runs and is still ours (pids get reused)."""
    if not entry:
        return False
    try:
        cmdline = Path(f"/proc/{entry['pid']}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return entry["config"].encode() in cmdline


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _start(lab: LocalLab, name: str, config_path: Path) -> dict[str, Any]:
    service = name.rsplit("/", 1)[1].removesuffix(".yaml")
    process = name.removesuffix(".yaml")
    log_file = lab.log_file(process)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "fate", service, "--config", str(config_path)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: `down` stops it with its workers
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    return {"pid": proc.pid, "config": str(config_path), "log": str(log_file)}


def up(
    fed: Federation, root: Path | None = None, timeout: float = 120.0, progress: Progress = lambda _: None
) -> LocalStatus:
    """Start whatever of the lab is not running and wait until every flow and declared link is up."""
    lab = lab_for(fed, root)
    try:
        lab.directory.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise EnvironmentProblem(f"cannot create the lab directory {lab.directory}: {err.strerror or err}") from None
    os.chmod(lab.directory, 0o700)  # every party's tables, models and job logs live below
    ensure_secrets(fed, lab.secrets_dir)
    configs = _configs(lab)
    state = _read_state(lab)
    to_start = [
        n for n in sorted(configs, key=_start_order) if not _alive(state.get(n.removesuffix(".yaml")))
    ]
    busy = [
        Problem(
            f"port {cfg['listen']['port']} on 127.0.0.1 (for {name.removesuffix('.yaml')}) is in use by another program"
        )
        for name, cfg in configs.items()
        if name in to_start and not port_free(int(cfg["listen"]["port"]))
    ]
    if busy:
        raise EnvironmentProblem(
            f"cannot start the local lab of {fed.name}: ports in use (stop the other program or change compose.hostPorts)",
            busy,
        )
    for name in to_start:
        path = lab.directory / "config" / name
        write_file(path, json.dumps(configs[name], indent=2, sort_keys=True) + "\n", 0o600)
        progress(f"starting {name.removesuffix('.yaml')} on 127.0.0.1:{configs[name]['listen']['port']}")
        state[name.removesuffix(".yaml")] = _start(lab, name, path)
        write_file(lab.state_file, json.dumps(state, indent=2, sort_keys=True) + "\n", 0o600)

    def crashed() -> str | None:
        dead = [n for n, entry in state.items() if not _alive(entry)]
        if not dead:
            return None
        return "; ".join(f"{n} exited; last log lines:\n{tail(Path(state[n]['log']))}" for n in dead)

    def diagnose(party: Party, module: str) -> str:
        entry = state.get(f"{party.name}/{module}")
        return tail(Path(entry["log"])) if entry else ""

    readiness = wait_ready(
        fed, lab.secrets_dir, timeout, progress, diagnose=diagnose, abort=crashed, interval=0.5
    )
    return LocalStatus(lab, _processes(lab, configs, state), readiness)


def _processes(
    lab: LocalLab, configs: dict[str, dict[str, Any]], state: dict[str, dict[str, Any]]
) -> tuple[Process, ...]:
    out = []
    for name in sorted(configs, key=_start_order):
        key = name.removesuffix(".yaml")
        entry = state.get(key)
        out.append(
            Process(key, entry["pid"] if entry else None, _alive(entry), int(configs[name]["listen"]["port"]))
        )
    return tuple(out)


def status(fed: Federation, root: Path | None = None) -> LocalStatus:
    lab = lab_for(fed, root)
    return LocalStatus(
        lab, _processes(lab, _configs(lab), _read_state(lab)), probe_federation(fed, lab.secrets_dir)
    )


def _stop(entries: list[dict[str, Any]], grace: float) -> None:
    for entry in entries:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(entry["pid"], signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_alive(e) for e in entries):
        time.sleep(0.05)
    for entry in entries:
        if _alive(entry):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(entry["pid"], signal.SIGKILL)


def down(fed: Federation, root: Path | None = None, grace: float = 10.0) -> list[str]:
    """Stop every process of the lab, keeping data and secrets; returns what was stopped.

    Flows and boards go first and are waited for: a router finishes its open long-polls before
    it exits, so stopping it under a live flow would cost the whole poll interval.
    """
    lab = lab_for(fed, root)
    state = _read_state(lab)
    running = {n: e for n, e in state.items() if _alive(e)}
    _stop([e for n, e in running.items() if n.endswith(("/flow", "/board"))], grace)
    _stop([e for n, e in running.items() if not n.endswith(("/flow", "/board"))], grace)
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):  # nothing was ever started there
        lab.state_file.unlink()
    return sorted(running)


def restart_process(fed: Federation, process: str, root: Path | None = None) -> None:
    """Stop and start one process (e.g. "bank-a/flow"); tests use it to prove state survives."""
    lab = lab_for(fed, root)
    state = _read_state(lab)
    entry = state.get(process)
    if entry is None:
        raise EnvironmentProblem(f"{process} is not part of the running local lab of {fed.name}")
    _stop([entry], 10.0)
    state[process] = _start(lab, f"{process}.yaml", Path(entry["config"]))
    write_file(lab.state_file, json.dumps(state, indent=2, sort_keys=True) + "\n", 0o600)


def up_spec(spec: str | Path, timeout: float = 120.0, progress: Progress = lambda _: None) -> LocalStatus:
    from fatectl.spec.loader import load_federation

    return up(load_federation(spec), timeout=timeout, progress=progress)


def down_spec(spec: str | Path) -> list[str]:
    from fatectl.spec.loader import load_federation

    return down(load_federation(spec))


def status_rows(spec: str | Path) -> list[dict[str, Any]]:
    """One row per local process and per party's flow and link, for `fatectl status`."""
    from fatectl.spec.loader import load_federation

    fed = load_federation(spec)
    current = status(fed)
    ids = {p.name: p.id for p in fed.parties} | {fed.exchange.name: fed.exchange.id}
    rows: list[dict[str, Any]] = []
    if current.lab.state_file.exists():
        for proc in current.processes:
            name = proc.name.split("/")[0]
            rows.append(
                {
                    "party": ids.get(name),
                    "name": name,
                    "process": f"local {proc.name.split('/')[1]}",
                    "state": "running" if proc.alive else "stopped",
                    "detail": f"pid {proc.pid} port {proc.port}",
                }
            )
    for probe in current.readiness.probes:
        rows.append(
            {
                "party": probe.party_id,
                "name": probe.name,
                "process": "flow",
                "state": probe.flow,
                "detail": probe.detail.strip(),
            }
        )
        for link in probe.links:
            latency = f"{link.latency_ms:.1f} ms" if link.latency_ms is not None else link.last_error
            rows.append(
                {
                    "party": probe.party_id,
                    "name": probe.name,
                    "process": f"link -> {link.peer}",
                    "state": link.state,
                    "detail": latency,
                }
            )
    return rows
