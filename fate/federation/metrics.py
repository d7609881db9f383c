"""A router's Prometheus metrics: traffic per peer, links, what it holds, what it refused.

Traffic is counted as it happens (two dict updates per message); everything else is read
from the router's own state when scraped, so the hot path pays nothing for it. Who may read
them is decided by fate.federation.router: its own party's certificate on the peer-facing
port, or a separate plain-HTTP listener that only the party's own network reaches.

    fate_router_messages_total{peer, direction}  messages accepted from (in) / handed on to (out) a party
    fate_router_bytes_total{peer, direction}     their body bytes
    fate_router_link_up{peer}                    1 when the last probe of the link succeeded
    fate_router_link_latency_seconds{peer}       the last probe's round trip (links that answered)
    fate_router_held_messages{pool}              messages held now, per quota pool (fate.federation.quota)
    fate_router_held_bytes{pool}                 their bytes
    fate_router_open_jobs                        jobs the local flow opened
    fate_router_refusals_total{peer, limit}      messages refused, by the limit that refused them
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Literal

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from fate.federation.quota import MAX_COUNTED, OTHERS

if TYPE_CHECKING:
    from fate.federation.hops import LinkStatus
    from fate.federation.mailbox import Mailboxes
    from fate.federation.quota import Quotas

Direction = Literal["in", "out"]
POOLS = ("job", "unopened", "control", "relay")


def peer_label(peer: int) -> str:
    return "other" if peer == OTHERS else str(peer)


class Traffic:
    """Messages and bytes per (peer, direction), with at most MAX_COUNTED peers named.

    Behind an exchange a relay may claim any sender id: past the cap, the rest are counted as
    `other`, so a peer cannot grow the router's memory or the scrape without bound.
    """

    def __init__(self) -> None:
        self.messages: Counter[tuple[int, Direction]] = Counter()
        self.bytes: Counter[tuple[int, Direction]] = Counter()
        self._peers: set[int] = set()

    def count(self, peer: int, direction: Direction, size: int) -> None:
        if peer not in self._peers:
            if len(self._peers) >= MAX_COUNTED:
                peer = OTHERS
            else:
                self._peers.add(peer)
        self.messages[(peer, direction)] += 1
        self.bytes[(peer, direction)] += size


class RouterCollector(Collector):
    def __init__(
        self, traffic: Traffic, links: Mapping[str, LinkStatus], quotas: Quotas, mailboxes: Mailboxes
    ) -> None:
        self.traffic = traffic
        self.links = links
        self.quotas = quotas
        self.mailboxes = mailboxes

    def collect(self) -> Iterator[Metric]:
        messages = CounterMetricFamily(
            "fate_router_messages", "Messages accepted from (in) or handed on to (out) a party", labels=["peer", "direction"]
        )
        size = CounterMetricFamily(
            "fate_router_bytes", "Body bytes of those messages", labels=["peer", "direction"]
        )
        for (peer, direction), count in sorted(self.traffic.messages.items()):
            messages.add_metric([peer_label(peer), direction], count)
            size.add_metric([peer_label(peer), direction], self.traffic.bytes[(peer, direction)])
        yield messages
        yield size
        up = GaugeMetricFamily("fate_router_link_up", "1 when the last probe of the link succeeded", labels=["peer"])
        latency = GaugeMetricFamily(
            "fate_router_link_latency_seconds", "Round trip of the last successful probe", labels=["peer"]
        )
        for key, link in sorted(self.links.items()):
            up.add_metric([key], 1.0 if link.state == "up" else 0.0)
            if link.state == "up" and link.latency_ms is not None:
                latency.add_metric([key], link.latency_ms / 1000.0)
        yield up
        yield latency
        pools = self.quotas.status()["pools"]
        held = GaugeMetricFamily("fate_router_held_messages", "Messages held now, per quota pool", labels=["pool"])
        held_bytes = GaugeMetricFamily("fate_router_held_bytes", "Bytes held now, per quota pool", labels=["pool"])
        for pool in POOLS:
            usage = pools.get(pool, {"count": 0, "bytes": 0})
            held.add_metric([pool], usage["count"])
            held_bytes.add_metric([pool], usage["bytes"])
        yield held
        yield held_bytes
        yield GaugeMetricFamily(
            "fate_router_open_jobs", "Jobs the local flow opened", value=self.mailboxes.stats()["open_jobs"]
        )
        refusals = CounterMetricFamily(
            "fate_router_refusals", "Messages refused by a quota, per sending party and limit", labels=["peer", "limit"]
        )
        for peer, counts in sorted(self.quotas.refused.items()):
            for limit, count in sorted(counts.items()):
                refusals.add_metric([peer_label(peer), limit], count)
        yield refusals


def router_registry(collector: RouterCollector) -> CollectorRegistry:
    """One registry per router (tests run several routers in one process; no global state)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
