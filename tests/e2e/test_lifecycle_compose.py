"""The lifecycle on a real compose lab: diff against it, rotate a certificate, add a party
while the first two parties' containers keep running (their ids do not change).

Its own image tag (fate-engine:lifecycle-e2e), so it never races another build of 0.1.0.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from fatectl.docker.build import build_image, docker_client
from fatectl.lab.containers import project_containers
from fatectl.spec.loader import load_federation
from tests.e2e.conftest import REPO, Cli
from tests.lab.specs import write_spec

pytestmark = pytest.mark.e2e
TAG = "lifecycle-e2e"


@pytest.fixture(scope="module")
def spec(docker_engine: None, cli: Cli, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = write_spec(tmp_path_factory.mktemp("life"), 2, False, "e2e-life", port_offset=4000)
    path.write_text(path.read_text().replace('tag: "0.1.0"', f'tag: "{TAG}"'))
    build_image(load_federation(path), wheels_dir=REPO / ".cache" / "wheels")
    try:
        yield path
    finally:
        cli.run("down", "compose", str(path), "--volumes", check=False)


def _ids(project: str) -> dict[str, str]:
    client = docker_client()
    return {c.labels["com.docker.compose.service"]: c.id for c in project_containers(client, project)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_diff_rotate_and_grow_a_compose_lab(cli: Cli, spec: Path) -> None:
    arg = str(spec)
    assert cli.run("diff", arg, "--lab", "compose", "--no-diffs", check=False).returncode == 2
    cli.run("up", "compose", arg)
    plan = cli.run("diff", arg, "--lab", "compose", check=False)
    assert plan.returncode == 0, plan.stdout + plan.stderr  # the plan matches what `up` built

    before = _ids("e2e-life")
    cli.run("certs", "rotate", arg, "--lab", "compose", "--party", "9999")
    rows = json.loads(cli.run("status", arg, "--output", "json").stdout)
    assert all(r["state"] == "up" for r in rows if r["process"].startswith("link"))
    certs = {r["name"]: r["state"] for r in rows if r["process"] == "certificate"}
    assert certs == {"federation CA": "valid", "party-9999": "valid", "party-10000": "valid"}
    assert _ids("e2e-life") != before  # bind-mounted files: the routers and flows were recreated

    kept = _ids("e2e-life")
    router, flow = _free_port(), _free_port()
    added = cli.run("party", "add", arg, "--id", "10001", "--name", "party-10001", "--address", "party-10001.example",
                    "--host-port", f"router={router}", "--host-port", f"flow={flow}", "--lab", "compose")
    assert "compose lab ready: 3 parties" in added.stdout, added.stdout
    grown = _ids("e2e-life")
    assert {"party-10001-router", "party-10001-flow"} <= set(grown)
    assert {svc: grown[svc] for svc in kept} == kept  # routes and peers reloaded (SIGHUP), no new container
    again = cli.run("diff", arg, "--lab", "compose", check=False)
    assert again.returncode == 0, again.stdout
