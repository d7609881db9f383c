"""Load a federation spec: read (positions kept) -> schema -> cross-field rules -> frozen model.

Every problem is collected and raised at once as one SpecError whose problems
print as `FILE:LINE:COL dotted.path: message`.
"""

from __future__ import annotations

from pathlib import Path

from fatectl.errors import Problem, SpecError
from fatectl.spec.builder import build_federation
from fatectl.spec.document import Document, parse_document, read_document
from fatectl.spec.model import Federation
from fatectl.spec.rules import rule_problems
from fatectl.spec.schema import API_VERSION
from fatectl.spec.validation import schema_problems, with_defaults


def load_federation(path: str | Path) -> Federation:
    """The validated Federation in the spec file at path; SpecError listing every problem otherwise."""
    return _validated(read_document(path))


def load_federation_text(text: str, source: str) -> Federation:
    """The same for spec text not written yet (an edit is checked before it replaces the file)."""
    return _validated(parse_document(text, source))


def _validated(doc: Document) -> Federation:
    data = with_defaults(doc.data)
    problems = _dedupe([*schema_problems(doc, data), *rule_problems(doc, data)])
    if problems:
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        version = doc.data.get("apiVersion")
        hint = (f"; apiVersion {version!r} is not {API_VERSION!r}: `fatectl migrate {doc.file}` migrates older specs"
                if isinstance(version, str) and version != API_VERSION else "")
        raise SpecError(f"{doc.file}: invalid spec ({count}){hint}", problems)
    return build_federation(data, source=doc.file)


def validate_file(path: str | Path) -> Federation:
    """What `fatectl validate` runs: the same as load_federation (kept as the command's entry point)."""
    return load_federation(path)


def _dedupe(problems: list[Problem]) -> list[Problem]:
    unique = dict.fromkeys(problems)
    return sorted(unique, key=lambda p: (p.line or 0, p.column or 0, p.path or "", p.message))
