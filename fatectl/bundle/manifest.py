"""The manifest of an offline bundle: what it must hold, byte for byte.

`manifest.json` lists every other member (sha256 and size), every image (id and tags,
and the member holding its `docker save` archive), the fatectl and engine versions and
the party scope. It is serialized with sorted keys so that it, and therefore its
signature, is deterministic.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from fatectl.errors import BundleError, Problem

FORMAT = "fatectl-bundle/v1"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
MAX_MANIFEST_BYTES = 16 * 1024 * 1024  # a manifest lists files; anything bigger is not one

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_IMAGE_ID = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class FileEntry:
    sha256: str
    size: int


@dataclass(frozen=True)
class ImageEntry:
    file: str  # bundle member holding the `docker save` archive
    id: str  # sha256:<hex> image id (config digest)
    tags: tuple[str, ...]


@dataclass(frozen=True)
class Manifest:
    federation: str
    party: int | None  # None: the whole federation
    fatectl_version: str
    engine_version: str
    files: Mapping[str, FileEntry]
    images: tuple[ImageEntry, ...]
    signed: bool = False  # set by verification, never serialized

    def to_json(self) -> bytes:
        doc = {
            "format": FORMAT,
            "federation": self.federation,
            "party": self.party,
            "versions": {"fatectl": self.fatectl_version, "engine": self.engine_version},
            "files": {name: {"sha256": e.sha256, "size": e.size} for name, e in sorted(self.files.items())},
            "images": [{"file": i.file, "id": i.id, "tags": list(i.tags)} for i in self.images],
        }
        return (json.dumps(doc, sort_keys=True, indent=2) + "\n").encode("utf-8")

    @property
    def total_size(self) -> int:
        return sum(e.size for e in self.files.values())


def parse_manifest(data: bytes) -> Manifest:
    """Parse and check manifest.json; every structural problem is reported at once."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BundleError(f"{MANIFEST} is not valid JSON: {err}") from None
    if not isinstance(doc, dict):
        raise BundleError(f"{MANIFEST} must be a JSON object")
    problems: list[Problem] = []

    def bad(path: str, message: str) -> None:
        problems.append(Problem(message, file=MANIFEST, path=path))

    if doc.get("format") != FORMAT:
        bad("format", f"expected {FORMAT!r}, found {doc.get('format')!r}")
    federation = _typed(doc, "federation", str, bad)
    party = doc.get("party")
    if party is not None and (not isinstance(party, int) or isinstance(party, bool)):
        bad("party", "must be a party id or null")
    versions = _typed(doc, "versions", dict, bad) or {}
    files = _parse_files(_typed(doc, "files", dict, bad) or {}, bad)
    images = _parse_images(_typed(doc, "images", list, bad) or [], files, bad)
    for name in (MANIFEST, SIGNATURE):
        if name in files:
            bad(f"files.{name}", "the manifest cannot list itself or its signature")
    if problems:
        raise BundleError(f"{MANIFEST} is malformed", problems)
    return Manifest(
        federation=str(federation),
        party=party,
        fatectl_version=str(versions.get("fatectl", "")),
        engine_version=str(versions.get("engine", "")),
        files=MappingProxyType(files),
        images=images,
    )


def _typed(doc: Mapping[str, Any], key: str, kind: type, bad: Any) -> Any:
    value = doc.get(key)
    if not isinstance(value, kind):
        bad(key, f"must be a {kind.__name__}, found {type(value).__name__}")
        return None
    return value


def _parse_files(raw: Mapping[str, Any], bad: Any) -> dict[str, FileEntry]:
    files: dict[str, FileEntry] = {}
    for name, entry in raw.items():
        sha = entry.get("sha256") if isinstance(entry, dict) else None
        size = entry.get("size") if isinstance(entry, dict) else None
        if not isinstance(sha, str) or not _SHA256.match(sha):
            bad(f"files.{name}.sha256", "must be 64 lowercase hex digits")
        elif not isinstance(size, int) or isinstance(size, bool) or size < 0:
            bad(f"files.{name}.size", "must be a non-negative integer")
        else:
            files[name] = FileEntry(sha, size)
    return files


def _parse_images(raw: list[Any], files: Mapping[str, FileEntry], bad: Any) -> tuple[ImageEntry, ...]:
    images: list[ImageEntry] = []
    for i, entry in enumerate(raw):
        if not isinstance(entry, dict):
            bad(f"images[{i}]", "must be an object")
            continue
        file, image_id, tags = entry.get("file"), entry.get("id"), entry.get("tags")
        if not isinstance(file, str) or file not in files:
            bad(f"images[{i}].file", f"{file!r} is not a file listed in the manifest")
        elif not isinstance(image_id, str) or not _IMAGE_ID.match(image_id):
            bad(f"images[{i}].id", "must be sha256:<64 hex digits>")
        elif not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            bad(f"images[{i}].tags", "must be a list of strings")
        else:
            images.append(ImageEntry(file, image_id, tuple(tags)))
    return tuple(images)
