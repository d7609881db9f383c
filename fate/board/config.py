"""board.yaml, parsed once into a frozen object; every problem reported at once.

```yaml
party_id: 9999
listen: {host: 0.0.0.0, port: 8080}
flow: {host: bank-a-flow, port: 9380}
token_file: /run/secrets/flow_token
```
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from fate.board.errors import ConfigError

MIN_TOKEN = 16


@dataclass(frozen=True)
class BoardConfig:
    party_id: int
    host: str
    port: int
    flow_host: str
    flow_port: int
    token_file: Path
    source: str = "board.yaml"

    @property
    def flow_url(self) -> str:
        host = f"[{self.flow_host}]" if ":" in self.flow_host else self.flow_host
        return f"http://{host}:{self.flow_port}"

    def read_token(self) -> str:
        try:
            token = self.token_file.read_text(encoding="utf-8").strip()
        except OSError as err:
            raise ConfigError(f"{self.source}: token_file {self.token_file}: {err.strerror}") from None
        if len(token) < MIN_TOKEN:
            raise ConfigError(
                f"{self.source}: token_file {self.token_file} holds no usable token ({MIN_TOKEN}+ characters)"
            )
        return token


def _int(data: Mapping[str, Any], key: str, where: str, problems: list[str], port: bool = False) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or (port and not 0 < value < 65536):
        expected = "a port (1-65535)" if port else "an integer"
        problems.append(f"{where}{key}: expected {expected}, got {value!r}")
        return 0
    return value


def _str(data: Mapping[str, Any], key: str, where: str, problems: list[str]) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        problems.append(f"{where}{key}: expected a non-empty string, got {value!r}")
        return ""
    return value


def _endpoint(data: Any, key: str, problems: list[str]) -> tuple[str, int]:
    if not isinstance(data, Mapping):
        problems.append(f"{key}: expected a mapping with host and port, got {data!r}")
        return "", 0
    return _str(data, "host", f"{key}.", problems), _int(data, "port", f"{key}.", problems, port=True)


def parse_board_config(data: Any, source: str = "board.yaml") -> BoardConfig:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: expected a mapping, got {type(data).__name__}")
    problems: list[str] = []
    party_id = _int(data, "party_id", "", problems)
    host, port = _endpoint(data.get("listen"), "listen", problems)
    flow_host, flow_port = _endpoint(data.get("flow"), "flow", problems)
    token_file = _str(data, "token_file", "", problems)
    unknown = sorted(str(k) for k in data if k not in ("party_id", "listen", "flow", "token_file"))
    if unknown:
        problems.append(f"unknown keys: {', '.join(unknown)}")
    if problems:
        raise ConfigError(f"{source} is invalid", problems)
    return BoardConfig(party_id, host, port, flow_host, flow_port, Path(token_file), source)


def load_board_config(path: str | Path) -> BoardConfig:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"{path}: {err.strerror}") from None
    try:
        data = YAML(typ="safe", pure=True).load(text)
    except YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    return parse_board_config(data, str(path))
