"""A stand-in for a party's flow HTTP API (only /healthz and /v1/federation/links), for readiness
unit tests; the e2e tests probe the real flow in containers."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class FlowState:
    token: str
    links: dict[str, Any] = field(default_factory=dict)
    healthy: bool = True


@contextmanager
def serve_flow(state: FlowState) -> Iterator[int]:
    """Serve `state` on 127.0.0.1 at a free port; yield the port."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if self.path == "/healthz":
                self._reply(200 if state.healthy else 503, {"ok": state.healthy})
            elif self.path == "/v1/federation/links":
                if self.headers.get("Authorization") != f"Bearer {state.token}":
                    self._reply(401, {"error": "bad token"})
                else:
                    self._reply(200, state.links)
            else:
                self._reply(404, {"error": "not found"})

        def _reply(self, code: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
