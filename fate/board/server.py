"""The board's HTTP server (aiohttp): server-rendered pages over the party's flow.

`python -m fate board --config board.yaml`. Every page but /healthz needs the board's own
password, as HTTP Basic password of user `admin` (so a browser can log in) or as
`Authorization: Bearer <password>`. The board reads the flow with the flow's read-only
credential; it never holds the flow's read-write token.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hmac
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from fate import logs
from fate.board import approvals, dag, views
from fate.board.config import BoardConfig, load_board_config
from fate.board.errors import BoardError, ConfigError, FlowUnavailable
from fate.board.flowapi import FlowApi
from fate.flow.waits import wait_text

log = logging.getLogger("fate.board")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
HERE = Path(__file__).parent
USER = "admin"
LOG_TAIL = 200
REFRESH_SECONDS = 5
SECURITY_HEADERS = {
    # No script, no inline style, nothing from elsewhere: the pages are plain HTML + one CSS file.
    "Content-Security-Policy": "default-src 'self'; script-src 'none'; object-src 'none'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(HERE / "templates"), autoescape=True, undefined=StrictUndefined
    )


def _authorized(header: str, token: bytes) -> bool:
    scheme, _, given = header.partition(" ")
    scheme, given = scheme.lower(), given.strip()
    try:
        if scheme == "bearer":
            return hmac.compare_digest(given.encode(), token)
        if scheme == "basic":
            user, _, password = base64.b64decode(given, validate=True).decode("utf-8").partition(":")
            # Both compared, always: the answer time must not tell which one was wrong.
            return hmac.compare_digest(user.encode(), USER.encode()) & hmac.compare_digest(
                password.encode(), token
            )
    except ValueError:  # not base64, not UTF-8, or a header holding characters no token has
        return False
    return False


def _job_of(request: web.Request) -> dict[str, str]:
    """The job a page is about, for structured log lines (fate.logs)."""
    job_id = request.match_info.get("id")
    return {"job_id": job_id} if job_id else {}


class Board:
    def __init__(self, config: BoardConfig, reader_token: str, password: str) -> None:
        self.config = config
        self._password = password.encode()
        self.flow = FlowApi(config.flow_url, reader_token)
        self.env = _environment()

    def _page(self, template: str, status: int = 200, **values: Any) -> web.Response:
        values.setdefault("refresh", 0)
        html = self.env.get_template(template).render(party_id=self.config.party_id, **values)
        return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")

    # ---- middleware ----
    @web.middleware
    async def errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except BoardError as err:
            if err.status >= 500:
                log.warning("%s %s: %s", request.method, request.path, err, extra=_job_of(request))
            return self._page(
                "error.html",
                err.status,
                title=f"HTTP {err.status}",
                message=err.message,
                problems=err.problems,
            )
        except web.HTTPException:
            raise
        except Exception as err:  # the visitor gets a reason, the log gets the traceback
            log.exception("%s %s", request.method, request.path, extra=_job_of(request))
            return self._page(
                "error.html",
                500,
                title="HTTP 500",
                message=f"internal error: {type(err).__name__}",
                problems=(),
            )

    @web.middleware
    async def auth(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path != "/healthz" and not _authorized(
            request.headers.get("Authorization", ""), self._password
        ):
            page = self._page(
                "error.html",
                401,
                title="HTTP 401",
                message="Log in as user admin with the board's password (the party's board_password "
                "secret), or send it as a bearer token.",
                problems=(),
            )
            page.headers["WWW-Authenticate"] = (
                f'Basic realm="FATE board of party {self.config.party_id}", charset="UTF-8"'
            )
            return page
        return await handler(request)

    @staticmethod
    async def _headers(request: web.Request, response: web.StreamResponse) -> None:
        response.headers.update(SECURITY_HEADERS)

    # ---- handlers ----
    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "party_id": self.config.party_id})

    async def icon(self, request: web.Request) -> web.Response:
        text = await asyncio.to_thread((HERE / "static" / "favicon.svg").read_text, encoding="utf-8")
        return web.Response(text=text, content_type="image/svg+xml", charset="utf-8")

    async def stylesheet(self, request: web.Request) -> web.Response:
        text = await asyncio.to_thread((HERE / "static" / "board.css").read_text, encoding="utf-8")
        return web.Response(text=text, content_type="text/css", charset="utf-8")

    async def _links(self) -> tuple[list[views.Link], str]:
        """Link states, or why they are unknown: a router that is down must not hide the job list."""
        try:
            return views.links(await self.flow.links()), ""
        except FlowUnavailable as err:
            return [], err.message

    async def job_list(self, request: web.Request) -> web.Response:
        jobs, (links, links_problem) = await asyncio.gather(self.flow.jobs(), self._links())
        rows = [
            {
                "id": str(j.get("id", "")),
                "href": "/jobs/" + quote(str(j.get("id", "")), safe=""),
                "name": str(j.get("name", "")),
                "status": str(j.get("status", "")),
                "roles": views.job_roles(j, self.config.party_id),
                "initiator": j.get("initiator", ""),
                "created": views.when(j.get("created")),
                "updated": views.when(j.get("updated")),
                "reason": str(j.get("reason", "")),
            }
            for j in jobs
        ]
        live = any(r["status"] not in views.TERMINAL for r in rows)
        return self._page(
            "jobs.html",
            jobs=rows,
            links=links,
            links_problem=links_problem,
            refresh=REFRESH_SECONDS if live else 0,
        )

    async def job_detail(self, request: web.Request) -> web.Response:
        job_id = request.match_info["id"]
        job, logs, outputs = await asyncio.gather(
            self.flow.job(job_id), self.flow.logs(job_id), self.flow.outputs(job_id)
        )
        spec = job.get("spec") if isinstance(job.get("spec"), dict) else {}
        roles = spec.get("roles", {}) if isinstance(spec.get("roles"), dict) else {}
        tail = logs[-LOG_TAIL:]
        tasks = views.tasks(job, logs, self.config.party_id)
        graph = dag.nodes(job, tasks)
        # ?step=NAME narrows the outputs to one step: a link to it is a link to that step's results.
        asked = request.query.get("step", "")
        step = asked if any(n.name == asked for n in graph) else ""
        sections = views.sections(outputs, views.pipeline_names(job))
        return self._page(
            "job.html",
            job={k: str(job.get(k, "")) for k in ("id", "name", "status", "reason", "initiator")},
            roles=sorted(
                (str(r), [str(i) for i in ids] if isinstance(ids, list) else []) for r, ids in roles.items()
            ),
            waiting=[wait_text(w) for w in job.get("waiting", []) if isinstance(w, dict)],
            created=views.when(job.get("created")),
            updated=views.when(job.get("updated")),
            tasks=tasks,
            durations={key: f"{sec:.1f} s" for key, sec in dag.durations(job).items()},
            dag=dag.pipeline_dag(graph, step) if graph else "",
            step=step,
            unknown_step=asked if asked and not step else "",
            sections=[s for s in sections if s.component == step] if step else sections,
            log=[
                {
                    "when": views.when(e.get("ts")),
                    "source": str(e.get("source", "")),
                    "message": str(e.get("message", "")),
                }
                for e in tail
            ],
            log_total=len(logs),
            log_hidden=len(logs) > len(tail),
            refresh=0 if job.get("status") in views.TERMINAL else REFRESH_SECONDS,
        )

    async def pending_approvals(self, request: web.Request) -> web.Response:
        jobs = await self.flow.jobs(limit=1000, status="pending")
        return self._page("approvals.html", pending=approvals.pending(jobs, self.config.party_id))

    # ---- lifecycle ----
    def app(self) -> web.Application:
        app = web.Application(middlewares=[self.errors, self.auth])
        app.on_response_prepare.append(self._headers)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/", self.job_list)
        app.router.add_get("/jobs/{id}", self.job_detail)
        app.router.add_get("/approvals", self.pending_approvals)
        app.router.add_get("/static/board.css", self.stylesheet)
        # Browsers ask for an icon on their own; without one every page logs a 404.
        app.router.add_get("/static/favicon.svg", self.icon)
        app.router.add_get("/favicon.ico", self.icon)
        app.on_cleanup.append(self._close)
        return app

    async def _close(self, app: web.Application) -> None:
        await self.flow.close()


def create_board(config_path: str | Path) -> Board:
    """Load board.yaml and its two secrets; raises ConfigError naming what is wrong."""
    config = load_board_config(config_path)
    return Board(config, config.read_token(), config.read_password())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fate board")
    parser.add_argument("--config", required=True, help="board.yaml")
    logs.add_argument(parser)
    args = parser.parse_args(argv)
    logs.configure(args.log_format)
    try:
        board = create_board(args.config)
    except ConfigError as err:
        print(f"error: {err}", flush=True)
        return 2
    log.info(
        "board of party %s starting on %s:%s over flow %s",
        board.config.party_id,
        board.config.host,
        board.config.port,
        board.flow.base_url,
    )
    try:
        # run_app stops cleanly on SIGTERM (docker stop, kubelet) and SIGINT.
        web.run_app(board.app(), host=board.config.host, port=board.config.port, access_log=None, print=None)
    except OSError as err:  # the port is taken or the address is not ours
        print(f"error: cannot listen on {board.config.host}:{board.config.port}: {err.strerror}", flush=True)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
