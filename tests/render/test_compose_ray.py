"""A party's own Ray cluster in the compose lab: a head and N workers from the engine image, on the
party's private network only, token authentication on with the token in a secret file, limits
from the spec, health checks, and the flow pointed at the head. Checked on the model the real
Compose v2 binary makes of the project."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from fate.flow.config import parse_flow_config
from fatectl.project import write_compose
from fatectl.render.compose import ray_services
from fatectl.render.engine import Layout, engine_configs
from fatectl.spec.model import Federation

from .tools import compose_model


@pytest.fixture(scope="module")
def ray_lab(tmp_path_factory: pytest.TempPathFactory, spec_cases: dict[str, Federation]) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("ray-compose")
    write_compose(spec_cases["two-party-ray"], out)
    return out, compose_model(out)


def test_each_party_gets_a_head_and_its_workers(ray_lab: tuple[Path, dict[str, Any]],
                                                spec_cases: dict[str, Federation]) -> None:
    _, model = ray_lab
    services = model["services"]
    for party in spec_cases["two-party-ray"].parties:
        names = ray_services(party)
        assert names == [f"{party.name}-ray-head", *(f"{party.name}-ray-worker-{i}" for i in (1, 2))]
        for name in names:
            svc = services[name]
            assert svc["image"] == spec_cases["two-party-ray"].engine.ref  # the one engine image
            assert svc["command"][:2] == ["ray", "start"]
            assert svc["read_only"] is True and svc["cap_drop"] == ["ALL"]
            assert svc["healthcheck"]["test"][:3] == ["CMD", "ray", "health-check"]
        head = services[names[0]]
        assert "--head" in head["command"] and "--num-cpus=0" in head["command"]
        for worker in names[1:]:
            svc = services[worker]
            assert f"--address={names[0]}:6379" in svc["command"] and "--num-cpus=1" in svc["command"]
            assert svc["cpus"] == 1.0 and svc["mem_limit"] == str(2**30)
            assert int(svc["shm_size"]) > 300 * 2**20  # the object store's /dev/shm
            assert svc["depends_on"][names[0]]["condition"] == "service_healthy"


def test_ray_lives_on_the_partys_network_only(ray_lab: tuple[Path, dict[str, Any]],
                                              spec_cases: dict[str, Federation]) -> None:
    _, model = ray_lab
    for party in spec_cases["two-party-ray"].parties:
        for name in ray_services(party):
            svc = model["services"][name]
            assert list(svc["networks"]) == [party.name], name
            assert not svc.get("ports") and not svc.get("expose"), name
        # No container of another party (its router included) shares a network with this party's Ray.
        for service, svc in model["services"].items():
            if not service.startswith(f"{party.name}-"):
                assert party.name not in svc["networks"], service
    assert {"bank-a-router", "bank-b-router"} <= {s for s, v in model["services"].items()
                                                  if "federation" in v["networks"]}


def test_token_auth_on_with_the_token_only_in_a_secret_file(ray_lab: tuple[Path, dict[str, Any]]) -> None:
    out, model = ray_lab
    token_file = out / "secrets" / "bank-a" / "ray_token"
    token = token_file.read_text().strip()
    assert len(token) >= 32 and token_file.stat().st_mode & 0o777 == 0o600
    assert token != (out / "secrets" / "bank-b" / "ray_token").read_text().strip()
    for name in [*ray_services_of(model, "bank-a"), "bank-a-flow"]:
        svc = model["services"][name]
        assert svc["environment"]["RAY_AUTH_MODE"] == "token"
        assert svc["environment"]["RAY_AUTH_TOKEN_PATH"] == "/run/secrets/ray_token"
        assert [s["target"] for s in svc["secrets"] if s["source"] == "bank-a-ray-token"] == ["ray_token"]
    # bank-b's flow and Ray never get bank-a's token, and no rendered file carries any token.
    for name in [*ray_services_of(model, "bank-b"), "bank-b-flow", "bank-a-router"]:
        assert "bank-a-ray-token" not in {s["source"] for s in model["services"][name].get("secrets", [])}
    for path in out.rglob("*"):
        if path.is_file() and "secrets" not in path.relative_to(out).parts:
            assert token not in path.read_text(errors="replace"), path


def ray_services_of(model: dict[str, Any], party: str) -> list[str]:
    return sorted(s for s in model["services"] if s.startswith(f"{party}-ray-"))


def test_the_flow_is_pointed_at_its_own_head(ray_lab: tuple[Path, dict[str, Any]],
                                             spec_cases: dict[str, Federation]) -> None:
    out, model = ray_lab
    fed = spec_cases["two-party-ray"]
    for party in fed.parties:
        config = yaml.safe_load((out / "config" / party.name / "flow.yaml").read_text())
        assert config["compute"] == {"engine": "ray", "workers": 2, "cpus_per_worker": 1,
                                     "address": f"ray://{party.name}-ray-head:10001",
                                     "token_file": "/run/secrets/ray_token"}
        assert config == engine_configs(fed, Layout.compose())[f"{party.name}/flow.yaml"]
        # The engine reads it as written (fate.compute.config): nothing renamed, nothing refused.
        parsed = parse_flow_config(config).compute
        assert (parsed.engine, parsed.workers, parsed.address, parsed.token_file) == (
            "ray", 2, f"ray://{party.name}-ray-head:10001", "/run/secrets/ray_token")
        depends = model["services"][f"{party.name}-flow"]["depends_on"]
        assert depends[f"{party.name}-ray-head"]["condition"] == "service_healthy"


def test_local_engine_and_ray_address_start_no_ray(tmp_path: Path, spec_cases: dict[str, Federation]) -> None:
    from dataclasses import replace

    fed = spec_cases["two-party-ray"]
    a, b = fed.parties
    joined = replace(fed, parties=(replace(a, compute=replace(a.compute, ray_address="ray://kuberay-head:10001")),
                                   replace(b, compute=replace(b.compute, engine="local"))))
    write_compose(joined, tmp_path)
    model = compose_model(tmp_path)
    assert not [s for s in model["services"] if "-ray-" in s]
    assert not (tmp_path / "secrets" / "bank-a" / "ray_token").exists()
    flow_a = yaml.safe_load((tmp_path / "config" / "bank-a" / "flow.yaml").read_text())["compute"]
    flow_b = yaml.safe_load((tmp_path / "config" / "bank-b" / "flow.yaml").read_text())["compute"]
    assert (flow_a["address"], flow_a["token_file"]) == ("ray://kuberay-head:10001", "")
    assert (flow_b["engine"], flow_b["address"], flow_b["token_file"]) == ("local", "", "")
    assert "environment" not in model["services"]["bank-a-flow"]
