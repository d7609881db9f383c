"""The local lab's directory holds every party's tables, models and job logs: only its owner reads it."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from fatectl.errors import EnvironmentProblem
from fatectl.lab import local as locallab
from fatectl.lab.local import LocalLab
from tests.lab.specs import federation


def test_the_local_lab_directory_is_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fed = federation(tmp_path, name="modes-test", port_offset=3100)
    monkeypatch.setattr(locallab, "port_free", lambda port: False)  # stop before any process starts
    with pytest.raises(EnvironmentProblem):
        LocalLab.of(fed, tmp_path / "labs").up()
    lab = LocalLab.of(fed, tmp_path / "labs")
    assert stat.S_IMODE(lab.directory.stat().st_mode) == 0o700
    for token in lab.secrets_dir.glob("*/flow_token"):
        assert stat.S_IMODE(token.stat().st_mode) == 0o600


def test_a_lab_root_that_is_a_file_is_a_clear_error(tmp_path: Path) -> None:
    fed = federation(tmp_path, name="root-file", port_offset=3200)
    (tmp_path / "afile").write_text("x")
    with pytest.raises(EnvironmentProblem, match=r"cannot create the lab directory .*afile/root-file/local: Not a directory"):
        LocalLab.of(fed, tmp_path / "afile").up()


def test_down_of_a_lab_under_a_file_stops_nothing_without_a_traceback(tmp_path: Path) -> None:
    fed = federation(tmp_path, name="root-file", port_offset=3200)
    (tmp_path / "afile").write_text("x")
    assert LocalLab.of(fed, tmp_path / "afile").down() == ()
