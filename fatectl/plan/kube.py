"""Kubernetes resources a `helm upgrade` of a rendered chart would change, per kind/name.

Both the chart on disk and the chart a render would write are rendered with the real Helm
library (helm-python-sdk, the optional `fatectl[helm]` extra), as `helm template` would,
and compared object by object. Without the library the plan stays at file level and says so.
Secret values are compared, never returned; a Secret annotated `helm.sh/resource-policy:
keep` (the flow tokens, random at every render and kept by `lookup` on upgrades) is compared
by its keys only.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from fatectl.files import write_tree
from fatectl.plan.model import ResourceChange

MAX_FIELDS = 6
NO_HELM = (
    "Kubernetes resources not compared: the Helm library is not installed "
    "(pip install 'fatectl[helm]'); the plan shows files only"
)
Key = tuple[str, str]


def helm_available() -> bool:
    try:
        import helm_python  # noqa: F401
    except ImportError:
        return False
    return True


def chart_objects(chart_dir: Path, values: Mapping[str, Any], release: str, namespace: str) -> dict[Key, Any]:
    """kind/name -> manifest of the chart in chart_dir, rendered for release in namespace."""
    import helm_python

    with helm_python.Chart.load(str(chart_dir)) as chart:
        rendered = chart.render(dict(values), name=release, namespace=namespace, is_upgrade=True)
    objects: dict[Key, Any] = {}
    for path in sorted(rendered):
        if path.endswith((".yaml", ".yml")):
            for doc in YAML(typ="safe", pure=True).load_all(rendered[path]):
                if isinstance(doc, dict) and "kind" in doc:
                    objects[(str(doc["kind"]), str(doc.get("metadata", {}).get("name", "")))] = doc
    return objects


def chart_objects_from_files(
    files: Mapping[str, str], values: Mapping[str, Any], release: str, namespace: str
) -> dict[Key, Any]:
    """The same for a chart not on disk yet: written to a private temporary directory first."""
    with tempfile.TemporaryDirectory(prefix="fatectl-plan-") as tmp:
        write_tree(Path(tmp) / "chart", files)
        return chart_objects(Path(tmp) / "chart", values, release, namespace)


def compare_objects(before: Mapping[Key, Any], after: Mapping[Key, Any]) -> list[ResourceChange]:
    changes: list[ResourceChange] = []
    for key in sorted(set(before) | set(after)):
        kind, name = key
        if key not in before:
            changes.append(ResourceChange(kind, name, "added"))
        elif key not in after:
            changes.append(ResourceChange(kind, name, "removed"))
        else:
            old, new = _comparable(before[key]), _comparable(after[key])
            if old != new:
                changes.append(ResourceChange(kind, name, "changed", _changed_fields(old, new)))
    return changes


def _comparable(doc: Any) -> Any:
    if doc.get("kind") != "Secret":
        return doc
    keep = (doc.get("metadata", {}).get("annotations") or {}).get("helm.sh/resource-policy") == "keep"
    data = doc.get("data") or {}
    # Values are compared as opaque equality only; a kept Secret's values are random per render.
    return {**doc, "data": {k: ("<kept>" if keep else _Opaque(v)) for k, v in data.items()}}


class _Opaque:
    """A secret value that compares by content but never prints it."""

    def __init__(self, value: Any) -> None:
        self._value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Opaque) and other._value == self._value

    def __hash__(self) -> int:
        return hash(str(self._value))

    def __repr__(self) -> str:
        return "<secret>"


def _changed_fields(old: Any, new: Any, prefix: str = "", depth: int = 0) -> tuple[str, ...]:
    if not (isinstance(old, dict) and isinstance(new, dict)) or depth >= 4:
        return (prefix or "(whole object)",)
    found: list[str] = []
    for key in sorted(set(old) | set(new), key=str):
        if old.get(key) != new.get(key):
            path = f"{prefix}.{key}" if prefix else str(key)
            found.extend(_changed_fields(old.get(key), new.get(key), path, depth + 1))
    if len(found) > MAX_FIELDS:
        return (*found[:MAX_FIELDS], f"... {len(found) - MAX_FIELDS} more")
    return tuple(found)
