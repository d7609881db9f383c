from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from fate.flow.policy import Policy, parse_policy
from fatectl.errors import RenderError
from fatectl.render.engine import Layout, engine_configs
from fatectl.spec.loader import load_federation
from fatectl.spec.model import Compose, Federation
from fatectl.spec.sample import generate_spec_text

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_direct_compose_routes_every_peer_by_service_name(make_fed: Callable[..., Federation]) -> None:
    configs = engine_configs(make_fed(3), Layout.compose())
    assert sorted(configs) == [f"party-{i}/{f}.yaml" for i in range(3) for f in ("board", "flow", "router")]
    router = configs["party-0/router.yaml"]
    assert router["routes"] == [
        {"party_id": 10000, "host": "party-1-router", "port": 9370},
        {"party_id": 10001, "host": "party-2-router", "port": 9370},
    ]
    assert router["default_route"] is None
    assert router["listen"] == {"host": "0.0.0.0", "port": 9370}
    assert router["tls"] == {
        "mode": "mutual",
        "ca_file": "/run/secrets/ca.crt",
        "cert_file": "/run/secrets/tls.crt",
        "key_file": "/run/secrets/tls.key",
    }
    flow = configs["party-0/flow.yaml"]
    assert flow["router"] == {"host": "party-0-router", "port": 9370}
    assert flow["token_file"] == "/run/secrets/flow_token"
    assert flow["data_dir"] == "/data/flow"


def test_exchange_star_topology(make_fed: Callable[..., Federation]) -> None:
    configs = engine_configs(make_fed(3, exchange=True), Layout.compose())
    for i in range(3):
        party = configs[f"party-{i}/router.yaml"]
        assert party["routes"] == []
        assert party["default_route"] == {"host": "exchange-router", "port": 9370, "party_id": 1}
    hub = configs["exchange/router.yaml"]
    assert hub["role"] == "exchange" and hub["party_id"] == 1
    assert [r["party_id"] for r in hub["routes"]] == [9999, 10000, 10001]


def test_local_layout_uses_host_ports_and_directories(make_fed: Callable[..., Federation]) -> None:
    configs = engine_configs(make_fed(2, exchange=True), Layout.local("/tmp/s", "/tmp/d"))
    router = configs["party-1/router.yaml"]
    assert router["listen"] == {"host": "127.0.0.1", "port": 20010}
    assert router["default_route"] == {"host": "127.0.0.1", "port": 19370, "party_id": 1}
    assert router["tls"]["key_file"] == "/tmp/s/party-1/tls.key"
    assert router["data_dir"] == "/tmp/d/party-1/router"
    assert configs["party-1/flow.yaml"]["router"] == {"host": "127.0.0.1", "port": 20010}
    assert configs["exchange/router.yaml"]["listen"]["port"] == 19370


def test_helm_layout_reaches_peers_at_address_and_node_port(make_fed: Callable[..., Federation]) -> None:
    configs = engine_configs(make_fed(2), Layout.helm())
    assert configs["party-0/router.yaml"]["routes"] == [
        {"party_id": 10000, "host": "10.0.0.2", "port": 30003}
    ]
    assert configs["party-0/flow.yaml"]["router"] == {"host": "party-0-router", "port": 9370}


def test_tls_none_has_no_files(make_fed: Callable[..., Federation]) -> None:
    configs = engine_configs(make_fed(2, tls="none"), Layout.compose())
    assert configs["party-0/router.yaml"]["tls"] == {"mode": "none"}


def test_local_layout_without_host_ports_lists_every_missing_port(
    make_fed: Callable[..., Federation],
) -> None:
    fed = make_fed(2)
    bare = tuple(p.__class__(**{**p.__dict__, "compose": Compose()}) for p in fed.parties)
    fed = fed.__class__(**{**fed.__dict__, "parties": bare})
    with pytest.raises(RenderError) as err:
        engine_configs(fed, Layout.local("/s", "/d"))
    assert len(err.value.problems) == 4


def test_every_target_gives_each_flow_its_partys_policy(tmp_path: Path) -> None:
    fed = load_federation(EXAMPLES / "two-party.yaml")
    layouts = [Layout.compose(), Layout.local(str(tmp_path / "s"), str(tmp_path / "d")), Layout.helm("bank-b")]
    policies = [engine_configs(fed, layout)["bank-b/flow.yaml"]["policy"] for layout in layouts]
    assert policies[0] == policies[1] == policies[2]
    assert policies[0]["rules"] == [{"name": "breast-study", "approval": "auto", "peers": [9999],
                                     "components": ["psi", "hetero_lr", "evaluation"],
                                     "tables": ["breast_hetero_host"], "roles": ["host"]}]
    # bank-a writes no policy: its flow gets every secure default, written out.
    assert parse_policy(engine_configs(fed, Layout.compose())["bank-a/flow.yaml"]["policy"]) == Policy()


def test_every_target_gives_each_flow_its_compute_section(tmp_path: Path) -> None:
    spec = tmp_path / "ray.yaml"
    spec.write_text(generate_spec_text(2, False, ray_workers=3), encoding="utf-8")
    fed = load_federation(spec)
    party = fed.parties[0]
    assert (party.compute.engine, party.compute.workers, party.compute.starts_ray) == ("ray", 3, True)
    common = {"engine": "ray", "workers": 3, "cpus_per_worker": 1}
    local = engine_configs(fed, Layout.local(str(tmp_path / "s"), str(tmp_path / "d")))
    compose = engine_configs(fed, Layout.compose())
    helm = engine_configs(fed, Layout.helm(release="prod"))
    key = f"{party.name}/flow.yaml"
    # The local lab: a private Ray started by the flow itself on the host (no head, no token file).
    assert local[key]["compute"] == {**common, "address": "", "token_file": ""}
    assert compose[key]["compute"] == {**common, "address": f"ray://{party.name}-ray-head:10001",
                                       "token_file": "/run/secrets/ray_token"}
    assert helm[key]["compute"] == {**common, "address": "ray://prod-ray-head:10001",
                                    "token_file": "/run/secrets/ray_token"}
    # Without ray, every target says so in the same words.
    plain = tmp_path / "plain.yaml"
    plain.write_text(generate_spec_text(2, False), encoding="utf-8")
    for layout in (Layout.compose(), Layout.helm(), Layout.local(str(tmp_path / "s"), str(tmp_path / "d"))):
        config = engine_configs(load_federation(plain), layout)["party-9999/flow.yaml"]
        assert config["compute"] == {"engine": "local", "workers": 2, "cpus_per_worker": 1, "address": "",
                                     "token_file": ""}
