"""`fatectl upgrade --lab local`: a rolling restart that keeps the data, and a rollback when not ready."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import fatectl.upgrade as upgrade_module
from fatectl.errors import EnvironmentProblem, Timeout
from fatectl.lab.local import LocalLab
from fatectl.spec.loader import load_federation
from fatectl.upgrade import upgrade_lab

from .conftest import Lab, spec_text, upload_ids

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    tmp = tmp_path_factory.mktemp("upgrade")
    spec = tmp / "up.yaml"
    spec.write_text(spec_text("up-lab", [9999, 10000], exchange=False))
    fed = load_federation(spec)
    mp = pytest.MonkeyPatch()
    mp.setenv("FATECTL_LAB_DIR", str(tmp / "lab"))
    LocalLab.of(fed, tmp / "lab").up(timeout=120)
    try:
        yield Lab(fed, spec, tmp / "lab")
    finally:
        LocalLab.of(load_federation(spec), tmp / "lab").down()
        mp.undo()


def _pids(lab: Lab) -> dict[str, int]:
    state = json.loads(LocalLab.of(lab.fed, lab.root).state_file.read_text())
    return {name: entry["pid"] for name, entry in state.items()}


def test_a_rolling_upgrade_restarts_every_process_and_keeps_the_data(lab: Lab, tmp_path: Path) -> None:
    upload_ids(lab.client(9999), tmp_path, "kept", ["a", "b", "c"])
    before = _pids(lab)
    result = upgrade_lab(lab.spec, "local", "0.2.0", timeout=120)
    assert (result.old_tag, result.new_tag, result.members) == ("0.1.0", "0.2.0", ("org-9999", "org-10000"))
    assert result.readiness.ready
    after = _pids(lab)
    assert set(after) == set(before) and all(after[p] != before[p] for p in before)
    assert load_federation(lab.spec).engine.tag == "0.2.0"
    assert [t["name"] for t in lab.client(9999).tables()] == ["kept"]


def test_a_federation_not_ready_again_is_rolled_back(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    original = lab.spec.read_text()
    real = upgrade_module.wait_ready
    calls = []

    def not_ready_once(*args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == 1:
            raise Timeout("federation up-lab not ready after 1s")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(upgrade_module, "wait_ready", not_ready_once)
    with pytest.raises(Timeout, match=r"upgrade to 0.3.0 failed at org-9999 and was rolled back to 0.2.0"):
        upgrade_lab(lab.spec, "local", "0.3.0", timeout=120)
    assert lab.spec.read_text() == original  # the spec has the old tag again
    assert len(calls) == 2  # the rollback waited for the federation to be ready again
    assert LocalLab.of(lab.fed, lab.root).status().readiness.ready


def test_running_jobs_are_not_restarted_under(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    original = lab.spec.read_text()
    monkeypatch.setattr(upgrade_module, "_running_jobs", lambda fed, node, secrets: ["job1"] if node.id == 10000 else [])
    with pytest.raises(EnvironmentProblem, match=r"jobs are running \(org-10000: job1\); wait for them, or --force"):
        upgrade_lab(lab.spec, "local", "0.4.0")
    assert lab.spec.read_text() == original
