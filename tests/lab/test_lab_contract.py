"""One contract, two labs: the same suite runs against the local lab and the compose lab.

Each implementation gets a fresh two-party federation on free ports; the compose run
needs a real Docker engine and the engine image (it is an e2e test).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fatectl.errors import EnvironmentProblem, SpecError
from fatectl.lab.compose import ComposeLab
from fatectl.lab.contract import Lab, LabStatus
from fatectl.lab.kinds import current_lab, open_lab
from fatectl.lab.local import LocalLab
from fatectl.spec.loader import load_federation
from tests.integration.conftest import spec_text

pytestmark = pytest.mark.timeout(600)
GUEST, HOST = 9999, 10000


@pytest.fixture(params=["local", pytest.param("compose", marks=pytest.mark.e2e)])
def lab(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Lab]:
    if request.param == "compose":
        request.getfixturevalue("engine_image")
    spec = tmp_path / "contract.yaml"
    spec.write_text(spec_text(f"contract-{request.param}", [GUEST, HOST], exchange=False))
    chosen = open_lab(load_federation(spec), request.param, tmp_path / "labs")
    try:
        yield chosen
    finally:
        chosen.down(volumes=True)


def _services(status: LabStatus) -> set[tuple[int, str]]:
    return {(s.party_id, s.module) for s in status.services}


def test_up_status_logs_down(lab: Lab) -> None:
    started = lab.up(timeout=300)
    assert started.kind == lab.kind and started.directory == lab.paths.directory
    assert started.readiness.ready and started.seconds > 0
    assert _services(started) == {(p, m) for p in (GUEST, HOST) for m in ("router", "flow")}
    assert {s.state for s in started.services} == {"running"}

    now = lab.status()
    assert now.readiness.ready and {s.state for s in now.services} == {"running"}
    rows = now.rows()
    assert [r["state"] for r in rows if r["process"] == "flow"] == ["healthy", "healthy"]
    assert [r["state"] for r in rows if r["process"].startswith("link")] == ["up", "up"]

    flow_lines = list(lab.logs(HOST, "flow", tail=50))
    assert flow_lines and all("flow" in line.split("|")[0] for line in flow_lines)
    every = list(lab.logs(HOST, tail=50))
    assert any("router" in line.split("|")[0] for line in every)

    stopped = lab.down()
    assert sorted(stopped) == sorted(f"org-{p}/{m}" for p in (GUEST, HOST) for m in ("router", "flow"))
    after = lab.status()
    assert not after.readiness.ready
    assert all(s.state != "running" for s in after.services)
    assert lab.down() == ()  # nothing left to stop


def test_up_twice_converges_without_restarting(lab: Lab) -> None:
    lab.up(timeout=300)
    again = lab.up(timeout=300)
    assert again.readiness.ready and len(again.running) == 4


def test_logs_name_bad_requests(lab: Lab) -> None:
    with pytest.raises(SpecError, match="no party with id 4"):
        list(lab.logs(4))
    with pytest.raises(SpecError, match="runs no board"):
        list(lab.logs(GUEST, "board"))
    with pytest.raises(EnvironmentProblem, match="start it with `fatectl up"):
        list(lab.logs(GUEST))  # never started


def test_status_finds_the_lab_a_federation_runs_as(tmp_path: Path) -> None:
    spec = tmp_path / "which.yaml"
    spec.write_text(spec_text("which", [GUEST, HOST], exchange=False))
    fed = load_federation(spec)
    assert isinstance(current_lab(fed, tmp_path), LocalLab)  # nothing yet: the local view
    ComposeLab.of(fed, tmp_path).prepare()
    assert isinstance(current_lab(fed, tmp_path), ComposeLab)  # a rendered compose lab
    LocalLab.of(fed, tmp_path).paths.directory.mkdir(parents=True)
    LocalLab.of(fed, tmp_path).state_file.write_text("{}")
    assert isinstance(current_lab(fed, tmp_path), LocalLab)  # a started local lab wins
