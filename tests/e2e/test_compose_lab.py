"""The compose lab for real: engine image, `fatectl up compose`, the breast job, data kept.

One module so the labs are started once: a 2-party lab, then a 3-party lab with an exchange
beside it. Jobs use the example pipeline with 1024-bit Paillier keys (flagged insecure) to
keep CI time down; docs/benchmarks.md times the 2048-bit job.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fatectl.docker.build import BuiltImage, docker_client
from fatectl.errors import Timeout
from fatectl.lab import compose as composelab
from fatectl.lab.compose import ComposeLab
from fatectl.spec.loader import load_federation
from fatectl.spec.model import Federation
from tests.e2e.conftest import REPO, Cli
from tests.lab.specs import write_spec

pytestmark = pytest.mark.e2e

GUEST, HOST = 9999, 10000
DATA = REPO / "examples" / "data"
# The federated model must match what the same pipeline reaches in one place (~0.99).
MIN_AUC = 0.98


@dataclass
class Lab:
    spec: Path
    fed: Federation

    @property
    def arg(self) -> str:
        return str(self.spec)


def _lab(cli: Cli, directory: Path, n: int, exchange: bool, name: str, offset: int) -> Iterator[Lab]:
    spec = write_spec(directory, n, exchange, name, port_offset=offset)
    lab = Lab(spec, load_federation(spec))
    try:
        yield lab
    finally:
        cli.run("down", "compose", lab.arg, "--volumes", check=False)


@pytest.fixture(scope="module")
def two(cli: Cli, engine_image: BuiltImage, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    yield from _lab(cli, tmp_path_factory.mktemp("two"), 2, False, "e2e-two", 3000)


@pytest.fixture(scope="module")
def three(cli: Cli, engine_image: BuiltImage, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    yield from _lab(cli, tmp_path_factory.mktemp("three"), 3, True, "e2e-three", 3300)


def _json(proc: Any) -> Any:
    return json.loads(proc.stdout)


def _container_ids(lab: Lab) -> dict[str, str]:
    client = docker_client()
    found = client.containers.list(all=True, filters={"label": f"com.docker.compose.project={lab.fed.name}"})
    return {c.labels["com.docker.compose.service"]: c.id for c in found}


def _assert_ready(lab: Lab) -> None:
    rows = ComposeLab.of(lab.fed).status().rows()
    assert rows, "status reported nothing"
    not_ready = [r for r in rows if r["state"] not in ("running", "healthy", "up", "valid")]  # valid: certificates
    assert not not_ready, not_ready


def _run_breast_job(cli: Cli, lab: Lab, job: Path) -> float:
    cli.run("data", "upload", lab.arg, "--party", str(GUEST), "--name", "breast_hetero_guest", "--overwrite",
            str(DATA / "breast_hetero_guest.csv"))
    cli.run("data", "upload", lab.arg, "--party", str(HOST), "--name", "breast_hetero_host", "--overwrite",
            str(DATA / "breast_hetero_host.csv"))
    done = _json(cli.run("job", "submit", lab.arg, "--party", str(GUEST), str(job), "--wait", "--timeout", "900",
                         "--output", "json"))
    assert done["status"] == "success", done
    outputs = _json(cli.run("job", "outputs", lab.arg, "--party", str(GUEST), done["id"], "--output", "json"))
    aucs = [o["value"] for o in outputs if o["name"] == "auc" and o["kind"] == "metric"]
    assert len(aucs) == 1, outputs
    return float(aucs[0])


def _tables(cli: Cli, lab: Lab, party: int) -> set[str]:
    return {t["name"] for t in _json(cli.run("data", "list", lab.arg, "--party", str(party), "--output", "json"))}


def test_two_party_lab_comes_up_federation_ready(cli: Cli, two: Lab) -> None:
    out = cli.run("up", "compose", two.arg).stdout
    assert "ready" in out and "2 parties, 2 links up" in out
    _assert_ready(two)
    published = [
        (b["HostIp"], int(b["HostPort"]))
        for c in docker_client().containers.list(filters={"label": f"com.docker.compose.project={two.fed.name}"})
        for bindings in (c.attrs["NetworkSettings"]["Ports"] or {}).values()
        for b in bindings or []
    ]
    assert sorted(published) == [("127.0.0.1", port) for port in sorted(composelab.host_ports(two.fed))]
    logs = cli.run("logs", two.arg, "--party", str(GUEST), "--module", "router", "--tail", "50").stdout
    assert "listening" in logs


def test_breast_job_runs_psi_hetero_lr_and_evaluation_in_containers(cli: Cli, two: Lab, job_file: Path) -> None:
    assert _run_breast_job(cli, two, job_file) >= MIN_AUC


def test_up_again_changes_nothing(cli: Cli, two: Lab) -> None:
    before = _container_ids(two)
    cli.run("up", "compose", two.arg)
    assert _container_ids(two) == before


def test_down_then_up_keeps_every_partys_tables(cli: Cli, two: Lab) -> None:
    cli.run("down", "compose", two.arg)
    assert _container_ids(two) == {}
    cli.run("up", "compose", two.arg)
    assert "breast_hetero_guest" in _tables(cli, two, GUEST)
    assert "breast_hetero_host" in _tables(cli, two, HOST)


def test_three_party_lab_with_exchange_runs_beside_the_first(
    cli: Cli, two: Lab, three: Lab, job_file: Path
) -> None:
    out = cli.run("up", "compose", three.arg).stdout
    assert "3 parties, 3 links up" in out
    _assert_ready(three)
    _assert_ready(two)  # two labs with different names coexist
    assert _run_breast_job(cli, three, job_file) >= MIN_AUC


def test_a_dead_exchange_is_named_with_the_links_it_broke_and_up_repairs_it(cli: Cli, three: Lab) -> None:
    lab = ComposeLab.of(three.fed)
    exchange = next(c for c in docker_client().containers.list(
        filters={"label": [f"com.docker.compose.project={three.fed.name}", "com.docker.compose.service=exchange-router"]}
    ))
    exchange.stop(timeout=5)
    everyone = {p.id for p in three.fed.parties}
    deadline = time.monotonic() + 60
    while _links_down(three) != everyone and time.monotonic() < deadline:
        time.sleep(1)  # each router notices at its next link probe
    assert _links_down(three) == everyone
    with pytest.raises(Timeout) as info:
        lab.wait_ready(timeout=30)
    text = str(info.value)
    assert "exchange-router is exited" in text
    assert f"link {GUEST} -> {three.fed.exchange.id} is down" in text
    assert "last log lines of its router" in text
    cli.run("up", "compose", three.arg)
    _assert_ready(three)


def _links_down(lab: Lab) -> set[int]:
    rows = ComposeLab.of(lab.fed).status().rows()
    return {r["party"] for r in rows if r["process"].startswith("link") and r["state"] != "up"}


def test_down_with_volumes_deletes_the_data(cli: Cli, two: Lab) -> None:
    cli.run("down", "compose", two.arg, "--volumes")
    volumes = docker_client().volumes.list(filters={"label": f"com.docker.compose.project={two.fed.name}"})
    assert volumes == []
