"""`fatectl render helm|compose` through the real command line entry point."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from fatectl.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_render_helm_one_party(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["render", "helm", str(EXAMPLES / "two-party.yaml"), "-o", str(tmp_path), "--party", "10000"]
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [".gitignore", "bank-b", "secrets"]
    assert (tmp_path / "bank-b" / "Chart.yaml").is_file()
    # the render can be committed for review; its keys cannot
    assert (tmp_path / ".gitignore").read_text().splitlines()[1:] == ["/secrets/", "/*/secret-values.yaml"]
    assert (tmp_path / "secrets").stat().st_mode & 0o777 == 0o700
    assert f"chart {tmp_path / 'bank-b'}" in result.output


def test_render_helm_exchange_by_id(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["render", "helm", str(EXAMPLES / "three-party-exchange.yaml"), "-o", str(tmp_path), "--party", "1"],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "exchange" / "values.yaml").read_text().count('role: "exchange"') == 1


def test_unknown_party_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["render", "helm", str(EXAMPLES / "two-party.yaml"), "-o", str(tmp_path), "--party", "42"]
    )
    assert result.exit_code == 1
    assert "no party with id 42" in result.output and "Traceback" not in result.output


def test_invalid_spec_reports_file_and_line(tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text((EXAMPLES / "two-party.yaml").read_text().replace("port: 9370", "port: 99999", 1))
    result = CliRunner().invoke(main, ["render", "compose", str(spec), "-o", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert f"{spec}:" in result.output and "router.port" in result.output
    assert not (tmp_path / "out").exists()


def test_render_under_a_file_path_fails_cleanly(tmp_path: Path) -> None:
    taken = tmp_path / "taken"
    taken.write_text("")
    result = CliRunner().invoke(
        main, ["render", "helm", str(EXAMPLES / "two-party.yaml"), "-o", str(taken / "sub")]
    )
    assert result.exit_code == 8, result.output  # render/write error
    assert (
        result.output.startswith("error: cannot create output directory") and "Traceback" not in result.output
    )


def test_committing_a_render_leaves_every_key_and_token_out(tmp_path: Path) -> None:
    import subprocess

    for target in ("helm", "compose"):
        out = tmp_path / target
        result = CliRunner().invoke(main, ["render", target, str(EXAMPLES / "two-party.yaml"), "-o", str(out)])
        assert result.exit_code == 0, result.output
        subprocess.run(["git", "init", "-q", str(out)], check=True)
        subprocess.run(["git", "-C", str(out), "add", "-A"], check=True)
        staged = subprocess.run(
            ["git", "-C", str(out), "diff", "--cached", "--name-only"], capture_output=True, text=True, check=True
        ).stdout.split()
        assert staged and not [f for f in staged if f.startswith("secrets/") or f.endswith("secret-values.yaml")]
        for path in staged:
            assert "PRIVATE KEY" not in (out / path).read_text(errors="replace")
