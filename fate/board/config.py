"""board.yaml, parsed once into a frozen object; every problem reported at once.

```yaml
party_id: 9999
listen: {host: 0.0.0.0, port: 8080}
flow: {host: bank-a-flow, port: 9380}
token_file: /run/secrets/flow_reader_token   # the flow's read-only credential
password_file: /run/secrets/board_password   # what a person logs in with (user admin)
```

The board never holds the flow's read-write token: what it reads with can only read, and
its login password opens nothing but the board.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fate.board.errors import ConfigError
from fate.federation.config import read_yaml
from fate.federation.transport import TransportError

MIN_TOKEN = 16


@dataclass(frozen=True)
class BoardConfig:
    party_id: int
    host: str
    port: int
    flow_host: str
    flow_port: int
    token_file: Path
    password_file: Path
    source: str = "board.yaml"

    @property
    def flow_url(self) -> str:
        host = f"[{self.flow_host}]" if ":" in self.flow_host else self.flow_host
        return f"http://{host}:{self.flow_port}"

    def read_token(self) -> str:
        """The flow's read-only credential the board reads with."""
        return self._read(self.token_file, "token_file")

    def read_password(self) -> str:
        """The board's own login password."""
        return self._read(self.password_file, "password_file")

    def _read(self, path: Path, key: str) -> str:
        try:
            token = path.read_text(encoding="utf-8").strip()
        except OSError as err:
            raise ConfigError(f"{self.source}: {key} {path}: {err.strerror}") from None
        if len(token) < MIN_TOKEN:
            what = "token" if key == "token_file" else "password"
            raise ConfigError(f"{self.source}: {key} {path} holds no usable {what} ({MIN_TOKEN}+ characters)")
        return token


# (path, kind) of every key; a port is an int in 1..65535.
FIELDS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("party_id",), "int"),
    (("listen", "host"), "str"),
    (("listen", "port"), "port"),
    (("flow", "host"), "str"),
    (("flow", "port"), "port"),
    (("token_file",), "str"),
    (("password_file",), "str"),
)
EXPECTED = {"int": "an integer", "port": "a port (1-65535)", "str": "a non-empty string"}


def _valid(value: Any, kind: str) -> bool:
    if kind == "str":
        return isinstance(value, str) and bool(value)
    if isinstance(value, bool) or not isinstance(value, int):
        return False
    return kind == "int" or 0 < value < 65536


def _lookup(data: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = data
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def parse_board_config(data: Any, source: str = "board.yaml") -> BoardConfig:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: expected a mapping, got {type(data).__name__}")
    values, problems = {}, []
    for path, kind in FIELDS:
        value = _lookup(data, path)
        if not _valid(value, kind):
            problems.append(f"{'.'.join(path)}: expected {EXPECTED[kind]}, got {value!r}")
        values[".".join(path)] = value
    known = {path[0] for path, _ in FIELDS}
    unknown = sorted(str(k) for k in data if k not in known)
    if unknown:
        problems.append(f"unknown keys: {', '.join(unknown)}")
    if problems:
        raise ConfigError(f"{source} is invalid", problems)
    return BoardConfig(
        party_id=values["party_id"],
        host=values["listen.host"],
        port=values["listen.port"],
        flow_host=values["flow.host"],
        flow_port=values["flow.port"],
        token_file=Path(values["token_file"]),
        password_file=Path(values["password_file"]),
        source=source,
    )


def load_board_config(path: str | Path) -> BoardConfig:
    try:
        data = read_yaml(path)
    except TransportError as err:  # the engine's shared YAML reader reports under its own root
        raise ConfigError(str(err)) from None
    return parse_board_config(data, str(path))
