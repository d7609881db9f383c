"""The flow HTTP API (aiohttp): tables, jobs, approvals, outputs, logs, the audit log and links.

`python -m fate flow --config flow.yaml` (or `python -m fate.flow.server`). Every
route except /healthz needs `Authorization: Bearer <token>`; errors are JSON
bodies `{"error": ..., "problems": [...]}` with a fitting status.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import tempfile
import threading
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from aiohttp import web

from fate import logs
from fate.federation.client import RouterTransport
from fate.federation.signed import signed
from fate.federation.transport import TransportError
from fate.flow import metrics, stepruns
from fate.flow.access import authorize
from fate.flow.config import FlowConfig, load_flow_config
from fate.flow.control import POLL_SECONDS
from fate.flow.errors import (
    BadRequest,
    ConfigError,
    Conflict,
    FlowError,
    NotFound,
    TooLarge,
)
from fate.flow.jobspec import NAME, parse_job
from fate.flow.scheduler import Scheduler
from fate.flow.store import JobRecord, Store, open_store
from fate.flow.tables import parse_csv, read_table, to_csv
from fate.flow.waits import running_waits

log = logging.getLogger("fate.flow")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_JOB_BYTES = 1024 * 1024
MAX_NOTE = 500  # an operator's note on an approval or rejection (the proposer reads a rejection's)
CONTROL_DEADLINE = 30.0
DISCOVERY_SECONDS = 5.0


class FlowService:
    def __init__(self, config: FlowConfig, config_path: Path) -> None:
        self.config = config
        self.token = config.read_token().encode()
        reader = config.read_reader_token()
        self.reader_token = reader.encode() if reader is not None else None
        database_url, password = config.database()
        self.restarted = (config.data_dir / "flow.db").exists() or bool(database_url)
        self.store: Store = open_store(config.data_dir, database_url, password)
        # Control messages give up sooner than job data: a client waits on the agreement.
        self.transport = RouterTransport(
            config.party_id, config.router_host, config.router_port, config.tls, deadline=CONTROL_DEADLINE
        )
        # Control messages are signed with the party key: not even the exchange can speak for a peer.
        self.scheduler = Scheduler(config, self.store, signed(self.transport, config.tls), config_path)
        self.config_path = config_path
        self.metrics = metrics.flow_registry(self.store)
        self.delay = 0.0

    def reload(self) -> None:
        """SIGHUP: listen to the peers flow.yaml names now (a party joined) and reread TLS files."""
        try:
            fresh = load_flow_config(self.config_path)
        except ConfigError as err:
            log.warning("reload refused, keeping the running config: %s", err)
            return
        # Who we know and what we allow change with the federation; ports and paths do not.
        self.config = replace(self.config, peers=fresh.peers, policy=fresh.policy)
        self.scheduler.config, self.scheduler.policy = self.config, fresh.policy
        self.scheduler.listen(set(fresh.peers), delay=self.delay)
        self._reload_tls()
        log.info("reloaded: peers %s and the policy", sorted(fresh.peers))

    def _reload_tls(self) -> None:
        try:
            self.transport.reload_tls()
        except TransportError as err:
            log.warning("TLS files changed but cannot be loaded; keeping the previous ones: %s", err)

    # ---- middleware ----
    @web.middleware
    async def errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except FlowError as err:
            return web.json_response(err.body(), status=err.status)
        except web.HTTPException:
            raise
        except Exception as err:  # the client gets a reason, the log gets the traceback
            log.exception("%s %s", request.method, request.path)
            return web.json_response(
                {"error": f"internal error: {type(err).__name__}: {err}", "problems": []}, status=500
            )

    @web.middleware
    async def auth(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path != "/healthz":
            authorize(request.headers.get("Authorization", ""), request.method, self.token, self.reader_token)
        return await handler(request)

    # ---- handlers ----
    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "party_id": self.config.party_id})

    async def upload_table(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if not NAME.match(name):
            raise BadRequest(f"table name {name!r}: letters, digits, _ . - (up to 64)")
        if self.store.has_table(name) and request.query.get("overwrite", "false") != "true":
            raise Conflict(f"table {name!r} exists; upload again with overwrite=true (fatectl data upload --overwrite) to replace it")
        uploads = self.config.data_dir / "uploads"
        uploads.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=uploads, suffix=".csv")
        try:
            size = 0
            with os.fdopen(fd, "wb") as out:
                async for chunk in request.content.iter_chunked(1 << 20):
                    size += len(chunk)
                    if size > self.config.max_upload_bytes:
                        raise TooLarge(f"upload exceeds the limit of {self.config.max_upload_bytes} bytes")
                    out.write(chunk)
            table = await asyncio.to_thread(parse_csv, Path(tmp), what=f"upload of table {name!r}")
            meta = await asyncio.to_thread(self.store.put_table, name, table)
        finally:
            os.unlink(tmp)
        return web.json_response(meta, status=201)

    async def list_tables(self, request: web.Request) -> web.Response:
        return web.json_response(self.store.list_tables())

    async def submit_job(self, request: web.Request) -> web.Response:
        body = bytearray()  # read() returns what has arrived so far: loop until the end or the limit
        while len(body) <= MAX_JOB_BYTES:
            chunk = await request.content.read(MAX_JOB_BYTES + 1 - len(body))
            if not chunk:
                break
            body += chunk
        if len(body) > MAX_JOB_BYTES:
            raise TooLarge(f"job file exceeds {MAX_JOB_BYTES} bytes")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest("job file is not UTF-8 text") from None
        spec = parse_job(text)
        job = await asyncio.to_thread(self.scheduler.submit, spec)
        return web.json_response(self._job_view(job), status=201)

    def _job_view(self, job: JobRecord) -> dict[str, Any]:
        view: dict[str, Any] = {**job, "worker_pid": self.scheduler.worker_pid(job["id"]),
                                "steps": stepruns.of_job(self.store, job["id"])}
        if job["status"] == "running":
            view["waiting"] = running_waits(self.config.data_dir / "jobs" / job["id"], self.transport.links)
        return view

    async def list_jobs(self, request: web.Request) -> web.Response:
        limit = _int_query(request, "limit", 100)
        # A running job's view may ask the router about links: off the event loop.
        status = request.query.get("status")
        views = await asyncio.to_thread(lambda: [self._job_view(j) for j in self.store.list_jobs(limit, status)])
        return web.json_response(views)

    async def get_job(self, request: web.Request) -> web.Response:
        job = self.store.get_job(request.match_info["id"])
        return web.json_response(await asyncio.to_thread(self._job_view, job))

    async def stop_job(self, request: web.Request) -> web.Response:
        job = await asyncio.to_thread(self.scheduler.stop, request.match_info["id"])
        return web.json_response(self._job_view(job))

    async def _note(self, request: web.Request) -> str:
        """The optional `{"reason": TEXT}` body of an approval or a rejection."""
        raw = await request.read()
        if not raw.strip():
            return ""
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise BadRequest('expected a JSON body {"reason": TEXT} or none') from None
        note = body.get("reason", "") if isinstance(body, dict) else None
        if not isinstance(note, str) or len(note) > MAX_NOTE:
            raise BadRequest(f"reason: expected a string of up to {MAX_NOTE} characters")
        return note

    async def approve_job(self, request: web.Request) -> web.Response:
        note = await self._note(request)
        job = await asyncio.to_thread(self.scheduler.approve, request.match_info["id"], note)
        return web.json_response(self._job_view(job))

    async def reject_job(self, request: web.Request) -> web.Response:
        note = await self._note(request)
        job = await asyncio.to_thread(self.scheduler.reject, request.match_info["id"], note)
        return web.json_response(self._job_view(job))

    async def audit(self, request: web.Request) -> web.Response:
        after, limit = _int_query(request, "after", 0), min(_int_query(request, "limit", 1000), 10_000)
        return web.json_response(self.scheduler.audit.records(after, limit))

    async def job_logs(self, request: web.Request) -> web.Response:
        job_id = request.match_info["id"]
        self.store.get_job(job_id)
        return web.json_response(self.store.logs(job_id, _int_query(request, "after", 0)))

    async def job_outputs(self, request: web.Request) -> web.Response:
        job_id = request.match_info["id"]
        self.store.get_job(job_id)
        return web.json_response(self.store.outputs(job_id))

    async def job_data(self, request: web.Request) -> web.StreamResponse:
        """An output table of a job (e.g. the intersection, predictions) as CSV."""
        job_id, component, role = (request.match_info[k] for k in ("id", "component", "role"))
        self.store.get_job(job_id)
        if not (NAME.match(component) and NAME.match(role)):
            raise BadRequest("component and role must be plain names")
        path = self.store.output_table_path(job_id, component, role)
        if not path.exists():
            raise NotFound(f"job {job_id} has no output table of {component} as {role} on this party")
        text = await asyncio.to_thread(lambda: to_csv(read_table(path)))
        return web.Response(text=text, content_type="text/csv")

    async def prometheus(self, request: web.Request) -> web.Response:
        """Prometheus text format, for the flow token or the read-only credential (a GET)."""
        body = await asyncio.to_thread(metrics.exposition, self.metrics)
        return web.Response(body=body, headers={"Content-Type": metrics.CONTENT_TYPE})

    async def links(self, request: web.Request) -> web.Response:
        try:
            links = await asyncio.to_thread(self.transport.links)
        except TransportError as err:
            return web.json_response({"error": f"own router: {err}", "problems": []}, status=502)
        return web.json_response(links)

    # ---- lifecycle ----
    def app(self) -> web.Application:
        app = web.Application(middlewares=[self.errors, self.auth], client_max_size=MAX_JOB_BYTES)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_post("/v1/tables/{name}", self.upload_table)
        app.router.add_get("/v1/tables", self.list_tables)
        app.router.add_post("/v1/jobs", self.submit_job)
        app.router.add_get("/v1/jobs", self.list_jobs)
        app.router.add_get("/v1/jobs/{id}", self.get_job)
        app.router.add_post("/v1/jobs/{id}/stop", self.stop_job)
        app.router.add_post("/v1/jobs/{id}/approve", self.approve_job)
        app.router.add_post("/v1/jobs/{id}/reject", self.reject_job)
        app.router.add_get("/v1/jobs/{id}/logs", self.job_logs)
        app.router.add_get("/v1/jobs/{id}/outputs", self.job_outputs)
        app.router.add_get("/v1/jobs/{id}/data/{component}/{role}", self.job_data)
        app.router.add_get("/v1/federation/links", self.links)
        app.router.add_get("/v1/audit", self.audit)
        app.router.add_get("/metrics", self.prometheus)
        app.on_startup.append(self._on_startup)
        app.on_cleanup.append(self._on_cleanup)
        return app

    async def _on_startup(self, app: web.Application) -> None:
        self.scheduler.recover()
        # Only known peers get a listener: parties named in stored jobs were checked against
        # config.peers when the job was agreed, and a refused proposal may name anyone.
        peers = set(self.config.peers)
        # A previous instance's long-polls may still be parked in the router and would swallow
        # the next control message; let them expire before polling (messages wait in the mailbox).
        self.delay = POLL_SECONDS + 2.0 if self.restarted else 0.0
        self.scheduler.listen(peers, delay=self.delay)
        threading.Thread(target=self._discover_peers, name="peer-discovery", daemon=True).start()

    def _discover_peers(self) -> None:
        """Keep adding the router's direct routes as peers: the router may start after us, or change."""
        while not self.scheduler.closed.is_set():
            try:
                found = {int(k) for k in self.transport.links() if str(k).isdigit()}
            except (TransportError, ValueError):
                found = set()
            self.scheduler.listen(found, delay=self.delay)
            self._reload_tls()  # rotated certificates reach the flow's own client too
            if self.scheduler.closed.wait(DISCOVERY_SECONDS):
                return

    async def _on_cleanup(self, app: web.Application) -> None:
        self.scheduler.close()
        self.transport.close()


def _int_query(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):  # SQLite holds 64-bit integers
        raise BadRequest(f"query parameter {name}: expected a non-negative integer, got {raw!r}")
    return int(raw)


async def _serve(service: FlowService) -> None:
    runner = web.AppRunner(service.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, service.config.host, service.config.port)
    await site.start()
    log.info(
        "flow of party %s listening on %s:%s",
        service.config.party_id,
        service.config.host,
        service.config.port,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, service.reload)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fate flow")
    parser.add_argument("--config", required=True, help="flow.yaml")
    logs.add_argument(parser)
    args = parser.parse_args(argv)
    logs.configure(args.log_format)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # every control-channel long-poll would be a line
    # A reload (SIGHUP) sent while we still start must not kill us; _serve installs the real handler.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        config = load_flow_config(args.config)
        service = FlowService(config, Path(args.config).resolve())
    except ConfigError as err:
        print(f"error: {err}", flush=True)
        return 2
    asyncio.run(_serve(service))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
