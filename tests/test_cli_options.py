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
