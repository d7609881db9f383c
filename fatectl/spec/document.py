"""Read a spec file into plain data plus the line/column of every key and value.

Everything a user can get wrong before the schema even applies (missing file,
binary garbage, tabs, YAML syntax, duplicate keys, absurd nesting or numbers)
becomes a located Problem here, never an exception escaping to the user.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML, events
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.scalarbool import ScalarBoolean

from fatectl.errors import Problem, SpecError

MAX_BYTES = 1024 * 1024  # a 1000-party spec is ~300 KiB; anything larger is a mistake
MAX_DEPTH = 32  # the schema nests 7 deep; the rest is headroom for affinity terms
MAX_NODES = 200_000  # bounds alias expansion ("billion laughs")
MAX_INT_DIGITS = 30
_STANDARD_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "map", "seq")}
_INT_LIKE = re.compile(r"[-+]?(0x[0-9a-fA-F_]+|0o[0-7_]+|0b[01_]+|[0-9_]+)")

PathKey = tuple[str | int, ...]
Position = tuple[int, int]  # 1-based line, column


def dotted(path: PathKey) -> str:
    """parties[1].router.port; odd keys (labels with dots or slashes) as ["key"]."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", part):
            out += f".{part}" if out else part
        else:
            out += f'["{part}"]'
    return out


@dataclass(frozen=True)
class Document:
    """A parsed spec: plain dict data and where each piece came from."""

    file: str
    data: dict[str, Any]
    values: dict[PathKey, Position]  # where each value starts
    keys: dict[PathKey, Position]  # where each mapping key starts

    def locate(self, path: PathKey, *, key: bool = False) -> Position:
        """Position of path (its key when key=True), else of its nearest located ancestor."""
        if key and path in self.keys:
            return self.keys[path]
        probe = path
        while probe:
            if probe in self.values:
                return self.values[probe]
            probe = probe[:-1]
        return (1, 1)

    def problem(self, path: PathKey, message: str, *, key: bool = False) -> Problem:
        line, column = self.locate(path, key=key)
        return Problem(message, self.file, line, column, dotted(path) or None)


def read_document(path: str | Path) -> Document:
    """Read and parse a spec file; raise SpecError describing exactly what is wrong."""
    name = str(path)
    return parse_document(_read_text(Path(path), name), name)


def parse_document(text: str, name: str) -> Document:
    """Parse spec text (e.g. an edit not written yet) as if it were the file `name`."""
    problems = [*_tab_problems(text, name), *_event_problems(text, name)]
    if problems:
        raise SpecError(f"{name}: cannot read the spec", problems)
    try:
        root = YAML(typ="rt").load(text)
    except MarkedYAMLError as err:
        raise SpecError(f"{name}: invalid YAML", [_yaml_problem(err, name)]) from None
    except (YAMLError, ValueError, RecursionError) as err:
        raise SpecError(f"{name}: invalid YAML", [Problem(str(err).strip(), name)]) from None
    if root is None:
        raise SpecError(f"{name}: the spec is empty", [Problem("the spec is empty; see examples/", name, 1, 1)])
    if not isinstance(root, CommentedMap):
        kind = "a list" if isinstance(root, list) else f"the single value {str(root)[:40]!r}"
        raise SpecError(
            f"{name}: not a spec",
            [Problem(f"the top level must be a mapping (apiVersion, name, parties, ...), got {kind}", name, 1, 1)],
        )
    builder = _Builder(name)
    data = builder.convert(root, ())
    if builder.problems:
        raise SpecError(f"{name}: unsupported YAML content", builder.problems)
    return Document(name, data, builder.values, builder.keys)


def _read_text(path: Path, name: str) -> str:
    try:
        if path.is_dir():
            raise SpecError(f"{name} is a directory, not a spec file", [Problem("is a directory, not a file", name)])
        # Read at most one byte past the limit: the path may be a pipe or a device that never ends.
        with path.open("rb") as stream:
            raw = stream.read(MAX_BYTES + 1)
        if len(raw) > MAX_BYTES:
            raise SpecError(f"{name} is too large", [Problem(f"specs are limited to {MAX_BYTES} bytes", name)])
    except FileNotFoundError:
        raise SpecError(f"{name}: no such file", [Problem("no such file", name)]) from None
    except OSError as err:
        raise SpecError(f"{name}: cannot read", [Problem(err.strerror or str(err), name)]) from None
    if b"\x00" in raw:
        line = raw[: raw.index(b"\x00")].count(b"\n") + 1
        raise SpecError(f"{name} is not a text file", [Problem("binary content (NUL byte); not a YAML spec", name, line)])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        column = err.start - (raw.rfind(b"\n", 0, err.start) + 1) + 1
        raise SpecError(
            f"{name} is not UTF-8", [Problem(f"invalid UTF-8 byte 0x{raw[err.start]:02x}", name, line, column)]
        ) from None
    return text.removeprefix("\ufeff")


