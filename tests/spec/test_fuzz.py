"""Whatever bytes a spec file holds, loading gives a Federation or a SpecError, never another exception."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from fatectl.errors import SpecError
from fatectl.spec.loader import load_federation
from fatectl.spec.model import Federation
from fatectl.spec.schema import SCHEMA

from .cases import VALID, schema_fields
from .test_canonical import RICH

SEED = RICH.encode()
FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
YAMLISH = st.sampled_from(list(b" \t\n:-[]{},#&*!|>'\"%@`?0123456789aznull~.\x00\xff"))


def _load(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "spec.yaml"
        path.write_bytes(raw)
        try:
            assert isinstance(load_federation(path), Federation)
        except SpecError as err:
            assert err.problems, err
            assert all(p.file == str(path) for p in err.problems)


@FUZZ
@given(st.data())
def test_mutated_spec_never_crashes(data: st.DataObject) -> None:
    raw = bytearray(SEED)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(raw)))
        action = data.draw(st.sampled_from(["replace", "insert", "delete", "truncate"]))
        if action == "truncate":
            del raw[at:]
        elif action == "delete":
            del raw[at : at + data.draw(st.integers(1, 40))]
        elif action == "insert":
            raw[at:at] = bytes(data.draw(st.lists(YAMLISH, min_size=1, max_size=8)))
        elif at < len(raw):
            raw[at] = data.draw(YAMLISH)
    _load(bytes(raw))


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes_never_crash(raw: bytes) -> None:
    _load(raw)


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
    max_leaves=20,
)
FIELDS = schema_fields(SCHEMA)


@FUZZ
@given(st.sampled_from(FIELDS), JSONISH)
def test_any_value_in_any_field_never_crashes(field: str, value: object) -> None:
    # JSON is YAML, so the value can be pasted into a valid spec at the field's place.
    doc: dict[str, Any] = YAML(typ="safe", pure=True).load(VALID)
    target: Any = doc
    parts = field.replace("[]", ".[]").split(".")
    for part, after in zip(parts[:-1], parts[1:], strict=True):
        target = target[-1] if part == "[]" else target.setdefault(part, [{}] if after == "[]" else {})
    if parts[-1] != "[]" and isinstance(target, dict):
        target[parts[-1]] = value
    _load(json.dumps(doc).encode())
