"""The `fatectl bundle` commands: messages and exit codes, never tracebacks."""

from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner

from fatectl.bundle.manifest import Manifest
from fatectl.cli import main


def test_keygen_then_verify_with_the_right_and_wrong_key(
    tmp_path: Path, signed_bundle: tuple[Path, Manifest], keypair: tuple[Path, Path]
) -> None:
    runner = CliRunner()
    made = runner.invoke(main, ["bundle", "keygen", "-o", str(tmp_path / "site.key")])
    assert made.exit_code == 0, made.output
    assert "key id" in made.output and (tmp_path / "site.key.pub").is_file()

    ok = runner.invoke(main, ["bundle", "verify", str(signed_bundle[0]), "--pubkey", str(keypair[1])])
    assert ok.exit_code == 0, ok.output
    assert "signature OK" in ok.output and f"{len(signed_bundle[1].files)} files verified" in ok.output

    unchecked = runner.invoke(main, ["bundle", "verify", str(signed_bundle[0])])
    assert unchecked.exit_code == 0 and "signature NOT checked" in unchecked.output

    wrong = runner.invoke(main, ["bundle", "verify", str(signed_bundle[0]), "--pubkey", str(tmp_path / "site.key.pub")])
    assert wrong.exit_code == 5
    assert "error: manifest.sig: signed by key" in wrong.output and "Traceback" not in wrong.output


def test_verify_of_a_corrupt_file_is_a_clean_error(tmp_path: Path, signed_bundle: tuple[Path, Manifest]) -> None:
    copy = tmp_path / "copy.tar"
    shutil.copy(signed_bundle[0], copy)
    with open(copy, "r+b") as f:
        f.truncate(copy.stat().st_size // 3)
    result = CliRunner().invoke(main, ["bundle", "verify", str(copy)])
    assert result.exit_code == 5
    assert "truncated" in result.output and "Traceback" not in result.output


def test_create_with_a_bad_spec_is_a_clean_error(tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text("apiVersion: fatectl/v1\nname: Not A DNS Label\nparties: []\n")
    result = CliRunner().invoke(main, ["bundle", "create", str(spec), "-o", str(tmp_path / "x.tar"), "--no-wheels"])
    assert result.exit_code == 1 and "error:" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "x.tar").exists()


def test_load_insists_on_a_key_or_an_explicit_allow_unsigned(tmp_path: Path, signed_bundle: tuple[Path, Manifest],
                                                            keypair: tuple[Path, Path]) -> None:
    runner = CliRunner()
    refused = runner.invoke(main, ["bundle", "load", str(signed_bundle[0]), "-d", str(tmp_path / "site")])
    assert refused.exit_code == 5 and "Traceback" not in refused.output
    assert "--pubkey KEY.pub" in refused.output and "--allow-unsigned" in refused.output
    assert not (tmp_path / "site").exists()
    both = runner.invoke(main, ["bundle", "load", str(signed_bundle[0]), "--pubkey", str(keypair[1]),
                                "--allow-unsigned", "-d", str(tmp_path / "site")])
    assert both.exit_code == 1 and "contradict" in both.output
    assert not (tmp_path / "site").exists()
