"""Federation readiness against stand-in flows on real local HTTP ports."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from types import MappingProxyType

import pytest

from fatectl.errors import Timeout
from fatectl.lab.readiness import declared_peers, probe_federation, wait_ready
from fatectl.spec.model import Compose, Federation
from tests.lab.flowstub import FlowState, serve_flow
from tests.lab.specs import federation

UP = {"state": "up", "latency_ms": 1.5, "last_error": None}


def _with_flow_ports(fed: Federation, ports: dict[int, int]) -> Federation:
    parties = tuple(
        dataclasses.replace(
            p, compose=Compose(MappingProxyType({**p.compose.host_ports, "flow": ports[p.id]}))
        )
        for p in fed.parties
    )
    return dataclasses.replace(fed, parties=parties)


def _write_tokens(fed: Federation, secrets: Path) -> dict[int, str]:
    tokens = {}
    for p in fed.parties:
        (secrets / p.name).mkdir(parents=True, exist_ok=True)
        tokens[p.id] = f"token-{p.id}"
        (secrets / p.name / "flow_token").write_text(tokens[p.id] + "\n")
    return tokens


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[Federation, dict[int, FlowState], Path]]:
    fed = federation(tmp_path, 3)
    secrets = tmp_path / "secrets"
    tokens = _write_tokens(fed, secrets)
    states = {
        p.id: FlowState(tokens[p.id], {str(q.id): dict(UP) for q in fed.peers_of(p.id)}) for p in fed.parties
    }
    with ExitStack() as stack:
        ports = {pid: stack.enter_context(serve_flow(state)) for pid, state in states.items()}
        yield _with_flow_ports(fed, ports), states, secrets


def test_ready_when_every_flow_answers_and_every_link_is_up(lab) -> None:
    fed, _, secrets = lab
    state = wait_ready(fed, secrets, timeout=5)
    assert state.ready
    assert [len(p.links) for p in state.probes] == [2, 2, 2]
    assert {link.latency_ms for p in state.probes for link in p.links} == {1.5}


def test_a_down_link_is_named_with_its_error_and_diagnosis(lab) -> None:
    fed, states, secrets = lab
    states[10000].links["10001"] = {"state": "down", "last_error": "certificate verify failed"}
    seen: list[tuple[int, str]] = []

    def diagnose(party, module):
        seen.append((party.id, module))
        return "router log line 1\nrouter log line 2"

    with pytest.raises(Timeout) as info:
        wait_ready(fed, secrets, timeout=0.5, diagnose=diagnose, interval=0.1)
    text = str(info.value)
    assert "link 10000 -> 10001 is down: certificate verify failed" in text
    assert "router log line 2" in text
    assert seen == [(10000, "router")]


def test_unreachable_unhealthy_and_unauthorized_flows_are_told_apart(lab, tmp_path: Path) -> None:
    fed, states, secrets = lab
    states[9999].healthy = False
    (secrets / fed.party(10000).name / "flow_token").write_text("wrong\n")
    dead = dataclasses.replace(fed.parties[2], compose=Compose(MappingProxyType({"router": 1, "flow": 9})))
    fed = dataclasses.replace(fed, parties=(*fed.parties[:2], dead))
    flows = [p.flow for p in probe_federation(fed, secrets, request_timeout=1).probes]
    assert flows == ["error: HTTP 503 on /healthz", "unauthorized", "unreachable"]


def test_abort_stops_waiting_with_the_reason(lab) -> None:
    fed, states, secrets = lab
    states[9999].healthy = False
    with pytest.raises(Timeout, match="stopped waiting .*: party-9999-flow is restarting"):
        wait_ready(fed, secrets, timeout=60, abort=lambda: "party-9999-flow is restarting", interval=0.1)


def test_star_topology_expects_only_the_exchange_reported_as_default_route(tmp_path: Path) -> None:
    fed = federation(tmp_path, 2, exchange=True, name="star")
    secrets = tmp_path / "secrets"
    tokens = _write_tokens(fed, secrets)
    assert declared_peers(fed, fed.parties[0]) == (fed.exchange.id,)
    default = {"default": {**UP, "party_id": fed.exchange.id}}
    with ExitStack() as stack:
        ports = {p.id: stack.enter_context(serve_flow(FlowState(tokens[p.id], default))) for p in fed.parties}
        state = probe_federation(_with_flow_ports(fed, ports), secrets)
    assert state.ready
    assert [link.peer for p in state.probes for link in p.links] == [fed.exchange.id] * 2


def test_a_link_the_router_does_not_report_is_unknown(lab) -> None:
    fed, states, secrets = lab
    del states[9999].links["10001"]
    probe = probe_federation(fed, secrets).probes[0]
    assert not probe.ready
    assert probe.failures() == ["link 9999 -> 10001 is unknown: not reported by the router"]


def test_a_lab_not_up_reads_unreachable_even_without_tokens(tmp_path: Path) -> None:
    fed = federation(tmp_path, 2, exchange=False, name="notup")
    dead = tuple(
        dataclasses.replace(p, compose=Compose(MappingProxyType({"router": 1, "flow": 9}))) for p in fed.parties
    )
    probes = probe_federation(dataclasses.replace(fed, parties=dead), tmp_path / "no-secrets", request_timeout=1).probes
    assert [p.flow for p in probes] == ["unreachable", "unreachable"]


def test_a_healthy_flow_without_a_local_token_is_unauthorized_naming_it(lab, tmp_path: Path) -> None:
    fed, _, _ = lab
    probe = probe_federation(fed, tmp_path / "no-secrets").probes[0]
    assert (probe.flow, probe.detail) == ("unauthorized", " (no token: No such file or directory)")
