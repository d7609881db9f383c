"""Every malformed spec fails with FILE:LINE[:COL] path: message, exit status 1, no traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from click.testing import CliRunner

from fatectl.cli import main
from fatectl.errors import SpecError
from fatectl.spec.loader import load_federation

from .cases import CASES, VALID, Case


def _check(case: Case, file: Path, exit_code: int, output: str) -> None:
    assert exit_code == 1, output
    assert "Traceback" not in output
    expected = case.expected(file)
    lines = [line.strip() for line in output.splitlines()]
    hits = [line for line in lines if line.startswith(expected)]
    assert hits, f"no line starts with {expected!r}:\n{output}"
    assert any(case.fragment in line for line in hits), f"{case.fragment!r} not in {hits}"


def test_enough_cases() -> None:
    assert len(CASES) >= 35
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_cli_reports_problem_at_its_position(case: Case, tmp_path: Path) -> None:
    file = case.write(tmp_path)
    result = CliRunner().invoke(main, ["validate", str(file)])
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)
    _check(case, file, result.exit_code, result.output)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_loader_raises_spec_error_with_located_problem(case: Case, tmp_path: Path) -> None:
    file = case.write(tmp_path)
    with pytest.raises(SpecError) as info:
        load_federation(file)
    assert info.value.problems
    assert all(p.file == str(file) for p in info.value.problems)


def fatectl_command() -> list[str]:
    exe = shutil.which("fatectl", path=os.path.dirname(sys.executable))
    return [exe] if exe else [sys.executable, "-m", "fatectl.cli"]


QUICK = ("missing-file", "binary", "unclosed-bracket", "duplicate-key", "port-too-big", "unknown-nested-key")


def test_real_subprocess_for_representative_cases(tmp_path: Path) -> None:
    _run_subprocesses([c for c in CASES if c.id in QUICK], tmp_path)


@pytest.mark.slow
def test_real_subprocess_for_every_case(tmp_path: Path) -> None:
    _run_subprocesses(CASES, tmp_path)


def _run_subprocesses(cases: list[Case], tmp_path: Path) -> None:
    files = [case.write(tmp_path) for case in cases]

    def run(file: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*fatectl_command(), "validate", str(file)], capture_output=True, text=True, timeout=60)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(run, files))
    assert len(results) == len(cases) > 0
    for case, file, result in zip(cases, files, results, strict=True):
        assert result.stdout == "", case.id
        _check(case, file, result.returncode, result.stderr)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    spec = tmp_path / "many.yaml"
    spec.write_text(
        VALID.replace("name: lab", "name: Lab")
        + "    router: {port: 0}\n"
        + "    modules: [flow]\n"
        + "    colour: blue\n"
    )
    with pytest.raises(SpecError) as info:
        load_federation(spec)
    found = {(p.line, p.path) for p in info.value.problems}
    assert found == {
        (2, "name"),
        (10, "parties[1].router.port"),
        (10, "parties[1].router"),
        (11, "parties[1].modules"),
        (12, "parties[1].colour"),
    }
    assert str(info.value).startswith(f"{spec}: invalid spec (5 problems)")
