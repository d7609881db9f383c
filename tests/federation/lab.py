"""Real routers on loopback with real mTLS material, served from one background event loop.

Configs come from fatectl's own renderer (local-lab layout), so these tests also
prove that what fatectl writes is what the router reads.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Coroutine
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

import httpx

from fate.federation.client import RouterTransport
from fate.federation.config import RouterConfig, parse_router_config
from fate.federation.router import RunningRouter, start_router
from fatectl.pki import SecretsLayout, ensure_secrets
from fatectl.render.engine import Layout, engine_configs
from fatectl.spec.model import Compose, Exchange, Federation
from tests.federation.specs import federation

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def lab_federation(party_ids: tuple[int, ...], exchange: bool, tls: str = "mutual") -> Federation:
    fed = federation(party_ids, exchange=exchange, tls=tls)
    parties = tuple(
        p.__class__(**{**p.__dict__, "compose": Compose(MappingProxyType({"router": free_port(), "flow": free_port()}))})
        for p in fed.parties
    )
    ex = fed.exchange
    if exchange:
        ex = Exchange(**{**ex.__dict__, "host_port": free_port()})
    return fed.__class__(**{**fed.__dict__, "parties": parties, "exchange": ex})


class EventLoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class RouterLab:
    """Every router of a small federation (and its exchange), plus RouterTransports to them."""

    def __init__(self, root: Path, party_ids: tuple[int, ...] = (9999, 10000), exchange: bool = False,
                 tls: str = "mutual", tuning: dict[str, Any] | None = None) -> None:
        self.fed = lab_federation(party_ids, exchange, tls)
        self.secrets = ensure_secrets(self.fed, root / "secrets")
        raw = engine_configs(self.fed, Layout.local(str(root / "secrets"), str(root / "data")))
        self.configs: dict[int, RouterConfig] = {}
        for name, data in raw.items():
            if name.endswith("/router.yaml"):
                config = parse_router_config({**data, **(tuning or {})}, name)
                self.configs[config.party_id] = config
        self.loop = EventLoopThread()
        self.routers: dict[int, RunningRouter] = {}
        self._transports: list[RouterTransport] = []
        for pid, config in self.configs.items():
            self.routers[pid] = self.loop.run(start_router(config))

    def tls_of(self, party_id: int) -> dict[str, str]:
        config = self.configs[party_id]
        return {"mode": config.tls.mode, "ca_file": config.tls.ca_file,
                "cert_file": config.tls.cert_file, "key_file": config.tls.key_file}

    def transport(self, party_id: int, **kwargs: Any) -> RouterTransport:
        config = self.configs[party_id]
        t = RouterTransport(party_id, "127.0.0.1", config.listen.port, self.tls_of(party_id), **kwargs)
        self._transports.append(t)
        return t

    def probe_links(self) -> None:
        for running in self.routers.values():
            self.loop.run(running.router.hops.probe_all())

    def stop_router(self, party_id: int) -> None:
        self.loop.run(self.routers.pop(party_id).stop())

    def close(self) -> None:
        for t in self._transports:
            t.close()
        for pid in list(self.routers):
            self.stop_router(pid)
        self.loop.stop()


def tls_context(lab: RouterLab, cert_of: int) -> ssl.SSLContext:
    """A client context holding party `cert_of`'s certificate: how a peer (or the exchange) connects."""
    tls = lab.configs[cert_of].tls
    ctx = ssl.create_default_context(cafile=tls.ca_file)
    ctx.check_hostname = False
    ctx.load_cert_chain(tls.cert_file, tls.key_file)
    return ctx


def client_as(lab: RouterLab, router: int, cert_of: int) -> httpx.Client:
    """A raw HTTP client to `router`'s router presenting party `cert_of`'s certificate."""
    return httpx.Client(base_url=f"https://127.0.0.1:{lab.configs[router].listen.port}",
                        verify=tls_context(lab, cert_of), timeout=30)


def tls_of(secrets: SecretsLayout, party_id: int) -> dict[str, str]:
    """A flow.yaml `tls` block for a party of `secrets`."""
    files = secrets.party(party_id)
    return {"mode": "mutual", "ca_file": str(secrets.ca_file), "cert_file": str(files.cert_file),
            "key_file": str(files.key_file)}
