"""Valid specs load into the frozen model, with defaults and derived values filled in."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from fatectl.errors import SpecError
from fatectl.spec.loader import load_federation, validate_file
from fatectl.spec.model import COMPONENTS, DEFAULT_PORTS, Federation, PartyPolicy, PolicyRule
from fatectl.spec.sample import generate_spec_text

from .cases import VALID

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _load_text(tmp_path: Path, text: str, name: str = "spec.yaml") -> Federation:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return load_federation(path)


def test_two_party_example() -> None:
    fed = load_federation(EXAMPLES / "two-party.yaml")
    assert fed.name == "two-banks"
    assert [(p.id, p.name) for p in fed.parties] == [(9999, "bank-a"), (10000, "bank-b")]
    assert fed.security.tls == "mutual" and fed.security.paillier_key_bits == 2048
    assert not fed.security.allow_insecure_keys
    assert fed.topology == "direct"
    bank_a = fed.party(9999)
    assert bank_a.module_names == ("router", "flow")
    assert bank_a.kubernetes.service_type == "NodePort"
    assert bank_a.module("router").node_port == 30370  # type: ignore[union-attr]
    assert dict(bank_a.kubernetes.node_selector) == {"kubernetes.io/os": "linux"}
    assert dict(bank_a.compose.host_ports) == {"router": 19010, "flow": 19011}
    flow = bank_a.module("flow")
    assert flow is not None and flow.persistence is not None and flow.persistence.size == "10Gi"
    assert dict(flow.resources.limits) == {"cpu": "2", "memory": "4Gi"}
    assert fed.source == str(EXAMPLES / "two-party.yaml")


def test_the_examples_hosts_let_the_guest_run_the_breast_study_and_nothing_else() -> None:
    study = PolicyRule("breast-study", "auto", peers=(9999,), components=("psi", "hetero_lr", "evaluation"),
                       tables=("breast_hetero_host",), roles=("host",))
    two = load_federation(EXAMPLES / "two-party.yaml")
    assert two.party(9999).policy == PartyPolicy()  # the guest keeps every secure default
    assert two.party(10000).policy == PartyPolicy(rules=(study,))
    three = load_federation(EXAMPLES / "three-party-exchange.yaml")
    assert [p.policy for p in three.parties] == [PartyPolicy(), PartyPolicy(rules=(study,)),
                                                 PartyPolicy(rules=(study,))]


def test_a_policy_names_only_components_the_engine_offers() -> None:
    from fate.ml.registry import BUILTINS

    assert set(COMPONENTS) == set(BUILTINS)


def test_lab_policies_are_explicit_and_the_default_stays_secure(tmp_path: Path) -> None:
    lab = _load_text(tmp_path, generate_spec_text(2, False, key_bits=1024, lab_policy=True), "lab.yaml")
    assert lab.party(9999).policy == PartyPolicy(min_key_bits=1024, allow_insecure_keys=True,
                                                 rules=(PolicyRule("lab-peers", "auto", peers=(10000,)),))
    plain = _load_text(tmp_path, generate_spec_text(2, False, key_bits=1024), "plain.yaml")
    assert all(p.policy == PartyPolicy() for p in plain.parties)


def test_three_party_exchange_example() -> None:
    fed = load_federation(EXAMPLES / "three-party-exchange.yaml")
    assert fed.topology == "star"
    assert fed.exchange.enabled and fed.exchange.id == 1 and fed.exchange.address == "203.0.113.10"
    assert fed.exchange.host_port == 19000 and fed.exchange.service_type == "LoadBalancer"
    assert [p.id for p in fed.parties] == [9999, 10000, 10001]
    assert [p.kubernetes.namespace for p in fed.parties] == ["fate-9999", "fate-10000", "fate-10001"]
    hospital_c = fed.party(10001).module("flow")
    assert hospital_c is not None and hospital_c.persistence is not None
    assert hospital_c.persistence.size == "50Gi"


def test_examples_dir_holds_only_specs_at_top_level() -> None:
    top = sorted(p.name for p in EXAMPLES.iterdir() if p.is_file())
    assert top and all(name.endswith(".yaml") for name in top)
    for name in top:
        assert isinstance(validate_file(EXAMPLES / name), Federation)


def test_defaults_fill_a_minimal_spec(tmp_path: Path) -> None:
    fed = _load_text(tmp_path, VALID)
    assert fed.engine.ref == "fate-engine:0.1.0" and fed.engine.pull_policy == "IfNotPresent"
    assert fed.security.tls == "mutual" and fed.security.paillier_key_bits == 2048
    assert not fed.exchange.enabled and fed.exchange.host_port is None
    for index, party in enumerate(fed.parties):
        assert party.module_names == ("router", "flow")
        assert [m.port for m in party.modules] == [DEFAULT_PORTS["router"], DEFAULT_PORTS["flow"]]
        assert party.kubernetes.namespace == f"fate-{party.id}"
        assert party.kubernetes.service_type == "ClusterIP"
        base = 19000 + 10 * (index + 1)
        assert dict(party.compose.host_ports) == {"router": base, "flow": base + 1}
        router = party.module("router")
        assert router is not None and dict(router.resources.requests) == {"cpu": "200m", "memory": "256Mi"}


def test_derived_host_ports_avoid_explicit_ones(tmp_path: Path) -> None:
    # bank-b asks for 19010, which bank-a's router would otherwise get by default.
    text = VALID + "    modules: [router, flow, board]\n    compose: {hostPorts: {board: 19010}}\n"
    fed = _load_text(tmp_path, text)
    a, b = fed.parties
    assert dict(b.compose.host_ports)["board"] == 19010
    ports = [*a.compose.host_ports.values(), *b.compose.host_ports.values()]
    assert len(ports) == len(set(ports)) == 5
    assert 19010 not in a.compose.host_ports.values()


def test_empty_sections_take_defaults(tmp_path: Path) -> None:
    fed = _load_text(tmp_path, VALID.replace("name: lab\n", "name: lab\nengine:\nsecurity:\n"))
    assert fed.engine.image == "fate-engine" and fed.security.tls == "mutual"


def test_insecure_keys_need_the_lab_flag(tmp_path: Path) -> None:
    text = VALID.replace("name: lab\n", "name: lab\nsecurity: {paillierKeyBits: 1024, allowInsecureKeys: true}\n")
    fed = _load_text(tmp_path, text)
    assert fed.security.paillier_key_bits == 1024 and fed.security.allow_insecure_keys


def test_model_is_frozen(tmp_path: Path) -> None:
    fed = _load_text(tmp_path, VALID)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fed.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        fed.parties[0].compose.host_ports["router"] = 1  # type: ignore[index]


def test_unknown_party_id_is_a_spec_error(tmp_path: Path) -> None:
    fed = _load_text(tmp_path, VALID)
    with pytest.raises(SpecError, match="no party with id 1 "):
        fed.party(1)


@pytest.mark.parametrize("n", [2, 3, 10, 50])
@pytest.mark.parametrize("exchange", [False, True])
def test_generated_specs_validate(n: int, exchange: bool, tmp_path: Path) -> None:
    fed = _load_text(tmp_path, generate_spec_text(n, exchange))
    assert len(fed.parties) == n and fed.exchange.enabled is exchange
    ports = [port for p in fed.parties for port in p.compose.host_ports.values()]
    if exchange:
        assert fed.exchange.host_port is not None
        ports.append(fed.exchange.host_port)
    assert len(ports) == len(set(ports))


def test_generated_spec_options(tmp_path: Path) -> None:
    text = generate_spec_text(10, False, name="big", tls="none", key_bits=1024,
                              modules=("router", "flow", "board"), node_ports=True)
    fed = _load_text(tmp_path, text)
    assert fed.name == "big" and fed.security.tls == "none" and fed.security.allow_insecure_keys
    assert all(p.module_names == ("router", "flow", "board") for p in fed.parties)
    node_ports = [p.module("router").node_port for p in fed.parties]  # type: ignore[union-attr]
    assert len(set(node_ports)) == 10 and all(30000 <= n <= 32767 for n in node_ports if n)


def test_generator_is_deterministic_and_bounded() -> None:
    assert generate_spec_text(50, True) == generate_spec_text(50, True)
    with pytest.raises(SpecError):
        generate_spec_text(1, False)
    with pytest.raises(SpecError, match="no room"):
        generate_spec_text(10, False, host_port_base=65500)


def test_generator_moves_host_ports(tmp_path: Path) -> None:
    fed = _load_text(tmp_path, generate_spec_text(3, True, host_port_base=25000))
    assert fed.exchange.host_port == 25000
    assert [dict(p.compose.host_ports) for p in fed.parties] == [
        {"router": 25010, "flow": 25011}, {"router": 25020, "flow": 25021}, {"router": 25030, "flow": 25031}
    ]


def test_loading_twice_gives_equal_models(tmp_path: Path) -> None:
    for spec in sorted(EXAMPLES.glob("*.yaml")):
        assert load_federation(spec) == load_federation(spec)
