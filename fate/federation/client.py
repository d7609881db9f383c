"""RouterTransport: how a party's flow and workers reach other parties, through their own router.

The client presents the party's own certificate (so its router treats it as
a local client) and verifies the router as `party-<own id>`. Sends retry with
exponential backoff until a deadline while the router is unreachable or busy;
receives long-poll the router's mailbox until the caller's timeout.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from fate.federation.config import TLSConfig, as_tls_config
from fate.federation.hops import message_path
from fate.federation.tls import client_context, identity
from fate.federation.transport import Transport, TransportError

CHUNK = 1024 * 1024
ROUTER_DEADLINE = 150.0  # above the router's default retry deadline toward the next hop
# Failures that prove the router never got the whole message, so sending again is safe.
_UNSENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.WriteError, httpx.WriteTimeout, httpx.PoolTimeout)


def _chunks(parts: Sequence[bytes]) -> Iterator[bytes]:
    for part in parts:
        view = memoryview(part)
        for start in range(0, len(view), CHUNK):
            yield bytes(view[start : start + CHUNK])


class RouterTransport(Transport):
    """Transport to a party's own router over HTTP(S); thread-safe for concurrent jobs."""

    def __init__(
        self,
        party_id: int,
        router_host: str,
        router_port: int,
        tls: TLSConfig | Mapping[str, Any] | None = None,
        deadline: float = 120.0,
        max_backoff: float = 5.0,
    ) -> None:
        self.party_id = int(party_id)
        self.tls = as_tls_config(tls)
        self.deadline = deadline
        self.max_backoff = max_backoff
        scheme = "https" if self.tls.enabled else "http"
        self.base_url = f"{scheme}://{router_host}:{router_port}"
        self._stamp = self._tls_stamp()
        self._client = self._new_client()
        self._extensions = {"sni_hostname": identity(self.party_id)} if self.tls.enabled else {}

    def _new_client(self) -> httpx.Client:
        verify: Any = client_context(self.tls) if self.tls.enabled else False
        return httpx.Client(
            base_url=self.base_url,
            verify=verify,
            timeout=httpx.Timeout(60.0, connect=10.0),
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=8),
        )

    def _tls_stamp(self) -> tuple[int, ...]:
        files = (self.tls.ca_file, self.tls.cert_file, self.tls.key_file) if self.tls.enabled else ()
        stamps = []
        for name in files:
            try:
                stamps.append(Path(name).stat().st_mtime_ns)
            except OSError:
                stamps.append(0)
        return tuple(stamps)

    def reload_tls(self, force: bool = False) -> bool:
        """Use rotated certificates or trust for new requests once the TLS files changed.

        Requests in flight (long-polls of other threads) finish on the old client, closed
        only after they had time to end, so a rotation drops no message.
        """
        stamp = self._tls_stamp()
        if not self.tls.enabled or (stamp == self._stamp and not force):
            return False
        fresh = self._new_client()  # raises on unreadable files; the old client stays in use
        old, self._client, self._stamp = self._client, fresh, stamp
        timer = threading.Timer(3 * ROUTER_DEADLINE, old.close)
        timer.daemon = True
        timer.start()
        return True

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self._client.request(method, path, extensions=self._extensions, **kwargs)

    def send(self, job_id: str, tag: str, dst: int, payload: bytes) -> None:
        self.send_parts(job_id, tag, dst, (payload,))

    def send_parts(self, job_id: str, tag: str, dst: int, parts: Sequence[bytes]) -> None:
        """One message made of `parts`, streamed one after the other (never joined in memory)."""
        size = sum(len(part) for part in parts)
        deadline = time.monotonic() + self.deadline
        backoff, attempts, last = 0.05, 0, ""
        while True:
            attempts += 1
            try:
                resp = self._request(
                    "POST",
                    message_path(job_id, tag),
                    params={"src": self.party_id, "dst": dst},
                    content=_chunks(parts),
                    headers={"Content-Length": str(size), "Content-Type": "application/octet-stream"},
                    # Long enough for the router's own retries toward the next hop to end with an answer.
                    timeout=httpx.Timeout(self.deadline + ROUTER_DEADLINE, connect=10.0),
                )
                if resp.status_code == 200:
                    return
                message, retryable = _error_of(resp)
                if not retryable:
                    raise TransportError(f"sending {tag!r} of job {job_id} to party {dst} failed: {message}")
                last = message
            except _UNSENT as err:
                last = f"router {self.base_url} unreachable: {err or type(err).__name__}"
            except httpx.TransportError as err:
                # The router may have delivered already; sending again could duplicate (at-most-once).
                raise TransportError(
                    f"sending {tag!r} of job {job_id} to party {dst}: no answer from router {self.base_url} "
                    f"({type(err).__name__}: {err}); the message may or may not have been delivered"
                ) from None
            if time.monotonic() + backoff > deadline:
                raise TransportError(
                    f"sending {tag!r} of job {job_id} to party {dst} failed after {attempts} attempts: {last}"
                )
            time.sleep(backoff)
            backoff = min(backoff * 2, self.max_backoff)

    def recv(self, job_id: str, tag: str, src: int, timeout: float = 600.0) -> bytes:
        return bytes(self.recv_buffer(job_id, tag, src, timeout))

    def recv_buffer(self, job_id: str, tag: str, src: int, timeout: float = 600.0) -> bytearray:
        """The message as the buffer it was read into (recv copies it into bytes)."""
        deadline = time.monotonic() + timeout
        path = message_path(job_id, tag)
        while True:
            remaining = deadline - time.monotonic()
            wait = max(0.0, min(remaining, 30.0))
            try:
                with self._client.stream(
                    "GET",
                    path,
                    params={"src": src, "timeout": f"{wait:.3f}"},
                    extensions=self._extensions,
                    timeout=httpx.Timeout(wait + 60.0, connect=10.0),
                ) as resp:
                    if resp.status_code == 200:
                        return _read_stream(resp)
                    if resp.status_code != 204:
                        resp.read()
                        message, retryable = _error_of(resp)
                        if not retryable:
                            raise TransportError(f"receiving {tag!r} of job {job_id} failed: {message}")
            except httpx.TransportError as err:
                if time.monotonic() >= deadline:
                    raise TransportError(f"router {self.base_url} unreachable: {err}") from None
                time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
            if time.monotonic() >= deadline:
                raise TransportError(
                    f"timed out after {timeout:g}s waiting for {tag!r} of job {job_id} from party {src}"
                )

    def open_job(self, job_id: str) -> None:
        """Tell the router this party agreed to a job: peers may now send it the job's data in full."""
        self._job_call(job_id, "open")

    def drop_job(self, job_id: str) -> int:
        """Close a finished job at the router, freeing its mailbox; returns how many messages were never read."""
        return int(self._job_call(job_id, "close").get("dropped", 0))

    def _job_call(self, job_id: str, action: str) -> dict[str, Any]:
        try:
            resp = self._request("POST", f"/v1/jobs/{quote(job_id, safe='')}/{action}")
        except httpx.TransportError as err:
            raise TransportError(f"{action} job {job_id}: router {self.base_url} unreachable: {err}") from None
        if resp.status_code != 200:
            raise TransportError(f"{action} job {job_id}: {_error_of(resp)[0]}")
        body: dict[str, Any] = resp.json()
        return body

    def status(self) -> dict[str, Any]:
        """What the router holds and refused, per peer (GET /v1/status)."""
        try:
            resp = self._request("GET", "/v1/status")
        except httpx.TransportError as err:
            raise TransportError(f"router {self.base_url} unreachable: {err}") from None
        if resp.status_code != 200:
            raise TransportError(f"router status: {_error_of(resp)[0]}")
        body: dict[str, Any] = resp.json()
        return body

    def links(self) -> dict[str, dict[str, Any]]:
        """Per-peer link status as the router sees it: {peer: {state, latency_ms, last_error, checked_at}}."""
        try:
            resp = self._request("GET", "/v1/links")
        except httpx.TransportError as err:
            raise TransportError(f"router {self.base_url} unreachable: {err}") from None
        if resp.status_code != 200:
            raise TransportError(f"link status: {_error_of(resp)[0]}")
        links: dict[str, dict[str, Any]] = resp.json()
        return links

    def metrics(self) -> str:
        """The router's Prometheus metrics, which it serves to its own party's certificate."""
        try:
            resp = self._request("GET", "/metrics")
        except httpx.TransportError as err:
            raise TransportError(f"router {self.base_url} unreachable: {err}") from None
        if resp.status_code != 200:
            raise TransportError(f"router metrics: {_error_of(resp)[0]}")
        return resp.text

    def healthy(self) -> bool:
        try:
            return self._request("GET", "/healthz", timeout=5.0).status_code == 200
        except httpx.TransportError:
            return False

    def close(self) -> None:
        self._client.close()


def _read_stream(resp: httpx.Response) -> bytearray:
    size = int(resp.headers.get("Content-Length", "0"))
    buffer = bytearray()
    if size:
        buffer = bytearray(size)
        pos = 0
        for block in resp.iter_raw(CHUNK):
            buffer[pos : pos + len(block)] = block
            pos += len(block)
        if pos != size:
            raise TransportError(f"message truncated: got {pos} of {size} bytes")
        return buffer
    for block in resp.iter_raw(CHUNK):
        buffer += block
    return buffer


def _error_of(resp: httpx.Response) -> tuple[str, bool]:
    try:
        body = resp.json()
        return str(body.get("error", body)), bool(body.get("retryable", False))
    except (ValueError, AttributeError):
        return f"HTTP {resp.status_code}", resp.status_code >= 500
