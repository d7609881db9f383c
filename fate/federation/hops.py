"""Talking to the next hop: delivery with retries and a deadline, and link probes.

Every outgoing connection presents this router's certificate and verifies the
next hop: against `party-<id>` when the route names the party, otherwise (an
exchange given only by address) against the federation CA alone, recording
which identity answered so relayed messages can be trusted later.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp

from fate.federation.body import IncomingBody, Payload
from fate.federation.config import Endpoint, RouterConfig
from fate.federation.errors import (
    BadRequest,
    Busy,
    Forbidden,
    LengthRequired,
    NoRoute,
    QuotaExceeded,
    RouterError,
    StorageFull,
    TooLarge,
    Unreachable,
)
from fate.federation.tls import client_context, identity, peer_party_id

# Quota refusals (429, 507) go straight back to the sender, whose client backs off and retries:
# a hop retrying them would hold the body (and the sender's connection) for its whole deadline.
_ERRORS: dict[int, type[RouterError]] = {
    403: Forbidden, 404: NoRoute, 411: LengthRequired, 413: TooLarge, 429: QuotaExceeded, 503: Busy, 507: StorageFull,
}


def message_path(job: str, tag: str) -> str:
    # Tags may contain '/', '|' or '>' (roles); encode them so the path keeps two segments.
    return f"/v1/messages/{quote(job, safe='')}/{quote(tag, safe='')}"


@dataclass
class LinkStatus:
    host: str
    port: int
    state: str = "down"
    latency_ms: float | None = None
    last_error: str | None = "not probed yet"
    checked_at: str | None = None
    identity: int | None = None  # party id the hop proved with its certificate
    since: str | None = None  # when the state last changed: "down since 19:23:10"

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "latency_ms": self.latency_ms,
            "last_error": self.last_error,
            "checked_at": self.checked_at,
            "since": self.since,
            "host": self.host,
            "port": self.port,
            "party_id": self.identity,
        }


class Hops:
    """Outgoing HTTP(S) to other routers: forward messages, probe links."""

    def __init__(self, config: RouterConfig) -> None:
        self.config = config
        self._verify_id = client_context(config.tls, check_hostname=True)
        self._verify_ca = client_context(config.tls, check_hostname=False)
        self._session: aiohttp.ClientSession | None = None
        self._chunk = config.limits.chunk_bytes
        self.links: dict[str, LinkStatus] = {}
        for pid, ep in sorted(config.routes.items()):
            self.links[str(pid)] = LinkStatus(ep.host, ep.port, identity=pid)
        if config.default_route is not None:
            ep = config.default_route
            key = str(ep.party_id) if ep.party_id is not None else "default"
            self.links.setdefault(key, LinkStatus(ep.host, ep.port, identity=ep.party_id))

    def use_tls(self, verify_id: ssl.SSLContext | None, verify_ca: ssl.SSLContext | None) -> None:
        """New connections use these contexts (rotated certificates, new trust); see reload.py.

        aiohttp pools connections per SSL context, so requests already on the old contexts'
        connections finish there and new ones handshake afresh.
        """
        self._verify_id, self._verify_ca = verify_id, verify_ca

    def use_routes(self, config: RouterConfig) -> None:
        """Take a reloaded config's routes; links to unchanged hops keep their measurements."""
        self.config = config
        links: dict[str, LinkStatus] = {}
        for pid, ep in sorted(config.routes.items()):
            old = self.links.get(str(pid))
            same = old is not None and (old.host, old.port) == (ep.host, ep.port)
            links[str(pid)] = old if same and old is not None else LinkStatus(ep.host, ep.port, identity=pid)
        if config.default_route is not None:
            ep = config.default_route
            key = str(ep.party_id) if ep.party_id is not None else "default"
            old = self.links.get(key)
            same = old is not None and (old.host, old.port) == (ep.host, ep.port)
            links.setdefault(key, old if same and old is not None else LinkStatus(ep.host, ep.port, identity=ep.party_id))
        self.links = links

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def _scheme(self) -> str:
        return "https" if self.config.tls.enabled else "http"

    def _tls_args(self, hop: Endpoint) -> dict[str, Any]:
        if not self.config.tls.enabled:
            return {}
        if hop.party_id is None:
            return {"ssl": self._verify_ca}
        return {"ssl": self._verify_id, "server_hostname": identity(hop.party_id)}

    def _link_key(self, hop: Endpoint) -> str:
        if hop.party_id is not None and str(hop.party_id) in self.links:
            return str(hop.party_id)
        return "default"

    def exchange_identity(self) -> int | None:
        """Party id of the default route's router, configured or proven by its certificate."""
        hop = self.config.default_route
        if hop is None:
            return None
        if hop.party_id is not None:
            return hop.party_id
        link = self.links.get("default")
        return link.identity if link else None

    async def forward(
        self, hop: Endpoint, job: str, tag: str, src: int, dst: int, body: IncomingBody, size: int | None
    ) -> None:
        """Pass a body on to the next hop, retrying transient failures with backoff until the deadline.

        The first attempt streams the body while it arrives (cut-through); retries
        replay the recorded copy, so a retry never needs the sender again.
        """
        retry = self.config.retry
        loop = asyncio.get_running_loop()
        deadline = loop.time() + retry.deadline
        backoff = retry.initial_backoff
        attempts = 0
        payload: Payload | None = None
        try:
            while True:
                attempts += 1
                try:
                    if attempts == 1:
                        await self._post(hop, job, tag, src, dst, body.stream(), size)
                    else:
                        payload = payload or await body.complete()
                        data = payload.data if payload.data is not None else payload.chunks(self._chunk)
                        await self._post(hop, job, tag, src, dst, data, payload.size)
                    return
                except (aiohttp.ClientSSLError, aiohttp.ClientConnectorCertificateError) as err:
                    raise Unreachable(f"TLS with {hop.host}:{hop.port} failed: {err}") from None
                except Busy as err:
                    last = str(err)
                except (aiohttp.ClientError, OSError, TimeoutError) as err:
                    _raise_body_error(body)
                    last = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
                if loop.time() + backoff > deadline:
                    raise Unreachable(
                        f"party {dst} via {hop.host}:{hop.port} did not accept the message "
                        f"after {attempts} attempts in {retry.deadline:g}s: {last}"
                    )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, retry.max_backoff)
        finally:
            if payload is not None:
                payload.discard()
            body.discard()

    async def _post(
        self, hop: Endpoint, job: str, tag: str, src: int, dst: int, data: Any, size: int | None
    ) -> None:
        assert self._session is not None
        url = f"{self._scheme()}://{hop.host}:{hop.port}{message_path(job, tag)}"
        headers = {"Content-Type": "application/octet-stream"}
        if size is not None:
            headers["Content-Length"] = str(size)
        timeout = aiohttp.ClientTimeout(total=self.config.retry.attempt_timeout, sock_connect=10)
        async with self._session.post(
            url,
            params={"src": str(src), "dst": str(dst)},
            data=data,
            headers=headers,
            timeout=timeout,
            **self._tls_args(hop),
        ) as resp:
            if resp.status == 200:
                return
            raise await _remote_error(resp, hop)

    async def probe(self, key: str, hop: Endpoint) -> LinkStatus:
        assert self._session is not None
        # A reload (SIGHUP) may have dropped this route since the round began: measure it, keep nothing.
        link = self.links.get(key) or LinkStatus(hop.host, hop.port, identity=hop.party_id)
        started = time.perf_counter()
        try:
            async with self._session.get(
                f"{self._scheme()}://{hop.host}:{hop.port}/healthz",
                timeout=aiohttp.ClientTimeout(total=min(10.0, self.config.probe_interval * 2)),
                **self._tls_args(hop),
            ) as resp:
                await resp.read()
                if resp.status != 200:
                    raise RouterError(f"healthz answered HTTP {resp.status}")
            link.latency_ms = round((time.perf_counter() - started) * 1000, 2)
            if hop.party_id is None and self._verify_ca is not None:
                link.identity = await self._handshake_identity(hop)
            state, link.last_error = "up", None
        except (aiohttp.ClientError, OSError, TimeoutError, RouterError, ssl.SSLError) as err:
            state = "down"
            link.last_error = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
        link.checked_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        if state != link.state or link.since is None:
            link.state, link.since = state, link.checked_at
        return link

    async def _handshake_identity(self, hop: Endpoint) -> int | None:
        """Which party's certificate the hop presents (the CA was verified by the handshake)."""
        _, writer = await asyncio.wait_for(asyncio.open_connection(hop.host, hop.port, ssl=self._verify_ca), 10)
        try:
            return peer_party_id(writer.get_extra_info("peercert"))
        finally:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.wait_closed()

    async def probe_all(self) -> None:
        hops: list[tuple[str, Endpoint]] = [(str(pid), ep) for pid, ep in self.config.routes.items()]
        if self.config.default_route is not None:
            hops.append((self._link_key(self.config.default_route), self.config.default_route))
        await asyncio.gather(*(self.probe(key, ep) for key, ep in hops))

    async def probe_forever(self, on_round: Callable[[], None] | None = None) -> None:
        while True:
            await self.probe_all()
            if on_round is not None:
                on_round()
            await asyncio.sleep(self.config.probe_interval)


def _raise_body_error(body: IncomingBody) -> None:
    """A failure caused by the incoming body (too large, sender gone) is final, not the next hop's fault."""
    if body.error is None:
        return
    if isinstance(body.error, RouterError):
        raise body.error
    raise BadRequest(f"the sender's message body broke off: {body.error!r}")


async def _remote_error(resp: aiohttp.ClientResponse, hop: Endpoint) -> RouterError:
    try:
        body = await resp.json(content_type=None)
        message = str(body.get("error", body))
        retryable = bool(body.get("retryable", False))
    except (ValueError, aiohttp.ClientError, AttributeError):
        message, retryable = f"HTTP {resp.status}", resp.status >= 500
    cls = _ERRORS.get(resp.status, Busy if retryable else RouterError)
    err = cls(f"{message} (at {hop.host}:{hop.port})")
    err.status = resp.status if cls is RouterError else err.status
    return err
