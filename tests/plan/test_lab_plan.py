"""What `up local|compose` would do to a lab's processes: the decisions `up` itself applies."""

from __future__ import annotations

from pathlib import Path

from fatectl.lab.changes import process_changes
from fatectl.plan import lab as lab_plan
from fatectl.plan.lab import plan_compose_lab, plan_local
from fatectl.spec.loader import load_federation

TWO = Path(__file__).resolve().parents[2] / "examples" / "two-party.yaml"

ROUTER = {"listen": {"port": 1}, "routes": [{"party_id": 2}], "default_route": None, "tls": {"mode": "none"}}
FLOW = {"listen": {"port": 3}, "peers": [2], "router": {"port": 1}}


def test_routes_and_peers_reload_everything_else_restarts() -> None:
    wanted = {
        "a/router": {**ROUTER, "routes": [{"party_id": 2}, {"party_id": 3}]},
        "a/flow": {**FLOW, "peers": [2, 3]},
        "b/router": {**ROUTER, "listen": {"port": 9}},
        "b/flow": FLOW,
        "c/router": ROUTER,
    }
    current = {"a/router": ROUTER, "a/flow": FLOW, "b/router": ROUTER, "b/flow": FLOW, "old/router": ROUTER}
    alive = {"a/router": True, "a/flow": True, "b/router": True, "b/flow": True, "old/router": True}
    decided = {(c.process, c.action) for c in process_changes(wanted, current, alive)}
    assert decided == {
        ("a/router", "reload"),  # learns the route to c on SIGHUP
        ("a/flow", "reload"),  # listens to c's control stream
        ("b/router", "restart"),  # a new listen port needs a new socket
        ("c/router", "start"),
        ("old/router", "stop"),
    }  # b/flow is unchanged: not touched


def test_a_lab_not_started_yet_would_start_every_process(tmp_path: Path) -> None:
    plan = plan_local(load_federation(TWO), tmp_path)
    actions = {(s.service, s.action) for p in plan.parties for s in p.services}
    assert actions == {(f"{n}/{m}", "start") for n in ("bank-a", "bank-b") for m in ("router", "flow")}
    assert any("not running" in n for n in plan.notes)


def test_compose_services_recreated_only_when_what_they_mount_changed(tmp_path: Path, monkeypatch) -> None:
    from fatectl.lab.compose import ComposeLab

    fed = load_federation(TWO)
    ComposeLab.of(fed, tmp_path).prepare()
    monkeypatch.setattr(lab_plan, "_containers", lambda lab, notes: {"bank-a-router", "bank-a-flow", "bank-b-router", "bank-b-flow"})
    assert not plan_compose_lab(fed, tmp_path).changed
    spec = tmp_path / "edited.yaml"
    spec.write_text(TWO.read_text().replace("nodePorts: {router: 30371}", "nodePorts: {router: 30372}"))
    assert not plan_compose_lab(load_federation(spec), tmp_path).changed  # a Kubernetes setting: no lab change
    spec.write_text(TWO.read_text() + "\n  - id: 10001\n    name: bank-c\n    address: 10.1.2.3\n")
    plan = plan_compose_lab(load_federation(spec), tmp_path)
    actions = {(s.service, s.action) for p in plan.parties for s in p.services}
    assert actions == {
        ("bank-a-router", "reload"), ("bank-a-flow", "reload"),  # routes, peers: a SIGHUP, no new container
        ("bank-b-router", "reload"), ("bank-b-flow", "reload"),
        ("bank-c-router", "create"), ("bank-c-flow", "create"),
    }
    (tmp_path / "two-banks" / "compose" / "secrets" / "bank-a" / "ca.crt").write_text("stale\n")
    actions = {(s.service, s.action) for p in plan_compose_lab(fed, tmp_path).parties for s in p.services}
    assert actions == {("bank-a-router", "recreate"), ("bank-a-flow", "recreate")}  # secrets: mounted file by file
