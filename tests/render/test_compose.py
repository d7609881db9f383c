"""The compose project passes the real Compose v2 (`config -q`) and keeps its promises:
127.0.0.1-only ports, routers alone on the federation network, file secrets 0600."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from fatectl.project import write_compose
from fatectl.render.compose import ray_services, render_compose
from fatectl.render.engine import Layout, engine_configs
from fatectl.render.ray import ENVIRONMENT as RAY_ENVIRONMENT
from fatectl.spec.model import Federation

from .tools import CASES, compose_model, docker_compose, write_cases


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory, spec_cases: dict[str, Federation]) -> dict[str, Path]:
    return write_cases(tmp_path_factory.mktemp("compose"), spec_cases, write_compose)


def _routers(fed: Federation) -> set[str]:
    names = {f"{p.name}-router" for p in fed.parties}
    return names | ({f"{fed.exchange.name}-router"} if fed.exchange.enabled else set())


@pytest.mark.parametrize("case", CASES)
def test_compose_accepts_the_project(
    case: str, spec_cases: dict[str, Federation], projects: dict[str, Path]
) -> None:
    fed = spec_cases[case]
    model = compose_model(projects[case])
    assert model["name"] == fed.name
    services: dict[str, Any] = model["services"]
    expected = _routers(fed) | {f"{p.name}-{m}" for p in fed.parties for m in p.module_names}
    expected |= {s for p in fed.parties for s in ray_services(p)}  # a party's own Ray (test_compose_ray.py)
    assert set(services) == expected
    on_federation = {name for name, s in services.items() if "federation" in s["networks"]}
    assert on_federation == _routers(fed)
    for party in fed.parties:
        for module in party.module_names:
            service = services[f"{party.name}-{module}"]
            assert party.name in service["networks"]
            assert set(service["networks"]) <= {party.name, "federation"}
    for name, service in services.items():
        assert all(p["host_ip"] == "127.0.0.1" for p in service.get("ports", [])), name
        # Ray's variables name its token file and require it; no other value, never a secret.
        assert set(service.get("environment", {})) <= set(RAY_ENVIRONMENT), f"{name}: no environment values"
        check = ["CMD", "ray", "health-check"] if "-ray-" in name else ["CMD", "python", "-m", "fate", "check"]
        assert service["healthcheck"]["test"][: len(check)] == check, name
        assert not service.get("profiles"), f"{name}: started by a plain `up`"
    assert set(model["volumes"]) == {f"{n.removesuffix('-router')}-data" for n in _routers(fed)}


@pytest.mark.parametrize("case", ["two-party", "three-party-exchange"])
def test_secrets_are_0600_files_handed_to_the_right_services(case: str, projects: dict[str, Path]) -> None:
    project = projects[case]
    model = compose_model(project)
    for name, secret in model["secrets"].items():
        path = Path(secret["file"])
        assert path.is_file(), name
        if path.name in ("tls.key", "flow_token"):
            assert path.stat().st_mode & 0o777 == 0o600, path
    text = (project / "compose.yaml").read_text()
    for secret in model["secrets"].values():
        if Path(secret["file"]).name in ("tls.key", "flow_token"):
            assert Path(secret["file"]).read_text().strip().splitlines()[-1] not in text
    router = model["services"][next(n for n in model["services"] if n.endswith("-router"))]
    assert sorted(s["target"] for s in router["secrets"]) == ["ca.crt", "tls.crt", "tls.key"]
    flow = model["services"][next(n for n in model["services"] if n.endswith("-flow"))]
    assert "flow_token" in {s["target"] for s in flow["secrets"]}
    uid, gid = (project / ".env").read_text().split()
    owner = Path(model["secrets"][next(iter(model["secrets"]))]["file"]).stat().st_uid
    assert uid == f"FATECTL_UID={owner}" and flow["user"] == f"{owner}:{gid.split('=')[1]}"


def test_config_files_are_the_engine_contract(
    spec_cases: dict[str, Federation], projects: dict[str, Path]
) -> None:
    fed = spec_cases["three-party-exchange"]
    for path, config in engine_configs(fed, Layout.compose()).items():
        assert yaml.safe_load((projects["three-party-exchange"] / "config" / path).read_text()) == config


def test_two_labs_coexist_by_project_name(spec_cases: dict[str, Federation]) -> None:
    a = yaml.safe_load(render_compose(spec_cases["two-party"])["compose.yaml"])
    b = yaml.safe_load(render_compose(spec_cases["three-party-exchange"])["compose.yaml"])
    assert a["name"] != b["name"]


def test_the_compose_binary_really_validates(tmp_path: Path, projects: dict[str, Path]) -> None:
    broken = tmp_path / "compose.yaml"
    text = (projects["two-party"] / "compose.yaml").read_text()
    broken.write_text(text.replace("read_only: true", "read_only: true\n  bogus_key: 1"))
    result = subprocess.run(
        [
            *docker_compose(),
            "--project-directory",
            str(projects["two-party"]),
            "-f",
            str(broken),
            "config",
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0 and "bogus_key" in result.stderr
