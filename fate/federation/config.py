"""router.yaml: parsed once into frozen objects, every problem reported at once.

Required keys follow the contract shared with fatectl's renderer; `limits`,
`retry` and `probe_interval` are optional tuning knobs with safe defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from fate.federation.errors import ConfigError

KiB = 1024
MiB = 1024 * KiB


@dataclass(frozen=True)
class TLSConfig:
    mode: str = "none"  # none | mutual
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""

    @property
    def enabled(self) -> bool:
        return self.mode == "mutual"


def as_tls_config(tls: TLSConfig | Mapping[str, Any] | None) -> TLSConfig:
    """The `tls` block as flow.yaml holds it (a mapping), or already parsed."""
    if tls is None:
        return TLSConfig()
    if isinstance(tls, TLSConfig):
        return tls
    return TLSConfig(
        mode=str(tls.get("mode", "none")),
        ca_file=str(tls.get("ca_file", "")),
        cert_file=str(tls.get("cert_file", "")),
        key_file=str(tls.get("key_file", "")),
    )


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    party_id: int | None = None  # the router expected at this address, when known


@dataclass(frozen=True)
class Limits:
    """What a router holds for whom: peers choose job ids, so quotas are per sending party and in total.

    "Open" jobs are those the local flow registered (it agreed to them); messages of
    any other job id are held only in a small pool and expire quickly, so a peer
    cannot park data under invented job ids. Bodies in transit (relayed or being
    read) count against the same totals as mailboxes.
    """

    chunk_bytes: int = MiB
    memory_threshold: int = 4 * MiB  # larger bodies are spooled to data_dir
    max_poll_seconds: float = 30.0
    max_message_bytes: int = 512 * MiB
    peer_bytes: int = 256 * MiB  # per sending party, open jobs (one message may exceed it when none wait)
    peer_messages: int = 10_000
    total_bytes: int = 1024 * MiB  # everything this router holds, all peers together
    total_messages: int = 100_000
    message_ttl: float = 86_400.0  # unread messages of open jobs, and idle open jobs, are dropped after it
    unopened_peer_bytes: int = 4 * MiB
    unopened_peer_messages: int = 64
    unopened_total_bytes: int = 64 * MiB
    unopened_ttl: float = 60.0
    control_message_bytes: int = 64 * KiB  # the flows' control channel carries job proposals, not data
    control_peer_bytes: int = MiB
    control_peer_messages: int = 1_000
    control_ttl: float = 3_600.0


@dataclass(frozen=True)
class Retry:
    deadline: float = 120.0  # seconds a hop keeps trying the next one
    initial_backoff: float = 0.1
    max_backoff: float = 5.0
    attempt_timeout: float = 600.0  # one HTTP attempt, large bodies included


@dataclass(frozen=True)
class RouterConfig:
    party_id: int
    role: str
    listen: Endpoint
    tls: TLSConfig
    routes: Mapping[int, Endpoint]
    default_route: Endpoint | None
    data_dir: str
    limits: Limits = field(default_factory=Limits)
    retry: Retry = field(default_factory=Retry)
    probe_interval: float = 5.0
    # A plain-HTTP listener serving only /metrics, for the party's own monitoring: never the
    # peer-facing port (fate.federation.metrics). None: metrics only for the party's own certificate.
    metrics: Endpoint | None = None

    def next_hop(self, party_id: int) -> Endpoint | None:
        return self.routes.get(party_id, self.default_route)


class _Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def need(self, data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
        value = data.get(key)
        if value is None or isinstance(value, bool) or not isinstance(value, kind):
            self.items.append(f"{where}{key}: expected {_kind_name(kind)}, got {value!r}")
            return None
        return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join({int: "an integer", str: "a string", dict: "a mapping", float: "a number"}[k] for k in kinds)


def _endpoint(data: Any, where: str, problems: _Problems, with_id: bool) -> Endpoint | None:
    if not isinstance(data, dict):
        problems.items.append(f"{where}: expected a mapping with host and port, got {data!r}")
        return None
    host = problems.need(data, "host", str, f"{where}.")
    port = problems.need(data, "port", int, f"{where}.")
    if isinstance(port, int) and not 0 <= port <= 65535:
        problems.items.append(f"{where}.port: {port} is not a TCP port")
    party_id = problems.need(data, "party_id", int, f"{where}.") if with_id or "party_id" in data else None
    if host is None or port is None:
        return None
    return Endpoint(host, port, party_id)


def _tuning(cls: type, data: Any, where: str, problems: _Problems) -> Any:
    if data is None:
        return cls()
    if not isinstance(data, dict):
        problems.items.append(f"{where}: expected a mapping, got {data!r}")
        return cls()
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        problems.items.append(f"{where}: unknown keys {unknown} (known: {sorted(known)})")
    values = {k: v for k, v in data.items() if k in known}
    for k, v in values.items():
        if isinstance(v, bool) or not isinstance(v, int | float) or v <= 0:
            problems.items.append(f"{where}.{k}: expected a positive number, got {v!r}")
    return cls(**values)


def parse_router_config(data: Any, source: str = "router.yaml") -> RouterConfig:
    """Validate a router config mapping; ConfigError lists every problem."""
    problems = _Problems()
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level")
    party_id = problems.need(data, "party_id", int, "")
    role = data.get("role", "party")
    if role not in ("party", "exchange"):
        problems.items.append(f"role: expected party or exchange, got {role!r}")
    listen = _endpoint(data.get("listen"), "listen", problems, with_id=False)
    tls = _tls(data.get("tls"), problems)
    routes: dict[int, Endpoint] = {}
    raw_routes = data.get("routes") or []
    if not isinstance(raw_routes, list):
        problems.items.append(f"routes: expected a list, got {raw_routes!r}")
        raw_routes = []
    for i, raw in enumerate(raw_routes):
        ep = _endpoint(raw, f"routes[{i}]", problems, with_id=True)
        if ep is not None and ep.party_id is not None:
            if ep.party_id in routes:
                problems.items.append(f"routes[{i}].party_id: {ep.party_id} is routed twice")
            routes[ep.party_id] = ep
    raw_default = data.get("default_route")
    default_route = None if raw_default is None else _endpoint(raw_default, "default_route", problems, False)
    data_dir = problems.need(data, "data_dir", str, "")
    interval = data.get("probe_interval", 5.0)
    if isinstance(interval, bool) or not isinstance(interval, int | float) or interval <= 0:
        problems.items.append(f"probe_interval: expected a positive number, got {interval!r}")
        interval = 5.0
    limits = _tuning(Limits, data.get("limits"), "limits", problems)
    retry = _tuning(Retry, data.get("retry"), "retry", problems)
    raw_metrics = data.get("metrics")
    metrics = None if raw_metrics is None else _endpoint(raw_metrics, "metrics", problems, False)
    if metrics is not None and listen is not None and metrics.port == listen.port != 0:
        problems.items.append("metrics: must listen on another port than listen (the peers' port)")
    if problems.items or listen is None or party_id is None or data_dir is None:
        raise ConfigError(f"{source} is invalid:\n  " + "\n  ".join(problems.items))
    return RouterConfig(
        party_id, role, listen, tls, routes, default_route, data_dir, limits, retry, float(interval), metrics
    )


def _tls(data: Any, problems: _Problems) -> TLSConfig:
    if data is None:
        problems.items.append("tls: missing (use {mode: none} to run without TLS)")
        return TLSConfig()
    if not isinstance(data, dict) or data.get("mode") not in ("none", "mutual"):
        problems.items.append(f"tls.mode: expected none or mutual, got {data!r}")
        return TLSConfig()
    if data["mode"] == "none":
        return TLSConfig()
    files = {k: problems.need(data, k, str, "tls.") for k in ("ca_file", "cert_file", "key_file")}
    for key, path in files.items():
        if path is not None and not Path(path).is_file():
            problems.items.append(f"tls.{key}: {path} does not exist")
    return TLSConfig("mutual", files["ca_file"] or "", files["cert_file"] or "", files["key_file"] or "")


def parse_tls(data: Any, source: str) -> TLSConfig:
    """The `tls` block of any engine config (flow.yaml uses the same shape)."""
    problems = _Problems()
    tls = _tls(data, problems)
    if problems.items:
        raise ConfigError(f"{source} is invalid:\n  " + "\n  ".join(problems.items))
    return tls


def read_yaml(path: str | Path) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"cannot read {path}: {err.strerror}") from None
    try:
        return YAML(typ="safe").load(text)
    except YAMLError as err:
        raise ConfigError(f"{path} is not valid YAML: {err}") from None


def load_router_config(path: str | Path) -> RouterConfig:
    return parse_router_config(read_yaml(path), str(path))
