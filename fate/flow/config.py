"""flow.yaml, parsed once into a frozen object; every problem reported at once."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from fate.compute.config import ComputeConfig, parse_compute
from fate.flow.errors import ConfigError
from fate.flow.policy import Policy, PolicyError, parse_policy

DEFAULT_MAX_UPLOAD = 1024 * 1024 * 1024


@dataclass(frozen=True)
class FlowConfig:
    party_id: int
    host: str
    port: int
    token_file: Path
    router_host: str
    router_port: int
    data_dir: Path
    tls: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({"mode": "none"}))
    # The store: empty = SQLite in data_dir; sqlite:///PATH; postgresql://USER@HOST:PORT/DB. A URL
    # with its password may instead come from the environment variable database_url_env names
    # (a Kubernetes Secret), so it never sits in a rendered config.
    database_url: str = ""
    database_url_env: str = ""
    database_password_file: Path | None = None
    # Parties that may propose jobs to us; the router's direct routes are added at start-up.
    peers: tuple[int, ...] = ()
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD
    reader_token_file: Path | None = None
    # The party's own job policy (fate.flow.policy); absent means the secure default.
    policy: Policy = field(default_factory=Policy)
    # Where this party's ciphertext work runs (fate.compute): local processes or its own Ray cluster.
    compute: ComputeConfig = field(default_factory=ComputeConfig)
    source: str = ""

    def read_token(self) -> str:
        return _read_secret(self.token_file, "token_file", self.source)

    def database(self) -> tuple[str, str | None]:
        """The store's URL and, when the config names a password file, its password."""
        url = self.database_url
        if self.database_url_env:
            url = os.environ.get(self.database_url_env, "")
            if not url:
                raise ConfigError(
                    f"{self.source}: database_url_env: environment variable {self.database_url_env} is not set"
                )
            problem = _database_url_problem(url, inline_password_ok=True)
            if problem:
                raise ConfigError(f"{self.source}: {self.database_url_env}: {problem}")
        if self.database_password_file is None:
            return url, None
        try:
            password = self.database_password_file.read_text(encoding="utf-8").strip()
        except OSError as err:
            where = f"{self.source}: database_password_file {self.database_password_file}"
            raise ConfigError(f"{where}: {err.strerror}") from None
        return url, password

    def read_reader_token(self) -> str | None:
        """The read-only credential (GET requests only), when the config names one."""
        if self.reader_token_file is None:
            return None
        return _read_secret(self.reader_token_file, "reader_token_file", self.source)


def _read_secret(path: Path, key: str, source: str) -> str:
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as err:
        raise ConfigError(f"{source}: {key} {path}: {err.strerror}") from None
    if len(token) < 16:
        raise ConfigError(f"{source}: {key} {path} holds no usable token (16+ characters)")
    return token


def _database_url_problem(url: str, inline_password_ok: bool = False) -> str:
    if not url or url.startswith("sqlite:///"):
        return ""
    if not url.startswith(("postgresql://", "postgres://")):
        return f"expected sqlite:///PATH, postgresql://USER@HOST:PORT/DB or empty (SQLite in data_dir), got {url!r}"
    if urlsplit(url).password is not None and not inline_password_ok:
        return ("the password must not be written into flow.yaml: use database_password_file, PGPASSWORD, "
                "or database_url_env")
    return ""


def _int(data: Mapping[str, Any], key: str, where: str, problems: list[str]) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        problems.append(f"{where}{key}: expected an integer, got {value!r}")
        return 0
    return value


def _str(data: Mapping[str, Any], key: str, where: str, problems: list[str], required: bool = True) -> str:
    value = data.get(key, None if required else "")
    if not isinstance(value, str) or (required and not value):
        problems.append(f"{where}{key}: expected a string, got {value!r}")
        return ""
    return value


def _endpoint(data: Any, key: str, problems: list[str]) -> tuple[str, int]:
    if not isinstance(data, Mapping):
        problems.append(f"{key}: expected a mapping with host and port, got {data!r}")
        return "", 0
    return _str(data, "host", f"{key}.", problems), _int(data, "port", f"{key}.", problems)


def parse_flow_config(data: Any, source: str = "flow.yaml") -> FlowConfig:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: expected a mapping")
    problems: list[str] = []
    party_id = _int(data, "party_id", "", problems)
    host, port = _endpoint(data.get("listen"), "listen", problems)
    router_host, router_port = _endpoint(data.get("router"), "router", problems)
    token_file = _str(data, "token_file", "", problems)
    reader_token_file = _str(data, "reader_token_file", "", problems, required=False)
    data_dir = _str(data, "data_dir", "", problems)
    database_url = _str(data, "database_url", "", problems, required=False)
    if _database_url_problem(database_url):
        problems.append(f"database_url: {_database_url_problem(database_url)}")
    database_url_env = _str(data, "database_url_env", "", problems, required=False)
    if database_url_env and database_url:
        problems.append("database_url_env: give database_url or database_url_env, not both")
    password_file = _str(data, "database_password_file", "", problems, required=False)
    tls = data.get("tls") or {"mode": "none"}
    if not isinstance(tls, Mapping) or tls.get("mode", "none") not in ("none", "mutual"):
        problems.append(
            f"tls: expected {{mode: none}} or {{mode: mutual, ca_file, cert_file, key_file}}, got {tls!r}"
        )
        tls = {"mode": "none"}
    elif tls.get("mode") == "mutual":
        for key in ("ca_file", "cert_file", "key_file"):
            _str(tls, key, "tls.", problems)
    peers = data.get("peers", [])
    if not isinstance(peers, list) or not all(isinstance(p, int) and not isinstance(p, bool) for p in peers):
        problems.append(f"peers: expected a list of party ids, got {peers!r}")
        peers = []
    max_upload = data.get("max_upload_bytes", DEFAULT_MAX_UPLOAD)
    if isinstance(max_upload, bool) or not isinstance(max_upload, int) or max_upload <= 0:
        problems.append(f"max_upload_bytes: expected a positive integer, got {max_upload!r}")
    policy = Policy()
    try:
        policy = parse_policy(data.get("policy"))
    except PolicyError as err:
        problems.extend(err.problems)
    compute, compute_problems = parse_compute(data.get("compute"))
    problems.extend(compute_problems)
    if problems:
        raise ConfigError(f"{source} is invalid", problems)
    return FlowConfig(
        party_id=party_id,
        host=host,
        port=port,
        token_file=Path(token_file),
        reader_token_file=Path(reader_token_file) if reader_token_file else None,
        router_host=router_host,
        router_port=router_port,
        data_dir=Path(data_dir),
        tls=MappingProxyType(dict(tls)),
        database_url=database_url,
        database_url_env=database_url_env,
        database_password_file=Path(password_file) if password_file else None,
        peers=tuple(sorted(set(peers) - {party_id})),
        max_upload_bytes=max_upload,
        policy=policy,
        compute=compute,
        source=source,
    )


def load_flow_config(path: str | Path) -> FlowConfig:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"{path}: {err.strerror}") from None
    try:
        data = YAML(typ="safe", pure=True).load(text)
    except YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    return parse_flow_config(data, str(path))
