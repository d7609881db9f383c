"""`fatectl diff`: empty right after a render, names exactly what a spec edit changes, never a secret."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from fatectl.cli import main
from fatectl.plan import kube
from fatectl.plan.render import plan_compose, plan_helm
from fatectl.project import write_compose, write_helm
from fatectl.spec.loader import load_federation

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TWO = EXAMPLES / "two-party.yaml"


def _edited(tmp: Path, old: str, new: str, name: str = "edited.yaml") -> Path:
    text = TWO.read_text()
    assert old in text
    path = tmp / name
    path.write_text(text.replace(old, new, 1))
    return path


def _diff(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["diff", *args])
    assert "Traceback" not in result.output
    return result.exit_code, result.output


@pytest.mark.parametrize("target", ["helm", "compose"])
def test_nothing_changes_right_after_a_render(tmp_path: Path, target: str) -> None:
    out = tmp_path / "out"
    code, text = _diff(str(TWO), "-o", str(out), "--render", target, "--no-diffs")
    assert code == 2 and "added" in text  # nothing rendered yet: everything would be new
    assert CliRunner().invoke(main, ["render", target, str(TWO), "-o", str(out)]).exit_code == 0
    code, text = _diff(str(TWO), "-o", str(out))  # the kind is found in DIR
    assert code == 0, text
    assert "nothing would change" in text


def test_a_node_port_edit_names_exactly_the_files_and_resources_it_changes(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_helm(load_federation(TWO), out)
    spec = _edited(tmp_path, "nodePorts: {router: 30371}", "nodePorts: {router: 30372}")
    plan = plan_helm(load_federation(spec), out)
    files = {(p.party, f.path, f.change) for p in plan.parties for f in p.files}
    assert files == {("bank-a", "bank-a/values.yaml", "changed"), ("bank-b", "bank-b/values.yaml", "changed")}
    resources = {(p.party, f"{r.kind}/{r.name}", r.change) for p in plan.parties for r in p.resources}
    assert resources == {
        ("bank-a", "ConfigMap/bank-a-config", "changed"),  # the route to bank-b
        ("bank-a", "Deployment/bank-a-router", "changed"),  # its config checksum: the router restarts
        ("bank-b", "Service/bank-b-router", "changed"),
    }
    diff = next(f.diff for p in plan.parties for f in p.files if f.path == "bank-a/values.yaml")
    assert '-    - {"host": "fate.bank-b.example", "partyId": 10000, "port": 30371}' in diff
    assert '+    - {"host": "fate.bank-b.example", "partyId": 10000, "port": 30372}' in diff
    assert not out.joinpath("bank-b/values.yaml").read_text().count("30372")  # nothing was written


def test_a_new_party_is_added_everywhere_it_must_be(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_helm(load_federation(TWO), out)
    spec = tmp_path / "three.yaml"
    spec.write_text(TWO.read_text() + "\n  - id: 10001\n    name: bank-c\n    address: 10.1.2.3\n")
    plan = plan_helm(load_federation(spec), out)
    by_party = {p.party: p for p in plan.parties}
    assert {f.path for f in by_party["bank-a"].files} == {"bank-a/values.yaml"}
    assert ("NetworkPolicy", "bank-a-router", "changed") in {(r.kind, r.name, r.change) for r in by_party["bank-a"].resources}
    new = by_party["bank-c"]
    assert {r.change for r in new.resources} == {"added"}
    assert {"secrets/bank-c/tls.key", "bank-c/secret-values.yaml"} <= {f.path for f in new.files}
    assert not (out / "bank-c").exists() and not (out / "secrets" / "bank-c").exists()


def test_secrets_are_named_never_shown(tmp_path: Path) -> None:
    out = tmp_path / "out"
    fed = load_federation(TWO)
    write_helm(fed, out)
    for name in ("tls.crt", "tls.key"):  # bank-b's certificate is to be reissued
        (out / "secrets" / "bank-b" / name).unlink()
    code, text = _diff(str(TWO), "-o", str(out), "--output", "json")
    assert code == 2
    plan = json.loads(text)
    secret = {f["path"]: f for p in plan["parties"] for f in p["files"]}
    assert secret["bank-b/secret-values.yaml"] == {
        "path": "bank-b/secret-values.yaml", "change": "changed", "secret": True, "diff": "", "note": ""}
    assert secret["secrets/bank-b/tls.key"]["change"] == "added"
    assert ("Secret", "bank-b-tls") in {(r["kind"], r["name"]) for p in plan["parties"] for r in p["resources"]}
    for marker in ("PRIVATE KEY", "BEGIN CERTIFICATE", "tls.key: ", "LS0t"):  # PEM, or PEM in base64
        assert marker not in text
    assert not (out / "secrets" / "bank-b" / "tls.key").exists()


def test_without_the_helm_library_the_plan_says_it_is_file_level(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    write_helm(load_federation(TWO), out)
    monkeypatch.setattr(kube, "helm_available", lambda: False)
    import fatectl.plan.render as render_plan

    monkeypatch.setattr(render_plan, "helm_available", lambda: False)
    spec = _edited(tmp_path, "nodePorts: {router: 30371}", "nodePorts: {router: 30372}")
    plan = plan_helm(load_federation(spec), out)
    assert plan.changed and not any(p.resources for p in plan.parties)
    assert any("Helm library is not installed" in n for n in plan.notes)


def test_a_compose_edit_names_its_config_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_compose(load_federation(TWO), out)
    spec = _edited(tmp_path, "hostPorts: {router: 19020, flow: 19021}", "hostPorts: {router: 19030, flow: 19021}")
    plan = plan_compose(load_federation(spec), out)
    assert {f.path for p in plan.parties for f in p.files} == {"compose.yaml"}
    # The port is only published differently; the routers' configs (container ports) do not change.


def test_unhappy_paths_are_clear(tmp_path: Path) -> None:
    code, text = _diff(str(TWO))
    assert code == 1 and "either -o DIR" in text
    code, text = _diff(str(TWO), "-o", str(tmp_path), "--party", "42")
    assert code == 1 and "no party with id 42" in text
    code, text = _diff(str(TWO), "--lab", "k8s")
    assert code == 1 and "Invalid value for '--lab'" in text  # a usage error is bad input, not "changes"
