"""Spec versions: `apiVersion` migrations, applied to the file with its comments kept.

A migration turns a spec of one apiVersion into the next; `migrate_file` chains them up
to the version this fatectl reads (fatectl.spec.schema.API_VERSION), validates the result
like any spec and only then writes it. fatectl/v1 is the first version, so the registry
starts empty: the mechanism is in place (and tested with a registry of its own) for the
day a field moves, as KubeFATE's did between releases.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fatectl.errors import SpecError
from fatectl.files import write_file
from fatectl.spec.edit import open_spec
from fatectl.spec.loader import load_federation_text
from fatectl.spec.model import Federation
from fatectl.spec.schema import API_VERSION

# A step edits the round-trip document in place and returns what it did, for the user.
Step = Callable[[Any], list[str]]


@dataclass(frozen=True)
class Migration:
    source: str  # apiVersion it reads
    target: str  # apiVersion it writes
    summary: str
    step: Step


# source apiVersion -> the migration that reads it
REGISTRY: dict[str, Migration] = {}


def register(migration: Migration, registry: dict[str, Migration] = REGISTRY) -> None:
    if migration.source in registry:
        raise ValueError(f"a migration from {migration.source} is already registered")
    registry[migration.source] = migration


def path_from(version: str, target: str = API_VERSION,
              registry: Mapping[str, Migration] = REGISTRY) -> list[Migration]:
    """The chain of migrations from version to target; SpecError when there is none."""
    chain: list[Migration] = []
    while version != target:
        step = registry.get(version)
        if step is None or step in chain:
            known = ", ".join(sorted({target, *registry})) or target
            raise SpecError(f"no migration from apiVersion {version!r} to {target!r} (this fatectl knows: {known})")
        chain.append(step)
        version = step.target
    return chain


@dataclass(frozen=True)
class Migrated:
    source: str
    target: str
    steps: tuple[str, ...]  # what each migration did
    diff: str
    federation: Federation | None  # None when nothing changed
    written: bool


def migrate_file(path: Path, target: str = API_VERSION, dry_run: bool = False,
                 registry: Mapping[str, Migration] = REGISTRY) -> Migrated:
    """Migrate the spec file at path to target in place (comments kept); validate before writing."""
    spec = open_spec(path)
    version = spec.data.get("apiVersion") if hasattr(spec.data, "get") else None
    if not isinstance(version, str):
        raise SpecError(f"{path}: the spec has no apiVersion to migrate from")
    chain = path_from(version, target, registry)
    if not chain:
        return Migrated(version, target, (), "", None, False)
    done: list[str] = []
    for migration in chain:
        notes = migration.step(spec.data)
        spec.data["apiVersion"] = migration.target
        done.append(f"{migration.source} -> {migration.target}: {migration.summary}"
                    + "".join(f"\n    {n}" for n in notes))
    text = spec.dump()
    diff = "".join(difflib.unified_diff(spec.original.splitlines(True), text.splitlines(True),
                                        f"{path} ({version})", f"{path} ({target})"))
    fed = None
    if target == API_VERSION:  # only the version this fatectl reads can be validated here
        try:
            fed = load_federation_text(text, str(path))
        except SpecError as err:
            raise SpecError(f"{path}: the migrated spec would be invalid; nothing was written", err.problems) from None
    if not dry_run:
        write_file(path, text, path.stat().st_mode & 0o777)
    return Migrated(version, target, tuple(done), diff, fed, not dry_run)
