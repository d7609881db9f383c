"""`fatectl upgrade`: a running lab onto a new engine tag, one party at a time, undone if it breaks.

Each member (the parties in spec order, the exchange last) is restarted on the new engine
(compose: its containers recreated from the new image; local: its processes restarted on the
engine installed now), and the whole federation must be ready again before the next one
goes. A flow migrates its store's schema when it starts (fate.flow.migrations, after a
backup). When the federation is not ready in time, every member upgraded so far goes back
to the old tag, the spec's tag is restored, and the command fails saying so. A party with a
running job is not restarted under it unless forced.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from fatectl.docker.client import docker_client, has_image
from fatectl.errors import EnvironmentProblem, FatectlError, RemoteError, SpecError, Timeout
from fatectl.files import write_file
from fatectl.flowclient import client_for
from fatectl.lab.compose import ComposeLab
from fatectl.lab.local import LocalLab
from fatectl.lab.readiness import Readiness, wait_ready
from fatectl.spec.edit import open_spec
from fatectl.spec.loader import load_federation, load_federation_text
from fatectl.spec.model import Federation, Node

LabName = Literal["local", "compose"]
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Upgraded:
    old_tag: str
    new_tag: str
    members: tuple[str, ...]
    readiness: Readiness


def _order(fed: Federation) -> list[Node]:
    # The exchange last: in a star every message crosses it, so it restarts once, when all else is done.
    return sorted(fed.nodes(), key=lambda n: n.is_exchange)


def _running_jobs(fed: Federation, node: Node, secrets: Path) -> list[str]:
    if node.is_exchange or "flow" not in node.module_names:
        return []
    try:
        return [j["id"] for j in client_for(fed, node.id, secrets).jobs() if j["status"] in ("running", "waiting")]
    except (RemoteError, EnvironmentProblem):
        return []


def _restart(fed: Federation, kind: LabName, node: Node) -> None:
    if kind == "local":
        lab = LocalLab.of(fed)
        for module in node.module_names:  # router first: the flow asks it for peers when it starts
            lab.restart_process(f"{node.name}/{module}")
        return
    compose = ComposeLab.of(fed)
    compose.prepare()
    compose.recreate_services([f"{node.name}-{m}" for m in node.module_names])


def upgrade_lab(spec: Path, kind: LabName, tag: str, timeout: float = 300.0, force: bool = False,
                progress: Progress = lambda _: None) -> Upgraded:
    before = load_federation(spec)
    running = LocalLab.of(before).state_file.exists() if kind == "local" else ComposeLab.of(before).compose_file.exists()
    if not running:
        raise EnvironmentProblem(f"no {kind} lab of {before.name} to upgrade: start it with `fatectl up {kind} SPEC`")
    edit = open_spec(spec)
    edit.data["engine"] = edit.data.get("engine") or {}
    edit.data["engine"]["tag"] = tag
    text = edit.dump()
    try:
        after = load_federation_text(text, str(spec))
    except SpecError as err:
        raise SpecError(f"--tag {tag!r} makes the spec invalid", err.problems) from None
    if kind == "compose" and not has_image(docker_client(), after.engine.ref):
        raise EnvironmentProblem(f"engine image {after.engine.ref} is not on this Docker host: build or load it first "
                                 "(fatectl images build SPEC with engine.tag set, or fatectl bundle load)")
    secrets = (LocalLab.of(before) if kind == "local" else ComposeLab.of(before)).secrets_dir
    busy = {n.name: jobs for n in _order(before) if (jobs := _running_jobs(before, n, secrets))}
    if busy and not force:
        listed = "; ".join(f"{name}: {', '.join(jobs)}" for name, jobs in busy.items())
        raise EnvironmentProblem(f"jobs are running ({listed}); wait for them, or --force to restart under them")
    write_file(spec, text, spec.stat().st_mode & 0o777)
    done: list[Node] = []
    started = time.monotonic()
    readiness = Readiness(())
    for node in _order(after):
        progress(f"upgrading {node.name} to {after.engine.ref}")
        try:
            _restart(after, kind, node)
            done.append(node)
            remaining = max(5.0, timeout - (time.monotonic() - started))
            readiness = wait_ready(after, secrets, remaining, progress)
        except (Timeout, EnvironmentProblem) as err:
            _roll_back(spec, edit.original, before, kind, done or [node], secrets, timeout, progress)
            raise Timeout(f"upgrade to {tag} failed at {node.name} and was rolled back to {before.engine.tag} "
                          f"({len(done)} member(s) restarted again): {err.message}", err.problems) from None
    return Upgraded(before.engine.tag, tag, tuple(n.name for n in done), readiness)


def _roll_back(spec: Path, original: str, before: Federation, kind: LabName, members: list[Node], secrets: Path,
               timeout: float, progress: Progress) -> None:
    progress(f"rolling back {', '.join(n.name for n in members)} to {before.engine.ref}")
    write_file(spec, original, spec.stat().st_mode & 0o777)
    try:
        for node in members:
            _restart(before, kind, node)
        wait_ready(before, secrets, timeout, progress)
    except FatectlError as err:
        raise EnvironmentProblem(f"the upgrade failed and so did the rollback: {err.message}; the spec has the old "
                                 f"tag {before.engine.tag} again: `fatectl up {kind} SPEC` converges to it",
                                 err.problems) from None
