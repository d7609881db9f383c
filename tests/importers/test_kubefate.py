"""KubeFATE cluster.yaml (1.x rollsite, 1.x with an exchange, 2.x osx) -> a spec that validates and renders."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from fatectl.cli import main
from fatectl.errors import SpecError
from fatectl.importers.join import import_kubefate
from fatectl.render.helm import render_helm
from fatectl.spec.loader import load_federation

FIXTURES = Path(__file__).parent / "fixtures"
SECRETS = ("fate_dev", "admin_board_secret", "fate_dev_9999_secret", "fate_dev_10000_secret", "fate_dev_2x_secret")


def _files(case: str) -> list[Path]:
    return sorted((FIXTURES / case).glob("*.yaml"))


@pytest.mark.parametrize("case", ["kubefate-1x-direct", "kubefate-1x-exchange", "kubefate-2x"])
def test_each_format_imports_validates_and_renders(tmp_path: Path, case: str) -> None:
    out = tmp_path / "federation.yaml"
    result = CliRunner().invoke(main, ["import", "kubefate", *map(str, _files(case)), "-o", str(out), "--name", "banks"])
    assert result.exit_code == 0, result.output
    fed = load_federation(out)  # the written spec validates on its own
    assert [p.id for p in fed.parties] == [9999, 10000]
    charts = render_helm(fed)
    assert "fate-9999/values.yaml" in charts and "fate-10000/values.yaml" in charts
    text = out.read_text() + result.output
    assert not any(secret in text for secret in SECRETS)  # credentials named, never copied


def test_direct_mode_maps_ids_namespaces_router_services_and_addresses() -> None:
    imported = import_kubefate(_files("kubefate-1x-direct"), "banks")
    fed = imported.federation
    a, b = fed.party(9999), fed.party(10000)
    assert (a.name, a.kubernetes.namespace, a.address) == ("fate-9999", "fate-9999", "192.168.9.1")
    assert (b.address, b.kubernetes.service_type) == ("192.168.10.1", "NodePort")
    assert a.module("router").node_port == 30091 and b.module("router").node_port == 30101  # type: ignore[union-attr]
    assert a.module_names == ("router", "flow", "board")
    assert a.module("flow").persistence.size == "20Gi"  # type: ignore[union-attr]  # persistence: true
    assert fed.engine.registry == "hub.example.org/federatedai" and fed.engine.image_pull_secrets == ("myregistrykey",)
    assert dict(a.kubernetes.node_selector) == {"kubernetes.io/os": "linux"}
    assert fed.topology == "direct"
    notes = [str(n) for n in imported.notes]
    assert any("party-9999.yaml:69:13 mysql.password: credential not copied" in n for n in notes)
    assert any("externalMysqlPassword" in n and "not copied" in n for n in notes)
    assert any("module nodemanager: eggroll node managers" in n for n in notes)
    assert any("board host party9999.fateboard.example.com" in n for n in notes)


def test_exchange_mode_becomes_a_star_with_the_exchange_cluster() -> None:
    fed = import_kubefate(_files("kubefate-1x-exchange"), "hub").federation
    assert fed.topology == "star"
    ex = fed.exchange
    assert (ex.id, ex.name, ex.address, ex.node_port, ex.namespace) == (1, "fate-exchange", "192.168.0.1", 30000,
                                                                        "fate-exchange")
    assert fed.party(10000).address == "192.168.10.1"  # from the exchange's partyList


def test_a_stale_party_list_is_named_where_it_is(tmp_path: Path) -> None:
    files = []
    for source in _files("kubefate-1x-direct"):
        copy = tmp_path / source.name
        copy.write_text(source.read_text().replace("partyPort: 30101", "partyPort: 30111"))
        files.append(copy)
    notes = [str(n) for n in import_kubefate(files, "banks").notes]
    assert any(f"{tmp_path / 'party-9999.yaml'}:45:5 rollsite.partyList[0]: reaches party 10000 on port 30111, "
               "but its router's nodePort is 30101" in n for n in notes), notes


def test_a_peer_without_its_own_file_is_imported_from_the_party_list() -> None:
    imported = import_kubefate(_files("kubefate-1x-direct")[1:], "banks")  # party-9999.yaml only
    fed = imported.federation
    assert [p.id for p in fed.parties] == [9999, 10000]
    assert fed.party(10000).address == "192.168.10.1" and fed.party(9999).address == "party-9999.example.invalid"
    notes = [str(n) for n in imported.notes]
    assert any("party 10000 has no cluster.yaml here" in n for n in notes)
    assert any("no partyList names party 9999's address" in n for n in notes)


def test_bad_input_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "cluster.yaml"
    bad.write_text("name: x\nmodules: rollsite\n")
    with pytest.raises(SpecError) as err:
        import_kubefate([bad], "x")
    assert "partyId must be a party id" in str(err.value) and "modules must be a list" in str(err.value)
    twice = _files("kubefate-2x")
    with pytest.raises(SpecError, match="party 10000 is also"):
        import_kubefate([twice[0], twice[0]], "x")
    out = tmp_path / "exists.yaml"
    out.write_text("keep me")
    result = CliRunner().invoke(main, ["import", "kubefate", str(twice[0]), "-o", str(out)])
    assert result.exit_code == 1 and "exists" in result.output and out.read_text() == "keep me"