def _tab_problems(text: str, name: str) -> Iterator[Problem]:
    for number, line in enumerate(text.splitlines(), 1):
        indent = line[: len(line) - len(line.lstrip(" \t"))]
        if "\t" in indent and line.strip() and not line.lstrip().startswith("#"):
            yield Problem("tab used for indentation; YAML needs spaces", name, number, indent.index("\t") + 1)


def _event_problems(text: str, name: str) -> list[Problem]:
    """Walk the event stream (iterative, cheap) to refuse what would blow up construction."""
    problems: list[Problem] = []
    depth = 0
    try:
        for event in YAML(typ="rt").parse(text):
            mark = event.start_mark
            where = (name, mark.line + 1, mark.column + 1)
            if isinstance(event, events.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    return [Problem(f"nesting deeper than {MAX_DEPTH} levels", *where)]
            elif isinstance(event, events.CollectionEndEvent):
                depth -= 1
            tag = getattr(event, "tag", None)
            if tag is not None and str(tag) not in _STANDARD_TAGS and str(tag) not in {"!", "?"}:
                problems.append(Problem(f"unsupported YAML tag {tag}", *where))
            if isinstance(event, events.ScalarEvent) and event.style is None and _INT_LIKE.fullmatch(event.value):
                digits = sum(c.isalnum() for c in event.value)
                if digits > MAX_INT_DIGITS:
                    problems.append(Problem(f"number too large ({digits} digits)", *where))
    except MarkedYAMLError as err:
        problems.append(_yaml_problem(err, name))
    except YAMLError as err:
        problems.append(Problem(str(err).strip(), name))
    return problems


def _yaml_problem(err: MarkedYAMLError, name: str) -> Problem:
    mark = err.problem_mark or err.context_mark
    message = " ".join(p for p in (err.problem, err.context) if p) or "invalid YAML"
    if err.context_mark is not None and err.problem_mark is not None and "duplicate key" in message:
        message = f"{err.problem} (first defined on line {err.context_mark.line + 1})"
        message = message.replace("found duplicate", "duplicate")
    if mark is None:
        return Problem(message, name)
    return Problem(message, name, mark.line + 1, mark.column + 1)


class _Builder:
    """Converts ruamel's round-trip nodes to plain data, recording positions as it goes."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.values: dict[PathKey, Position] = {}
        self.keys: dict[PathKey, Position] = {}
        self.problems: list[Problem] = []
        self._nodes = 0

    def convert(self, node: Any, path: PathKey) -> Any:
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise SpecError(
                f"{self.file}: too large once aliases are expanded",
                [Problem(f"more than {MAX_NODES} values after expanding aliases", self.file, 1, 1)],
            )
        # ruamel already breaks recursive aliases (the inner reference loads as null).
        if isinstance(node, CommentedMap):
            return self._mapping(node, path)
        if isinstance(node, CommentedSeq):
            return self._sequence(node, path)
        return _scalar(node)

    def _mapping(self, node: CommentedMap, path: PathKey) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        base = (node.lc.line + 1, node.lc.col + 1)
        for key in node:
            where = node.lc.data.get(key)
            key_pos = (where[0] + 1, where[1] + 1) if where else base
            value_pos = (where[2] + 1, where[3] + 1) if where else base
            if not isinstance(key, str | int) or isinstance(key, bool):
                self.problems.append(Problem("mapping keys must be plain strings", self.file, *key_pos, dotted(path)))
                continue
            child = (*path, key)
            self.keys[child] = key_pos
            self.values[child] = value_pos
            out[str(key) if isinstance(key, str) else int(key)] = self.convert(node[key], child)
        return out

    def _sequence(self, node: CommentedSeq, path: PathKey) -> list[Any]:
        out = []
        for index, item in enumerate(node):
            where = node.lc.data.get(index)
            if where:
                self.values[(*path, index)] = (where[0] + 1, where[1] + 1)
            out.append(self.convert(item, (*path, index)))
        return out


def _scalar(node: Any) -> Any:
    # ruamel's round-trip scalars subclass the builtins; hand on the builtins.
    if node is None or isinstance(node, bool):
        return node
    if isinstance(node, ScalarBoolean):
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return str(node)
