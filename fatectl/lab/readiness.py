"""Federation-level readiness: every party's flow answers and every declared link is up.

Containers running, or even healthy, is not enough for a job to start: a router may be up
but unable to reach its peer (wrong certificate, wrong route). So the probe goes through
each party's flow on its 127.0.0.1 host port, with the party's token, and asks for the
link status its router measured over mutual TLS. Works for any lab whose flows listen on
the spec's compose host ports (the compose lab and the local lab alike).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from fatectl.errors import Problem, Timeout
from fatectl.spec.model import Federation, Party

Progress = Callable[[str], None]
# Extra context for a failure, e.g. the last log lines of the process behind it.
Diagnose = Callable[[Party, str], str]


@dataclass(frozen=True)
class Link:
    peer: int
    state: str  # up | down | unknown (the router did not report it)
    latency_ms: float | None = None
    last_error: str = ""


@dataclass(frozen=True)
class PartyProbe:
    party_id: int
    name: str
    flow: str  # healthy | unreachable | unauthorized | error: ... | none (no flow module)
    links: tuple[Link, ...] = ()
    detail: str = ""

    @property
    def ready(self) -> bool:
        return self.flow == "healthy" and all(link.state == "up" for link in self.links)

    def failures(self) -> list[str]:
        if self.flow != "healthy":
            return [f"flow of party {self.party_id} ({self.name}) is {self.flow}{self.detail}"]
        return [
            f"link {self.party_id} -> {link.peer} is {link.state}" + (f": {link.last_error}" if link.last_error else "")
            for link in self.links
            if link.state != "up"
        ]


@dataclass(frozen=True)
class Readiness:
    probes: tuple[PartyProbe, ...]
    seconds: float = 0.0

    @property
    def ready(self) -> bool:
        return all(p.ready for p in self.probes)


def declared_peers(fed: Federation, party: Party) -> tuple[int, ...]:
    """The links a party's router must have up: every other party, or the exchange in a star."""
    if fed.exchange.enabled:
        return (fed.exchange.id,)
    return tuple(sorted(p.id for p in fed.peers_of(party.id)))


def port_free(port: int) -> bool:
    """Whether a lab could listen on 127.0.0.1:port now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def flow_url(party: Party) -> str:
    return f"http://127.0.0.1:{party.compose.host_ports['flow']}"


def read_token(secrets_dir: Path, party: Party) -> str:
    return (secrets_dir / party.name / "flow_token").read_text(encoding="utf-8").strip()


def _entry_for(reported: Any, peer: int) -> Any:
    """A router keys links by peer id, or a star's default route by "default" with the proven id."""
    if not isinstance(reported, dict):
        return None
    if str(peer) in reported:
        return reported[str(peer)]
    return next((e for e in reported.values() if isinstance(e, dict) and e.get("party_id") == peer), None)


def _links(fed: Federation, party: Party, payload: Any) -> tuple[Link, ...]:
    reported = payload.get("links", payload) if isinstance(payload, dict) else {}
    links = []
    for peer in declared_peers(fed, party):
        entry = _entry_for(reported, peer)
        if not isinstance(entry, dict):
            links.append(Link(peer, "unknown", last_error="not reported by the router"))
            continue
        latency = entry.get("latency_ms")
        links.append(
            Link(
                peer=peer,
                state=str(entry.get("state", "unknown")),
                latency_ms=float(latency) if isinstance(latency, int | float) else None,
                last_error=str(entry.get("last_error") or ""),
            )
        )
    return tuple(links)


def probe_party(fed: Federation, party: Party, secrets_dir: Path, client: httpx.Client) -> PartyProbe:
    """Ask one party's flow whether it is healthy and how its router's links are."""
    if "flow" not in party.module_names or "flow" not in party.compose.host_ports:
        return PartyProbe(party.id, party.name, "none")
    base = flow_url(party)
    try:
        # Health first: a lab that is not up reads "unreachable", not "no token".
        health = client.get(f"{base}/healthz")
        if health.status_code != 200:
            return PartyProbe(party.id, party.name, f"error: HTTP {health.status_code} on /healthz")
        try:
            token = read_token(secrets_dir, party)
        except OSError as err:
            return PartyProbe(party.id, party.name, "unauthorized", detail=f" (no token: {err.strerror})")
        reply = client.get(f"{base}/v1/federation/links", headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError as err:
        return PartyProbe(party.id, party.name, "unreachable", detail=f" at {base} ({type(err).__name__})")
    if reply.status_code in (401, 403):
        return PartyProbe(party.id, party.name, "unauthorized", detail=f" (HTTP {reply.status_code})")
    if reply.status_code != 200:
        return PartyProbe(party.id, party.name, f"error: HTTP {reply.status_code} on /v1/federation/links")
    try:
        payload = reply.json()
    except ValueError:
        return PartyProbe(party.id, party.name, "error: links reply is not JSON")
    return PartyProbe(party.id, party.name, "healthy", links=_links(fed, party, payload))


def probe_federation(fed: Federation, secrets_dir: Path, request_timeout: float = 3.0) -> Readiness:
    with httpx.Client(timeout=request_timeout, trust_env=False) as client:
        return Readiness(tuple(probe_party(fed, p, secrets_dir, client) for p in fed.parties))


def wait_ready(
    fed: Federation,
    secrets_dir: Path,
    timeout: float,
    progress: Progress = lambda _: None,
    diagnose: Diagnose | None = None,
    abort: Callable[[], str | None] | None = None,
    interval: float = 1.0,
) -> Readiness:
    """Poll until the federation is ready; on timeout raise naming every party/link that is not.

    `abort` may name a reason to stop early (a crashed process), raised like a timeout.
    """
    started = time.monotonic()
    last_summary = ""
    while True:
        state = probe_federation(fed, secrets_dir)
        elapsed = time.monotonic() - started
        # Checked even when every probe passes: link states are the routers' last
        # measurement and can still say "up" for a peer that just died.
        reason = abort() if abort is not None else None
        if state.ready and not reason:
            return Readiness(state.probes, seconds=elapsed)
        failures = [f for p in state.probes for f in p.failures()]
        summary = "; ".join(failures)
        if summary != last_summary:
            progress(f"[{elapsed:5.1f}s] waiting: {summary}")
            last_summary = summary
        if reason or elapsed >= timeout:
            why = f"stopped waiting after {elapsed:.0f}s: {reason}" if reason else f"not ready after {timeout:.0f}s"
            raise Timeout(
                f"federation {fed.name} {why}",
                [_problem(fed, p, diagnose) for p in state.probes if not p.ready],
            )
        time.sleep(interval)


def _problem(fed: Federation, probe: PartyProbe, diagnose: Diagnose | None) -> Problem:
    message = "; ".join(probe.failures())
    if diagnose is not None:
        party = fed.party(probe.party_id)
        module = "flow" if probe.flow != "healthy" else "router"
        logs = diagnose(party, module)
        if logs:
            message += "\n    last log lines of its " + module + ":\n" + _indent(logs, "      ")
    return Problem(message, path=f"party {probe.party_id}")


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line for line in text.rstrip().splitlines())
