"""Health checks of a party's own services, for Docker HEALTHCHECK and `python -m fate check`.

Each returns None when healthy, else what is wrong, so the caller decides how to report it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from fate.federation.client import RouterTransport
from fate.federation.config import load_router_config, read_yaml
from fate.federation.errors import ConfigError
from fate.federation.transport import TransportError

_WILDCARDS = {"0.0.0.0", "::", ""}


def _local_host(host: str) -> str:
    # A service listening on all interfaces is checked over loopback, from inside its container/pod.
    return "127.0.0.1" if host in _WILDCARDS else host


def check_router(config_path: str | Path, timeout: float = 5.0) -> str | None:
    try:
        config = load_router_config(config_path)
    except TransportError as err:
        return str(err)
    transport = RouterTransport(
        config.party_id, _local_host(config.listen.host), config.listen.port, config.tls, deadline=timeout
    )
    try:
        return None if transport.healthy() else f"router at {transport.base_url} does not answer /healthz"
    finally:
        transport.close()


def check_flow(config_path: str | Path, timeout: float = 5.0) -> str | None:
    try:
        data: Any = read_yaml(config_path)
        listen = data["listen"]
        url = f"http://{_local_host(str(listen['host']))}:{int(listen['port'])}/healthz"
    except ConfigError as err:
        return str(err)
    except (KeyError, TypeError, ValueError):
        return f"{config_path}: listen.host / listen.port missing"
    try:
        resp = httpx.get(url, timeout=timeout)
    except httpx.HTTPError as err:
        return f"flow at {url} unreachable: {err}"
    return None if resp.status_code == 200 else f"flow at {url} answered HTTP {resp.status_code}"
