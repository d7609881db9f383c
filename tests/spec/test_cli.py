"""`fatectl validate` on valid specs: exit 0 and a one-line summary."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from fatectl.cli import main
from fatectl.spec.sample import generate_spec_text

from .test_malformed import fatectl_command

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_two_party_summary() -> None:
    spec = str(EXAMPLES / "two-party.yaml")
    result = CliRunner().invoke(main, ["validate", spec])
    assert result.exit_code == 0, result.output
    assert result.output == (
        f"OK {spec}: federation two-banks, 2 parties (9999, 10000), modules router+flow, "
        "topology direct, tls mutual, 2048-bit keys\n"
    )


def test_exchange_summary() -> None:
    spec = str(EXAMPLES / "three-party-exchange.yaml")
    result = CliRunner().invoke(main, ["validate", spec])
    assert result.exit_code == 0, result.output
    assert "3 parties (9999, 10000, 10001)" in result.output
    assert "topology star via exchange (1)" in result.output


@pytest.mark.parametrize("n", [10, 50])
def test_generated_specs_exit_zero(n: int, tmp_path: Path) -> None:
    spec = tmp_path / f"fed-{n}.yaml"
    spec.write_text(generate_spec_text(n, exchange=n == 50, modules=("router", "flow", "board")))
    result = CliRunner().invoke(main, ["validate", str(spec)])
    assert result.exit_code == 0, result.output
    assert f"{n} parties (9999 ... {9999 + n - 1})" in result.output


def test_real_subprocess_on_examples() -> None:
    for spec in sorted(EXAMPLES.glob("*.yaml")):
        done = subprocess.run([*fatectl_command(), "validate", str(spec)], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(f"OK {spec}: ")
