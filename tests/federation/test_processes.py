"""The real entry points: `fatectl certs create` and `python -m fate router|check` as processes."""

from __future__ import annotations

import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from ruamel.yaml import YAML

from fate.federation.client import RouterTransport
from fatectl.cli import main as fatectl_main
from fatectl.pki import ensure_secrets
from fatectl.render.engine import Layout, engine_configs
from tests.federation.lab import lab_federation

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_certs_create_from_a_spec(tmp_path: Path) -> None:
    out = tmp_path / "secrets"
    result = CliRunner().invoke(fatectl_main, ["certs", "create", str(EXAMPLES / "three-party-exchange.yaml"),
                                               "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "CA: " in result.output
    assert stat.S_IMODE((out / "ca.key").stat().st_mode) == 0o600
    keys = sorted(p.relative_to(out).as_posix() for p in out.rglob("tls.key"))
    assert keys == ["exchange/tls.key", "hospital-a/tls.key", "hospital-b/tls.key", "hospital-c/tls.key"]
    again = CliRunner().invoke(fatectl_main, ["certs", "create", str(EXAMPLES / "three-party-exchange.yaml"),
                                              "-o", str(out)])
    assert again.exit_code == 0


def test_certs_create_with_an_invalid_spec_is_a_clear_error(tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text("apiVersion: fatectl/v1\nname: x\nparties: 3\n")
    result = CliRunner().invoke(fatectl_main, ["certs", "create", str(spec), "-o", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "error:" in result.output and "parties" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def _fate(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fate", *args], capture_output=True, text=True, timeout=60,
                          **kwargs)  # type: ignore[call-overload]


@pytest.fixture()
def router_files(tmp_path: Path) -> dict[int, Path]:
    fed = lab_federation((9999, 10000), exchange=False)
    ensure_secrets(fed, tmp_path / "secrets")
    files = {}
    for name, config in engine_configs(fed, Layout.local(str(tmp_path / "secrets"), str(tmp_path / "data"))).items():
        if name.endswith("router.yaml"):
            path = tmp_path / name
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("w") as fh:
                YAML(typ="safe").dump(config, fh)
            files[config["party_id"]] = path
    return files


@pytest.fixture()
def routers(router_files: dict[int, Path]) -> Iterator[dict[int, Path]]:
    procs = [
        subprocess.Popen([sys.executable, "-m", "fate", "router", "--config", str(path)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for path in router_files.values()
    ]
    try:
        yield router_files
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            assert proc.wait(20) == 0, proc.stderr.read() if proc.stderr else ""


def _wait_healthy(config: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        result = _fate("check", "router", "--config", str(config))
        if result.returncode == 0:
            return
        assert time.monotonic() < deadline, result.stderr
        time.sleep(0.3)


def test_router_processes_deliver_over_mtls(routers: dict[int, Path]) -> None:
    for path in routers.values():
        _wait_healthy(path)
    yaml = YAML(typ="safe")
    configs = {pid: yaml.load(path.read_text()) for pid, path in routers.items()}
    a = RouterTransport(9999, "127.0.0.1", configs[9999]["listen"]["port"], configs[9999]["tls"])
    b = RouterTransport(10000, "127.0.0.1", configs[10000]["listen"]["port"], configs[10000]["tls"])
    try:
        a.send("proc-job", "hello", 10000, b"across processes")
        assert b.recv("proc-job", "hello", 9999, timeout=10) == b"across processes"
    finally:
        a.close()
        b.close()


def test_check_reports_a_router_that_is_down(router_files: dict[int, Path]) -> None:
    result = _fate("check", "router", "--config", str(router_files[9999]), "--timeout", "1")
    assert result.returncode == 1
    assert "unhealthy: router at https://127.0.0.1:" in result.stderr


def test_bad_router_config_exits_with_every_problem(tmp_path: Path) -> None:
    config = tmp_path / "router.yaml"
    config.write_text("party_id: abc\nlisten: {host: 0.0.0.0, port: 99999}\ntls: {mode: mutual}\n")
    result = _fate("router", "--config", str(config))
    assert result.returncode == 2
    assert "party_id: expected an integer" in result.stderr
    assert "listen.port: 99999 is not a TCP port" in result.stderr
    assert "tls.ca_file" in result.stderr and "Traceback" not in result.stderr
    missing = _fate("router", "--config", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr


def test_unknown_role_and_help() -> None:
    assert _fate("--help").returncode == 0
    unknown = _fate("juggler")
    assert unknown.returncode == 2 and "unknown role 'juggler'" in unknown.stderr
