"""Horizontal training in compose labs on a real Docker engine: the shipped homo jobs, unchanged.

A 2-party lab runs examples/jobs/breast-homo-lr.yaml (guest + one host, the arbiter on the guest's
party); a 3-party lab runs examples/jobs/breast-homo-lr-3.yaml (three clients, threshold 2 of 3). Each party uploads only its own rows, through its own flow.

Its own image tag (fate-engine:homo-e2e), so it never races another build of 0.1.0.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fatectl.docker.build import build_image
from fatectl.spec.loader import load_federation
from tests.e2e.conftest import REPO, Cli
from tests.lab.specs import write_spec

pytestmark = pytest.mark.e2e

DATA = REPO / "examples" / "data"
JOBS = REPO / "examples" / "jobs"
TAG = "homo-e2e"


@pytest.fixture(scope="module")
def image(docker_engine: None, tmp_path_factory: pytest.TempPathFactory) -> str:
    spec = write_spec(tmp_path_factory.mktemp("homo-image"), 2, False, "e2e-homo-image")
    spec.write_text(spec.read_text().replace('tag: "0.1.0"', f'tag: "{TAG}"'))
    return build_image(load_federation(spec), wheels_dir=REPO / ".cache" / "wheels").ref


def _lab(cli: Cli, directory: Path, n: int, exchange: bool, name: str, offset: int) -> Iterator[Path]:
    spec = write_spec(directory, n, exchange, name, port_offset=offset)
    spec.write_text(spec.read_text().replace('tag: "0.1.0"', f'tag: "{TAG}"'))
    try:
        cli.run("up", "compose", str(spec))
        yield spec
    finally:
        cli.run("down", "compose", str(spec), "--volumes", check=False)


@pytest.fixture(scope="module")
def two(cli: Cli, image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield from _lab(cli, tmp_path_factory.mktemp("homo2"), 2, False, "e2e-homo-two", 3600)


@pytest.fixture(scope="module")
def three(cli: Cli, image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield from _lab(cli, tmp_path_factory.mktemp("homo3"), 3, False, "e2e-homo-three", 3900)


def _json(proc: Any) -> Any:
    return json.loads(proc.stdout)


def _upload(cli: Cli, spec: Path, party: int, name: str) -> None:
    cli.run("data", "upload", str(spec), "--party", str(party), "--name", name, "--overwrite", str(DATA / f"{name}.csv"))


def _metrics(cli: Cli, spec: Path, party: int, job_id: str, role: str) -> dict[str, Any]:
    outputs = _json(cli.run("job", "outputs", str(spec), "--party", str(party), job_id, "--output", "json"))
    return {o["name"]: o["value"] for o in outputs if o["kind"] == "metric" and o["component"] == "lr"
            and o["role"] == role}


def test_breast_homo_lr_runs_unchanged_in_a_two_party_compose_lab(cli: Cli, two: Path) -> None:
    _upload(cli, two, 9999, "breast_homo_guest")
    _upload(cli, two, 10000, "breast_homo_host")
    for party in (9999, 10000):
        _upload(cli, two, party, "breast_homo_test")
    done = _json(cli.run("job", "submit", str(two), "--party", "9999", str(JOBS / "breast-homo-lr.yaml"), "--wait",
                         "--timeout", "900", "--output", "json"))
    assert done["status"] == "success", done
    for party, role in ((9999, "guest"), (10000, "host")):
        metrics = _metrics(cli, two, party, done["id"], role)
        assert metrics["test_auc"] > 0.98, (party, metrics)
    arbiter = _metrics(cli, two, 9999, done["id"], "arbiter")
    assert arbiter["method"] == "secagg" and all(d == [] for d in arbiter["dropped"])


def test_the_three_client_example_runs_unchanged_in_a_three_party_lab(cli: Cli, three: Path) -> None:
    for party, name in ((9999, "breast_homo_guest"), (10000, "breast_homo_host_1"), (10001, "breast_homo_host_2")):
        _upload(cli, three, party, name)
    done = _json(cli.run("job", "submit", str(three), "--party", "9999", str(JOBS / "breast-homo-lr-3.yaml"),
                         "--wait", "--timeout", "900", "--output", "json"))
    assert done["status"] == "success", done
    for party, role in ((9999, "guest"), (10000, "host"), (10001, "host")):
        assert _metrics(cli, three, party, done["id"], role)["train_auc"] > 0.98, party
