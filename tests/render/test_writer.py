from __future__ import annotations

import os
from pathlib import Path

import pytest

from fatectl.errors import RenderError
from fatectl.files import write_file, write_tree


def test_modes_and_sorted_changes(tmp_path: Path) -> None:
    changed = write_tree(tmp_path, {"b/x.yaml": "x: 1\n", "a.txt": "a", "s/key": b"k"}, frozenset({"s/key"}))
    assert changed == [tmp_path / "a.txt", tmp_path / "b/x.yaml", tmp_path / "s/key"]
    assert (tmp_path / "s/key").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644


def test_unchanged_file_is_not_rewritten(tmp_path: Path) -> None:
    target = tmp_path / "f"
    assert write_file(target, "same")
    os.utime(target, (1, 1))
    assert not write_file(target, "same")
    assert target.stat().st_mtime == 1
    assert write_file(target, "other") and target.read_text() == "other"
    assert [p.name for p in tmp_path.iterdir()] == ["f"], "no temp file left behind"


def test_mode_is_corrected_on_an_unchanged_secret(tmp_path: Path) -> None:
    target = tmp_path / "token"
    target.write_text("t")
    target.chmod(0o644)
    assert not write_file(target, "t", 0o600)
    assert target.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("bad", ["../escape", "/abs/path", ""])
def test_paths_outside_the_output_are_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(RenderError, match="outside the output"):
        write_tree(tmp_path / "out", {bad: "x"})


def test_output_that_is_a_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(RenderError, match="cannot create output directory|not a directory"):
        write_tree(tmp_path / "file", {"a": "b"})
