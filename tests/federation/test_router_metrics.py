"""A router's /metrics: traffic per peer, links, held messages and refusals, and who may read them."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from fate.federation.config import Endpoint, Limits
from fate.federation.errors import QuotaExceeded
from fate.federation.hops import LinkStatus
from fate.federation.mailbox import Mailboxes
from fate.federation.metrics import RouterCollector, Traffic, exposition, router_registry
from fate.federation.quota import MAX_COUNTED, Quotas
from fate.federation.router import start_router
from tests.federation.lab import RouterLab, client_as

A, B = 9999, 10000


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value} of a Prometheus text exposition."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(text: str, name: str, **labels: str) -> float | None:
    return samples(text).get((name, tuple(sorted(labels.items()))))


def test_traffic_and_mailbox_depth_per_peer_for_the_partys_own_certificate(tmp_path: Path) -> None:
    lab = RouterLab(tmp_path)
    try:
        lab.transport(A).send("j", "t", B, b"x" * 100)
        lab.transport(A).send("j", "t", B, b"y" * 50)
        lab.probe_links()
        with client_as(lab, B, B) as own_b, client_as(lab, A, A) as own_a:
            text_b = own_b.get("/metrics").text
            text_a = own_a.get("/metrics").text
        assert value(text_b, "fate_router_messages_total", peer=str(A), direction="in") == 2
        assert value(text_b, "fate_router_bytes_total", peer=str(A), direction="in") == 150
        assert value(text_a, "fate_router_messages_total", peer=str(B), direction="out") == 2
        assert value(text_a, "fate_router_bytes_total", peer=str(B), direction="out") == 150
        # A's own messages leave A; nothing came in from A's point of view.
        assert value(text_a, "fate_router_messages_total", peer=str(A), direction="in") is None
        # Nobody opened job j on B: both wait in the small unopened pool until read.
        assert value(text_b, "fate_router_held_messages", pool="unopened") == 2
        assert value(text_b, "fate_router_held_bytes", pool="unopened") == 150
        assert value(text_b, "fate_router_held_messages", pool="job") == 0
        assert value(text_a, "fate_router_link_up", peer=str(B)) == 1
        latency = value(text_a, "fate_router_link_latency_seconds", peer=str(B))
        assert latency is not None and 0 < latency < 10
        assert lab.transport(B).recv("j", "t", A, timeout=5) == b"x" * 100
        with client_as(lab, B, B) as own_b:
            assert value(own_b.get("/metrics").text, "fate_router_held_messages", pool="unopened") == 1
    finally:
        lab.close()


def test_a_peer_may_not_read_the_metrics(tmp_path: Path) -> None:
    lab = RouterLab(tmp_path)
    try:
        with client_as(lab, B, A) as peer:
            reply = peer.get("/metrics")
        assert reply.status_code == 403 and "fate_router" not in reply.text
    finally:
        lab.close()


def test_the_separate_listener_serves_metrics_and_nothing_else(tmp_path: Path) -> None:
    lab = RouterLab(tmp_path)
    config = dataclasses.replace(
        lab.configs[B],
        listen=Endpoint("127.0.0.1", 0),
        metrics=Endpoint("127.0.0.1", 0),
        data_dir=str(tmp_path / "second"),
    )
    running = lab.loop.run(start_router(config))
    try:
        assert running.metrics_port not in (None, 0, running.port)
        base = f"http://127.0.0.1:{running.metrics_port}"
        reply = httpx.get(base + "/metrics", timeout=10)
        assert reply.status_code == 200 and reply.headers["Content-Type"].startswith("text/plain")
        assert value(reply.text, "fate_router_open_jobs") == 0
        # Plain HTTP and no client certificate: only /metrics exists here, never the message API.
        assert httpx.get(base + "/v1/status", timeout=10).status_code == 404
        assert httpx.post(base + "/v1/messages/j/t?src=1&dst=2", content=b"x", timeout=10).status_code in (404, 405)
    finally:
        lab.loop.run(running.stop())
        lab.close()


def test_refusals_per_peer_and_limit_and_a_bounded_label_set(tmp_path: Path) -> None:
    quotas = Quotas(Limits(unopened_peer_messages=1), party_id=B)
    mailboxes = Mailboxes(quotas)
    traffic = Traffic()
    links = {str(A): LinkStatus("127.0.0.1", 1)}
    registry = router_registry(RouterCollector(traffic, links, quotas, mailboxes))
    mailboxes.admit("j", A, 10)
    for _ in range(3):
        with pytest.raises(QuotaExceeded):
            mailboxes.admit("j", A, 10)
    for peer in range(MAX_COUNTED + 5):  # a relay claiming ever new senders
        traffic.count(peer, "in", 1)
    text = exposition(registry).decode()
    assert value(text, "fate_router_refusals_total", peer=str(A), limit="unopened_peer_messages") == 3
    assert value(text, "fate_router_held_messages", pool="unopened") == 1
    assert value(text, "fate_router_link_up", peer=str(A)) == 0  # never probed: down
    assert value(text, "fate_router_link_latency_seconds", peer=str(A)) is None
    peers = {dict(labels)["peer"] for (name, labels) in samples(text) if name == "fate_router_messages_total"}
    assert len(peers) == MAX_COUNTED + 1 and "other" in peers
    assert value(text, "fate_router_messages_total", peer="other", direction="in") == 5


def test_metrics_must_not_share_the_peers_port(tmp_path: Path) -> None:
    from fate.federation.config import parse_router_config
    from fate.federation.errors import ConfigError

    base = {"party_id": 1, "listen": {"host": "0.0.0.0", "port": 9370}, "tls": {"mode": "none"},
            "data_dir": str(tmp_path)}
    assert parse_router_config({**base, "metrics": {"host": "0.0.0.0", "port": 9102}}).metrics == Endpoint(
        "0.0.0.0", 9102)
    with pytest.raises(ConfigError, match="metrics: must listen on another port"):
        parse_router_config({**base, "metrics": {"host": "127.0.0.1", "port": 9370}})
