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
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fatectl.errors import EnvironmentProblem, Problem
from fatectl.files import write_file
from fatectl.lab.changes import ProcessChange, process_changes
from fatectl.lab.contract import LabStatus, Progress, Service, no_progress, probe_status, select_modules
from fatectl.lab.paths import LabKind, LabPaths, lab_paths
from fatectl.lab.readiness import port_free, wait_ready
from fatectl.pki import ensure_secrets
from fatectl.render.engine import Layout, engine_configs
from fatectl.spec.model import Federation, Party

_SERVICE_ORDER = ("router", "flow", "board")
State = dict[str, dict[str, Any]]  # "<party>/<module>" -> {"pid", "config", "log"}


def _start_order(name: str) -> tuple[int, str]:
    # Routers before flows (a flow asks its router for peers when it starts), boards last (they read flows).
    return (_SERVICE_ORDER.index(name.rsplit("/", 1)[1].removesuffix(".yaml")), name)


def _alive(entry: dict[str, Any] | None) -> bool:
    """The recorded process still runs and is still ours (pids get reused)."""
    if not entry:
        return False
    try:
        cmdline = Path(f"/proc/{entry['pid']}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return str(entry["config"]).encode() in cmdline


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


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


@dataclass(frozen=True)
class LocalLab:
    fed: Federation
    paths: LabPaths
    kind: LabKind = "local"

    @classmethod
    def of(cls, fed: Federation, root: Path | None = None) -> LocalLab:
        return cls(fed, lab_paths(fed.name, "local", root))

    @property
    def directory(self) -> Path:
        return self.paths.directory

    @property
    def secrets_dir(self) -> Path:
        return self.paths.secrets_dir

    @property
    def state_file(self) -> Path:
        return self.paths.state_file

    def configs(self) -> dict[str, dict[str, Any]]:
        return engine_configs(self.fed, Layout.local(str(self.paths.secrets_dir), str(self.paths.data_dir)))

    def _read_state(self) -> State:
        try:
            state: State = json.loads(self.paths.state_file.read_text(encoding="utf-8"))
            return state
        except (OSError, ValueError):
            return {}

    def _write_state(self, state: State) -> None:
        write_file(self.paths.state_file, json.dumps(state, indent=2, sort_keys=True) + "\n", 0o600)

    def _start(self, name: str, config_path: Path) -> dict[str, Any]:
        service = name.rsplit("/", 1)[1].removesuffix(".yaml")
        log_file = self.paths.log_file(name.removesuffix(".yaml"))
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

    def up(self, timeout: float = 120.0, progress: Progress = no_progress) -> LabStatus:
        """Start whatever of the lab is not running and wait until every flow and declared link is up."""
        started = time.monotonic()
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise EnvironmentProblem(
                f"cannot create the lab directory {self.directory}: {err.strerror or err}"
            ) from None
        os.chmod(self.directory, 0o700)  # every party's tables, models and job logs live below
        ensure_secrets(self.fed, self.secrets_dir)
        configs = self.configs()
        state = self._read_state()
        changes = self.changes(configs, state)
        starting = {c.process for c in changes if c.action == "start"}
        busy = [
            Problem(f"port {cfg['listen']['port']} on 127.0.0.1 (for {name.removesuffix('.yaml')}) "
                    "is in use by another program")
            for name, cfg in configs.items()
            if name.removesuffix(".yaml") in starting and not port_free(int(cfg["listen"]["port"]))
        ]
        if busy:
            raise EnvironmentProblem(
                f"cannot start the local lab of {self.fed.name}: ports in use "
                "(stop the other program or change compose.hostPorts)",
                busy,
            )
        self._apply(changes, configs, state, progress)

        def crashed() -> str | None:
            dead = [n for n, entry in state.items() if not _alive(entry)]
            if not dead:
                return None
            return "; ".join(f"{n} exited; last log lines:\n{tail(Path(state[n]['log']))}" for n in dead)

        def diagnose(party: Party, module: str) -> str:
            entry = state.get(f"{party.name}/{module}")
            return tail(Path(entry["log"])) if entry else ""

        remaining = max(0.0, timeout - (time.monotonic() - started))
        readiness = wait_ready(
            self.fed, self.secrets_dir, remaining, progress, diagnose=diagnose, abort=crashed, interval=0.5
        )
        return LabStatus("local", self.directory, self._services(configs, state), readiness,
                         time.monotonic() - started)

    def _current_config(self, process: str) -> dict[str, Any] | None:
        try:
            config: dict[str, Any] = json.loads((self.paths.config_dir / f"{process}.yaml").read_text("utf-8"))
            return config
        except (OSError, ValueError):
            return None

    def changes(
        self, configs: dict[str, dict[str, Any]] | None = None, state: State | None = None
    ) -> list[ProcessChange]:
        """What `up` would do to each process: start, reload (SIGHUP), restart or stop."""
        configs = self.configs() if configs is None else configs
        state = self._read_state() if state is None else state
        wanted = {name.removesuffix(".yaml"): cfg for name, cfg in configs.items()}
        current = {process: self._current_config(process) for process in set(wanted) | set(state)}
        alive = {process: _alive(entry) for process, entry in state.items()}
        return process_changes(wanted, current, alive)

    def _apply(
        self, changes: list[ProcessChange], configs: dict[str, dict[str, Any]], state: State, progress: Progress
    ) -> None:
        """Stop what left the spec, then start, restart or reload (routers first) what changed.

        A reload is a SIGHUP to the process alone, never its group: the flow's job workers share
        it and must not see the signal. Unchanged processes are not touched at all.
        """
        for change in changes:
            if change.action == "stop":
                progress(f"stopping {change.process} ({change.reason})")
                _stop([state.pop(change.process)], 10.0)
                self._write_state(state)
        for change in sorted(changes, key=lambda c: _start_order(c.process)):
            name = f"{change.process}.yaml"
            if change.action not in ("start", "restart", "reload"):
                continue
            path = self.paths.config_dir / name
            write_file(path, json.dumps(configs[name], indent=2, sort_keys=True) + "\n", 0o600)
            if change.action == "reload":
                progress(f"reloading {change.process} ({change.reason})")
                with contextlib.suppress(ProcessLookupError):
                    os.kill(state[change.process]["pid"], signal.SIGHUP)
                continue
            if change.action == "restart":
                progress(f"restarting {change.process} ({change.reason})")
                _stop([state[change.process]], 10.0)
            progress(f"starting {change.process} on 127.0.0.1:{configs[name]['listen']['port']}")
            state[change.process] = self._start(name, path)
            self._write_state(state)

    def _services(self, configs: dict[str, dict[str, Any]], state: State) -> tuple[Service, ...]:
        ids = {node.name: node.id for node in self.fed.nodes()}
        out = []
        for name in sorted(configs, key=_start_order):
            key = name.removesuffix(".yaml")
            party, module = key.split("/")
            entry = state.get(key)
            port = int(configs[name]["listen"]["port"])
            if entry is None:
                out.append(Service(ids[party], party, module, "absent", f"port {port}"))
            else:
                state_word = "running" if _alive(entry) else "stopped"
                out.append(Service(ids[party], party, module, state_word, f"pid {entry['pid']} port {port}"))
        return tuple(out)

    def status(self) -> LabStatus:
        state = self._read_state()
        return probe_status("local", self.fed, self.paths,
                            self._services(self.configs(), state) if self.state_file.exists() else ())

    def down(self, volumes: bool = False, grace: float = 10.0) -> tuple[str, ...]:
        """Stop every process of the lab, keeping secrets (and data unless `volumes`).

        Flows and boards go first and are waited for: a router finishes its open long-polls before
        it exits, so stopping it under a live flow would cost the whole poll interval.
        """
        state = self._read_state()
        running = {n: e for n, e in state.items() if _alive(e)}
        _stop([e for n, e in running.items() if n.endswith(("/flow", "/board"))], grace)
        _stop([e for n, e in running.items() if not n.endswith(("/flow", "/board"))], grace)
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):  # nothing was ever started there
            self.state_file.unlink()
        if volumes:
            shutil.rmtree(self.paths.data_dir, ignore_errors=True)
        return tuple(sorted(running))

    def reload(self, settle: float = 1.0) -> tuple[str, ...]:
        """SIGHUP every running router and flow (new routes, peers, certificates, trust); return them.

        Sent to each process alone, never its group: a flow's job workers must not see it.
        `settle` gives the event loops a moment to act on it before the caller goes on.
        """
        state = self._read_state()
        signalled = []
        for process, entry in sorted(state.items()):
            if process.endswith(("/router", "/flow")) and _alive(entry):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(entry["pid"], signal.SIGHUP)
                    signalled.append(process)
        if signalled:
            time.sleep(settle)
        return tuple(signalled)

    def restart_process(self, process: str) -> None:
        """Stop and start one process (e.g. "bank-a/flow"); tests use it to prove state survives."""
        state = self._read_state()
        entry = state.get(process)
        if entry is None:
            raise EnvironmentProblem(f"{process} is not part of the running local lab of {self.fed.name}")
        _stop([entry], 10.0)
        state[process] = self._start(f"{process}.yaml", Path(entry["config"]))
        self._write_state(state)

    def logs(self, party_id: int, module: str | None = None, follow: bool = False, tail: int = 200) -> Iterator[str]:
        """The party's process logs, oldest service first; `follow` keeps reading until interrupted."""
        node, modules = select_modules(self.fed, party_id, module)
        files = [(m, self.paths.log_file(f"{node.name}/{m}")) for m in modules]
        if not any(f.is_file() for _, f in files):
            raise EnvironmentProblem(
                f"no local lab logs for party {party_id} in {self.directory}: start it with `fatectl up local SPEC`"
            )
        offsets: dict[Path, int] = {}
        for m, f in files:
            if not f.is_file():
                continue
            lines = f.read_text(encoding="utf-8", errors="replace").splitlines()
            offsets[f] = f.stat().st_size
            yield from (f"{node.name}-{m}  | {line}" for line in lines[-tail:] if tail)
        while follow:
            time.sleep(0.5)
            for m, f in files:
                with contextlib.suppress(OSError), open(f, "rb") as fh:
                    fh.seek(offsets.get(f, 0))
                    chunk = fh.read()
                    offsets[f] = fh.tell()
                    text = chunk.decode("utf-8", "replace")
                    yield from (f"{node.name}-{m}  | {line}" for line in text.splitlines())
