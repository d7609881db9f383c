"""`python -m fate check board`: is the local board answering /healthz? None when healthy."""

from __future__ import annotations

from pathlib import Path

import httpx

from fate.board.config import load_board_config
from fate.board.errors import ConfigError


def check_board(config_path: str | Path, timeout: float = 5.0) -> str | None:
    try:
        config = load_board_config(config_path)
    except ConfigError as err:
        return str(err)
    # A board listening on all interfaces is checked over loopback, from inside its container/pod.
    host = "127.0.0.1" if config.host in ("0.0.0.0", "::", "") else config.host
    url = f"http://{host}:{config.port}/healthz"
    try:
        resp = httpx.get(url, timeout=timeout)
    except httpx.HTTPError as err:
        return f"board at {url} unreachable: {err}"
    return None if resp.status_code == 200 else f"board at {url} answered HTTP {resp.status_code}"
