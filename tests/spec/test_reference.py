"""docs/spec.md is generated from the schema; it must match what the code would write now."""

from __future__ import annotations

from pathlib import Path

from fatectl.spec.reference import reference_markdown
from fatectl.spec.rules import RULES
from fatectl.spec.schema import SCHEMA

from .cases import schema_fields

DOC = Path(__file__).resolve().parents[2] / "docs" / "spec.md"


def test_docs_spec_md_is_current() -> None:
    assert DOC.read_text(encoding="utf-8") == reference_markdown(), (
        "docs/spec.md is stale: python -m fatectl.spec.reference > docs/spec.md"
    )


def test_reference_documents_every_field_and_rule() -> None:
    text = reference_markdown()
    for path in schema_fields(SCHEMA):
        assert f"| `{path}` |" in text, path
    for rule in RULES:
        assert rule.__doc__, f"{rule.__name__} needs a docstring for the reference"
    assert "parties[].kubernetes.nodePorts.router` | integer | — | 30000–32767" in text
    assert "`parties[].router.port` | integer | `9370` | 1–65535" in text
