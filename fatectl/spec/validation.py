"""Schema validation: fill static defaults, run Cerberus, turn its errors into located Problems."""

from __future__ import annotations

import copy
import difflib
from collections.abc import Iterator
from typing import Any

from cerberus import Validator, errors
from cerberus.errors import ValidationError
from cerberus.platform import _int_types
from cerberus.validator import TypeDefinition

from fatectl.errors import Problem
from fatectl.spec.document import Document, PathKey
from fatectl.spec.schema import PATTERNS, SCHEMA


class _Validator(Validator):  # type: ignore[misc]  # cerberus ships no types
    # YAML `port: true` must not pass as the integer 1.
    types_mapping = {
        **Validator.types_mapping,
        "integer": TypeDefinition("integer", _int_types, (bool,)),
        "float": TypeDefinition("float", (float, *_int_types), (bool,)),
    }


def with_defaults(data: Any, schema: dict[str, Any] = SCHEMA) -> Any:
    """A copy of data with every absent field that has a static default filled in, recursively.

    A section written but left empty (`router:` with nothing under it) counts as absent.
    Values of the wrong type are left alone for the schema to report.
    """
    if not isinstance(data, dict):
        return data
    out = dict(data)
    for key, rule in schema.items():
        if (key not in out or (out[key] is None and rule.get("type") in ("dict", "list"))) and "default" in rule:
            out[key] = copy.deepcopy(rule["default"])
        if key not in out:
            continue
        if rule.get("type") == "dict" and isinstance(rule.get("schema"), dict):
            out[key] = with_defaults(out[key], rule["schema"])
        elif rule.get("type") == "list" and isinstance(out[key], list):
            item = rule.get("schema", {})
            if item.get("type") == "dict" and isinstance(item.get("schema"), dict):
                out[key] = [with_defaults(v, item["schema"]) for v in out[key]]
    return out


def schema_problems(doc: Document, data: dict[str, Any]) -> list[Problem]:
    """Every schema violation of data (the defaulted doc.data), located in doc's file."""
    validator = _Validator(SCHEMA)
    validator.allow_unknown = False
    validator.validate(data, normalize=False)
    return [_problem(doc, error) for error in _leaves(validator._errors)]


def _leaves(errs: Any) -> Iterator[ValidationError]:
    for error in errs:
        if error.is_group_error:
            yield from _leaves(error.child_errors)
        else:
            yield error


def _problem(doc: Document, error: ValidationError) -> Problem:
    path: PathKey = tuple(error.document_path)
    code = error.code
    if code == errors.UNKNOWN_FIELD.code:
        return doc.problem(path, _unknown_message(path), key=True)
    if code == errors.REQUIRED_FIELD.code:
        return doc.problem(path, "required field is missing")
    return doc.problem(path, _message(error))


def _unknown_message(path: PathKey) -> str:
    known = sorted(_schema_at(path[:-1]))
    key = str(path[-1])
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if not close:
        close = [k for k in known if k.lower() == key.lower()]
    hint = f"; did you mean '{close[0]}'?" if close else f"; known fields: {', '.join(known)}"
    return f"unknown field '{key}'{hint}"


def _schema_at(path: PathKey) -> dict[str, Any]:
    """The mapping schema that applies to the mapping at path."""
    schema: dict[str, Any] = SCHEMA
    for part in path:
        rule = schema.get(part, {}) if isinstance(part, str) else {}
        if isinstance(part, int):
            continue
        inner = rule.get("schema", {})
        if rule.get("type") == "list":
            inner = inner.get("schema", {})
        schema = inner
    return schema


_TYPE_WORDS = {
    "integer": "an integer",
    "string": "a string",
    "boolean": "true or false",
    "dict": "a mapping",
    "list": "a list",
    "float": "a number",
}


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    kind = {bool: "boolean", int: "integer", float: "number", str: "string", dict: "mapping", list: "list"}
    name = kind.get(type(value), type(value).__name__)
    return f"{name} {value!r}" if isinstance(value, bool | int | float | str) else name


def _message(error: ValidationError) -> str:
    code, constraint, value = error.code, error.constraint, error.value
    if code == errors.BAD_TYPE.code:
        wanted = constraint if isinstance(constraint, list) else [constraint]
        words = " or ".join(_TYPE_WORDS.get(str(t), str(t)) for t in wanted)
        hint = " (quote it)" if "string" in wanted and isinstance(value, int | float) else ""
        return f"must be {words}, got {_describe(value)}{hint}"
    if code == errors.NOT_NULLABLE.code:
        return "must not be empty (null)"
    if code == errors.MIN_VALUE.code:
        return f"min value is {constraint}"
    if code == errors.MAX_VALUE.code:
        return f"max value is {constraint}"
    if code == errors.MIN_LENGTH.code:
        return f"needs at least {constraint} {'characters' if isinstance(value, str) else 'items'}"
    if code == errors.MAX_LENGTH.code:
        return f"at most {constraint} {'characters' if isinstance(value, str) else 'items'} allowed"
    if code == errors.UNALLOWED_VALUE.code:
        choices = [str(c) for c in constraint]
        close = difflib.get_close_matches(str(value), choices, n=1, cutoff=0.5)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        return f"unallowed value {value!r}, must be one of: {', '.join(choices)}{hint}"
    if code == errors.REGEX_MISMATCH.code:
        # An optional field's pattern is "(P)?": say what P means, and that empty is allowed too.
        inner = constraint[1:-2] if constraint.startswith("(") and constraint.endswith(")?") else None
        if inner in PATTERNS and constraint not in PATTERNS:
            return f"{value!r} is not {PATTERNS[inner]}, or empty"
        return f"{value!r} is not {PATTERNS.get(constraint, 'in the expected format')}"
    if code == errors.BAD_TYPE_FOR_SCHEMA.code:
        return f"must be a mapping, got {_describe(value)}"
    message: str = errors.BasicErrorHandler.messages.get(code, "invalid value")
    try:
        return message.format(*error.info, constraint=constraint, field=error.field, value=value)
    except (IndexError, KeyError):
        return message
