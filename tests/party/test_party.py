"""`fatectl party add|remove` on spec files: comments kept, collisions named, nobody else moves."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from fatectl.cli import main
from fatectl.errors import SpecError
from fatectl.parties import Target, add_party, remove_party
from fatectl.pki import ensure_secrets
from fatectl.spec.edit import NewParty
from fatectl.spec.loader import load_federation

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "two-party.yaml"
    shutil.copy(EXAMPLES / "two-party.yaml", path)
    return path


def test_add_keeps_every_comment_and_only_appends(spec: Path) -> None:
    before = spec.read_text()
    change = add_party(spec, NewParty(10001, "bank-c", "fate.bank-c.example", node_port=30372,
                                      service_type="NodePort"), Target())
    after = spec.read_text()
    assert after.startswith(before.rstrip("\n"))  # every line (comments, quotes, layout) as it was
    assert "  # added by `fatectl party add`\n  - id: 10001\n    name: bank-c\n" in after
    fed = load_federation(spec)
    assert [p.id for p in fed.parties] == [9999, 10000, 10001]
    assert fed.party(10001).compose.host_ports == {"router": 19030, "flow": 19031}
    assert all(fed.party(p.id) == p for p in change.before.parties)  # no other party changed at all
    changed = [line for line in change.spec_diff.splitlines()[2:] if line[:1] in "+-"]
    assert len(changed) == 8 and all(line.startswith("+") for line in changed)


def test_dry_run_writes_nothing(spec: Path, tmp_path: Path) -> None:
    before = spec.read_text()
    change = add_party(spec, NewParty(10001, "bank-c", "10.1.2.3"), Target(secrets_dir=tmp_path / "s"), dry_run=True)
    assert not change.written and "+  - id: 10001" in change.spec_diff
    assert spec.read_text() == before and not (tmp_path / "s").exists()


def test_every_collision_is_named_at_the_existing_value(spec: Path) -> None:
    clash = NewParty(10000, "bank-a", "10.1.2.3", host_ports={"router": 19011}, node_port=30370)
    with pytest.raises(SpecError) as err:
        add_party(spec, clash, Target())
    text = str(err.value)
    line = spec.read_text().splitlines().index("  - id: 10000") + 1  # where bank-b's id is written
    assert f"{spec}:{line}:9 parties[1].id: party id 10000 is already bank-b's" in text
    assert "parties[0].name: name 'bank-a' is already taken" in text
    assert "parties[0].compose.hostPorts.flow: host port 19011 (asked for router) is bank-a's flow" in text
    assert "parties[0].kubernetes.nodePorts.router: nodePort 30370 is bank-a's router" in text
    assert "Traceback" not in text


def test_an_invalid_new_party_is_refused_with_the_spec_untouched(spec: Path) -> None:
    before = spec.read_text()
    with pytest.raises(SpecError) as err:
        add_party(spec, NewParty(10001, "Bank_C", "10.1.2.3", modules=("flow",)), Target())
    text = str(err.value)
    assert "would be invalid; nothing was written" in text and "parties[2].name" in text
    assert "module 'flow' needs module 'router'" in text
    assert spec.read_text() == before


def test_remove_pins_the_ports_of_the_parties_after_it(tmp_path: Path) -> None:
    spec = tmp_path / "three.yaml"
    shutil.copy(EXAMPLES / "three-party-exchange.yaml", spec)  # ports derived from list positions
    before = load_federation(spec)
    secrets = tmp_path / "secrets"
    ensure_secrets(before, secrets)
    change = remove_party(spec, 9999, Target(secrets_dir=secrets, helm_dir=tmp_path / "charts"))
    after = load_federation(spec)
    assert [p.id for p in after.parties] == [10000, 10001]
    for party in after.parties:
        assert party.compose.host_ports == before.party(party.id).compose.host_ports
    assert "hostPorts: {router: 19020, flow: 19021}" in spec.read_text()
    assert any("revoked" in n for n in change.notes)
    # The hosts' grants to the removed guest go with it, never widened into a rule for every peer.
    assert all(not rule.peers or 9999 not in rule.peers for p in after.parties for rule in p.policy.rules)
    assert all(rule.peers for p in after.parties for rule in p.policy.rules)
    assert any("covered only party 9999: deleted" in n for n in change.notes)
    assert change.helm_commands[0].startswith("helm upgrade exchange ")  # the hub first: it holds the routes
    assert change.helm_commands[-1] == "helm uninstall hospital-a -n fate-9999"


def test_remove_unhappy_paths(spec: Path) -> None:
    with pytest.raises(SpecError, match=r"no party with id 77 .*\(parties: 9999, 10000\)"):
        remove_party(spec, 77, Target())
    with pytest.raises(SpecError, match="at least two parties"):
        remove_party(spec, 10000, Target())


def test_cli_add_prints_the_helm_commands_in_order(spec: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["party", "add", str(spec), "--id", "10001", "--name", "bank-c",
                                       "--address", "10.1.2.3", "--helm-dir", str(tmp_path / "charts")])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    commands = lines[lines.index("then, in this order:") + 1:]
    assert [c.split()[1] for c in commands] == ["upgrade", "upgrade", "install"]
    assert commands[-1].strip().startswith("helm install bank-c ") and "--create-namespace" in commands[-1]
    assert (tmp_path / "charts" / "bank-c" / "values.yaml").is_file()
    code = CliRunner().invoke(main, ["party", "add", str(spec), "--id", "10001", "--name", "x", "--address", "h"])
    assert code.exit_code == 1 and "party id 10001 is already bank-c's" in code.output
