"""The router: a party's gateway, the only port one organisation exposes to another.

Who may do what is decided by the caller's certificate (`party-<id>`):
- this router's own party (its flow and workers) sends as itself to anyone,
  receives from its mailbox, reads link status;
- a peer may only deliver messages whose src is the peer itself, addressed
  to this party (a party router relays for nobody);
- the exchange (this party's default route) relays messages of other parties,
  whose src it checked against *their* certificates;
- an exchange router forwards between parties, checking src the same way.
With `tls: {mode: none}` there are no identities and everything is allowed:
that mode exists only for throughput references and trusted single-host labs.

What a router holds is bounded per sending party and in total, before a body
is read (fate.federation.quota); only jobs the local flow opened get more than
a small, short-lived share. The router authenticates hops, not messages: that
a message really comes from its `src` is checked end to end by the receiving
party (fate.federation.signed), since an exchange may relay for anyone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from fate.federation.body import IncomingBody, Payload, read_body
from fate.federation.config import Endpoint, RouterConfig
from fate.federation.errors import BadRequest, Forbidden, LengthRequired, NoRoute, RouterError
from fate.federation.hops import Hops
from fate.federation.mailbox import Mailboxes
from fate.federation.metrics import RouterCollector, Traffic, exposition, router_registry
from fate.federation.quota import Quotas
from fate.federation.reload import TLSState, watch, with_new_routes
from fate.federation.tls import peer_party_id, reloading_server_context

log = logging.getLogger("fate.router")


class Router:
    def __init__(self, config: RouterConfig) -> None:
        self.config = config
        self.party_id = config.party_id
        self.quotas = Quotas(config.limits, config.party_id)
        self.mailboxes = Mailboxes(self.quotas)
        self.hops = Hops(config)
        self.traffic = Traffic()
        self.registry = router_registry(RouterCollector(self.traffic, self.hops.links, self.quotas, self.mailboxes))
        self.spool_dir = Path(config.data_dir) / "spool"
        self._tasks: list[asyncio.Task[None]] = []
        # Certificates, trust and routes can change under a running router (fate.federation.reload).
        self.tls_state = TLSState(config.tls)
        self.tls_state.listeners.append(lambda: self.hops.use_tls(self.tls_state.verify_id, self.tls_state.verify_ca))

    def reload(self, config: RouterConfig | None = None) -> None:
        """SIGHUP: take new routes (when a config is given) and reread the TLS files."""
        if config is not None:
            self.config = with_new_routes(self.config, config)
            self.hops.use_routes(self.config)
            log.info("routes reloaded: %s", sorted(self.config.routes) or "default route only")
        self.tls_state.refresh(force=True)

    # ---- identities ----

    def _caller(self, request: web.Request) -> int | None:
        """Party id proven by the client certificate; None when TLS is off."""
        if not self.config.tls.enabled:
            return None
        transport = request.transport
        caller = peer_party_id(transport.get_extra_info("peercert") if transport else None)
        if caller is None:
            raise Forbidden("the client certificate carries no party-<id> identity")
        if self.tls_state.is_revoked(transport.get_extra_info("peercert") if transport else None):
            raise Forbidden(f"the certificate of party-{caller} is revoked")
        return caller

    def _require_local(self, request: web.Request) -> None:
        caller = self._caller(request)
        if caller is not None and caller != self.party_id:
            raise Forbidden(f"party-{caller} is not a local client of party {self.party_id}'s router")

    async def _is_relay(self, caller: int) -> bool:
        if self.config.role != "party":
            return False
        if self.hops.exchange_identity() is None and self.config.default_route is not None:
            await self.hops.probe_all()
        return caller == self.hops.exchange_identity()

    async def _authorize(self, caller: int | None, src: int, dst: int) -> None:
        if caller is None:
            return
        if caller == self.party_id:
            if self.config.role == "party" and src != self.party_id:
                raise Forbidden(f"local clients of party {self.party_id} send only as party {self.party_id}")
            return
        relay = await self._is_relay(caller)
        if src != caller and not relay:
            raise Forbidden(f"the certificate of party-{caller} may not send messages from party {src}")
        if self.config.role == "party" and dst != self.party_id:
            raise Forbidden(f"the router of party {self.party_id} does not relay messages for party {dst}")

    # ---- handlers ----

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "party_id": self.party_id, "role": self.config.role})

    async def post_message(self, request: web.Request) -> web.Response:
        job, tag = request.match_info["job"], request.match_info["tag"]
        src, dst = _int_param(request, "src"), _int_param(request, "dst")
        caller = self._caller(request)
        await self._authorize(caller, src, dst)
        size = request.content_length
        if size is None:
            raise LengthRequired("a message must declare its size (Content-Length)")
        if dst == self.party_id:
            if self.config.role == "exchange":
                raise NoRoute(f"the exchange (party {self.party_id}) has no mailbox")
            # Decide on the declared size before reading: a refused body is never stored, and an
            # admitted one has its room reserved while it arrives (concurrent uploads cannot overcommit).
            ticket = self.mailboxes.admit(job, src, size)
            try:
                payload = await read_body(request.content, self.config.limits, self.spool_dir, size)
            except BaseException:
                self.quotas.release(ticket)
                raise
            await self.mailboxes.put(job, tag, src, payload, ticket)
            self.traffic.count(src, "in", size)
            return web.json_response({"delivered": True})
        hop = self.config.next_hop(dst)
        if hop is None:
            raise NoRoute(f"no route from party {self.party_id} to party {dst}")
        # A relayed body is held (spooled for retries) until the next hop takes it: that counts too,
        # per sending router; this party's own clients are only bounded by the totals.
        peer = caller if caller is not None else src
        ticket = self.quotas.reserve(self.quotas.pools["relay"], peer, size, per_peer=peer != self.party_id)
        try:
            body = IncomingBody(request.content, self.config.limits, self.spool_dir, size)
            await self.hops.forward(hop, job, tag, src, dst, body, size)
        finally:
            self.quotas.release(ticket)
        if src != self.party_id:
            self.traffic.count(src, "in", size)
        self.traffic.count(dst, "out", size)
        return web.json_response({"delivered": True})

    async def get_message(self, request: web.Request) -> web.StreamResponse:
        self._require_local(request)
        job, tag = request.match_info["job"], request.match_info["tag"]
        src = _int_param(request, "src")
        wait = min(_float_param(request, "timeout", self.config.limits.max_poll_seconds),
                   self.config.limits.max_poll_seconds)
        payload = await self.mailboxes.take(job, tag, src, wait)
        if payload is None:
            return web.Response(status=204)
        try:
            return await _send_payload(request, payload, self.config.limits.chunk_bytes)
        finally:
            payload.discard()

    async def open_job(self, request: web.Request) -> web.Response:
        """The local flow agreed to a job: its messages get the open-job quota until it is closed."""
        self._require_local(request)
        job = request.match_info["job"]
        self.mailboxes.open(job)
        return web.json_response({"opened": job})

    async def close_job(self, request: web.Request) -> web.Response:
        self._require_local(request)
        return web.json_response({"dropped": self.mailboxes.close(request.match_info["job"])})

    async def links(self, request: web.Request) -> web.Response:
        self._require_local(request)
        return web.json_response({
            key: {**link.as_dict(), "refused": self.quotas.refused_by(link.identity)}
            for key, link in sorted(self.hops.links.items())
        })

    async def status(self, request: web.Request) -> web.Response:
        """What this router holds and refused, per peer: how an operator sees who is pushing."""
        self._require_local(request)
        return web.json_response({
            "party_id": self.party_id,
            "role": self.config.role,
            "mailboxes": self.mailboxes.stats(),
            **self.quotas.status(),
        })

    async def metrics(self, request: web.Request) -> web.Response:
        """Prometheus text format. On the peer-facing port only for this party's own certificate:
        peers must not read whom else this party talks to, or how much."""
        self._require_local(request)
        return await self.open_metrics(request)

    async def open_metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=exposition(self.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    # ---- lifecycle ----

    def metrics_app(self) -> web.Application:
        """The separate plain-HTTP listener (router.yaml `metrics:`): /metrics and nothing else."""
        app = web.Application()
        app.router.add_get("/metrics", self.open_metrics)
        return app

    def app(self) -> web.Application:
        app = web.Application(middlewares=[_errors], client_max_size=self.config.limits.max_message_bytes)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_post("/v1/messages/{job}/{tag}", self.post_message)
        app.router.add_get("/v1/messages/{job}/{tag}", self.get_message)
        app.router.add_post("/v1/jobs/{job}/open", self.open_job)
        app.router.add_post("/v1/jobs/{job}/close", self.close_job)
        app.router.add_delete("/v1/messages/{job}", self.close_job)  # the older name of close
        app.router.add_get("/v1/links", self.links)
        app.router.add_get("/v1/status", self.status)
        app.router.add_get("/metrics", self.metrics)
        app.on_startup.append(self._on_startup)
        app.on_cleanup.append(self._on_cleanup)
        return app

    async def _on_startup(self, app: web.Application) -> None:
        # Mailboxes live in memory; spool files of a previous run belong to nobody now.
        shutil.rmtree(self.spool_dir, ignore_errors=True)
        self.spool_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        await self.hops.start()
        self._tasks = [asyncio.create_task(self.hops.probe_forever()), asyncio.create_task(self._sweep_forever())]
        if self.config.tls.enabled:
            self._tasks.append(asyncio.create_task(watch(self.tls_state)))

    async def _sweep_forever(self) -> None:
        limits = self.config.limits
        interval = min(5.0, max(0.05, min(limits.unopened_ttl, limits.control_ttl, limits.message_ttl) / 4))
        while True:
            await asyncio.sleep(interval)
            dropped = self.mailboxes.sweep()
            if dropped:
                log.info("dropped %d expired messages", dropped)

    async def _on_cleanup(self, app: web.Application) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.hops.close()


async def _send_payload(request: web.Request, payload: Payload, chunk_bytes: int) -> web.StreamResponse:
    if payload.data is not None:
        return web.Response(body=payload.data, content_type="application/octet-stream")
    resp = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
    resp.content_length = payload.size
    await resp.prepare(request)
    async for block in payload.chunks(chunk_bytes):
        await resp.write(block)
    await resp.write_eof()
    return resp


def _int_param(request: web.Request, name: str) -> int:
    try:
        return int(request.query[name])
    except (KeyError, ValueError):
        raise BadRequest(f"query parameter {name} must be a party id (integer)") from None


def _float_param(request: web.Request, name: str, default: float) -> float:
    try:
        return max(0.0, float(request.query.get(name, default)))
    except ValueError:
        raise BadRequest(f"query parameter {name} must be a number of seconds") from None


@web.middleware
async def _errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except RouterError as err:
        headers = {"Retry-After": "1"} if err.retryable else None
        if err.status >= 500:
            log.warning("%s %s: %s", request.method, request.path, err.message)
        return web.json_response(err.body(), status=err.status, headers=headers)


@dataclass
class RunningRouter:
    """A router serving in the current event loop (tests and `python -m fate router`)."""

    router: Router
    runner: web.AppRunner
    port: int
    metrics_runner: web.AppRunner | None = None
    metrics_port: int | None = None

    async def stop(self) -> None:
        if self.metrics_runner is not None:
            await self.metrics_runner.cleanup()
        await self.runner.cleanup()


async def start_router(config: RouterConfig) -> RunningRouter:
    router = Router(config)
    # shutdown_timeout: open long-polls would otherwise hold a stopping router for their whole wait.
    # handler_cancellation: a long-poll whose client went away must not take a message to a dead socket.
    runner = web.AppRunner(
        router.app(), access_log=None, handle_signals=False, shutdown_timeout=2.0, handler_cancellation=True
    )
    await runner.setup()
    # New connections take the router's current context, so certificates rotate without a restart.
    ssl_context = reloading_server_context(router.tls_state.current_server) if config.tls.enabled else None
    site = web.TCPSite(runner, config.listen.host, config.listen.port, ssl_context=ssl_context, backlog=512)
    await site.start()
    port = runner.addresses[0][1] if runner.addresses else config.listen.port
    log.info("router of party %s (%s) listening on %s:%s", config.party_id, config.role, config.listen.host, port)
    running = RunningRouter(router, runner, port)
    if config.metrics is not None:
        try:
            running.metrics_runner, running.metrics_port = await _serve_metrics(router, config.metrics)
        except BaseException:
            await running.stop()
            raise
    return running


async def _serve_metrics(router: Router, where: Endpoint) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(router.metrics_app(), access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, where.host, where.port).start()
    port = runner.addresses[0][1] if runner.addresses else where.port
    log.info("router metrics of party %s on http://%s:%s/metrics", router.party_id, where.host, port)
    return runner, port


async def serve_forever(config: RouterConfig) -> None:
    running = await start_router(config)
    try:
        await asyncio.Event().wait()
    finally:
        await running.stop()
