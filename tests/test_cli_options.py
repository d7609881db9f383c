"""Option values the CLI refuses before any work starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from fatectl.cli import main

SPEC = str(Path(__file__).resolve().parents[1] / "examples" / "two-party.yaml")


@pytest.mark.parametrize("lab", ["local", "compose"])
def test_up_refuses_a_negative_timeout(lab: str) -> None:
    result = CliRunner().invoke(main, ["up", lab, SPEC, "--timeout", "-1"])
    assert result.exit_code == 1  # usage errors are bad input; 2 is diff's "changes pending"
    assert "Invalid value for '--timeout'" in result.output and "x>=0" in result.output


class _LostEngine:
    """A lab whose Docker engine goes away after the command started (the SDK raises from any call)."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def status(self) -> None:
        raise self.error


@pytest.mark.parametrize("error", [
    "requests.exceptions.ConnectionError",
    "docker.errors.APIError",
])
def test_an_engine_lost_mid_command_is_an_environment_error_not_a_traceback(
        error: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    module, name = error.rsplit(".", 1)
    raised = getattr(importlib.import_module(module), name)("Connection aborted: FileNotFoundError(2, 'No such file')")
    monkeypatch.setattr("fatectl.lab.kinds.current_lab", lambda fed: _LostEngine(raised))
    result = CliRunner().invoke(main, ["status", SPEC])
    assert result.exit_code == 3, result.output
    assert "error: the Docker engine failed during the command (" in result.output
    assert "Connection aborted" in result.output and "docker info" in result.output
    assert "Traceback" not in result.output


def test_a_bug_is_not_disguised_as_an_engine_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("fatectl.lab.kinds.current_lab", lambda fed: _LostEngine(KeyError("a bug")))
    result = CliRunner().invoke(main, ["status", SPEC])
    assert isinstance(result.exception, KeyError) and result.exit_code != 3
