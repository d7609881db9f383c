"""The one faked boundary of the bundle unit tests: the Docker engine as an image store.

tests/bundle/test_e2e.py runs the same bundle code against the real engine.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

from fatectl.docker.store import SavedImage, saved_image_id


def _config(ref: str) -> bytes:
    return json.dumps({"config": {"Cmd": ["true"], "Labels": {"ref": ref}}, "rootfs": {"type": "layers"}}).encode()


def _saved_archive(ref: str) -> bytes:
    """A small archive shaped like `docker save` output, identical on every call."""
    config = _config(ref)
    config_hex = hashlib.sha256(config).hexdigest()
    files = {
        f"{config_hex}.json": config,
        "manifest.json": json.dumps([{"Config": f"{config_hex}.json", "RepoTags": [ref], "Layers": []}]).encode(),
        "layer.bin": bytes(range(256)) * 64,  # 16 KiB of payload to tamper with
    }
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class FakeImages:
    """ImageStore stand-in: deterministic saves, recorded loads and pushes."""

    def __init__(self) -> None:
        self.loaded: list[bytes] = []
        self.pushed: list[tuple[str, str]] = []
        self.saves = 0

    def check(self) -> None:
        return None

    @staticmethod
    def image_id(ref: str) -> str:
        return "sha256:" + hashlib.sha256(_config(ref)).hexdigest()

    def describe(self, ref: str) -> SavedImage:
        return SavedImage(self.image_id(ref), (ref,), len(_saved_archive(ref)))

    def save(self, ref: str, dest: Path, advance=None) -> None:  # type: ignore[no-untyped-def]
        self.saves += 1
        data = _saved_archive(ref)
        dest.write_bytes(data)
        if advance is not None:
            advance(len(data))

    def load(self, archive: Path) -> tuple[str, ...]:
        self.loaded.append(archive.read_bytes())
        return (saved_image_id(archive),)

    def push(self, image_id: str, target: str) -> None:
        self.pushed.append((image_id, target))
