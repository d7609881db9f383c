"""The Docker engine as a store of images for offline bundles (Docker SDK).

`docker save` is streamed to a file chunk by chunk (engine images are hundreds of MB);
`docker load` streams the file back. The engine writes a saved archive's headers from
the image's own creation time, so saving the same image twice gives the same bytes.
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from fatectl.docker.client import DockerClient, docker_client
from fatectl.errors import BundleError

Advance = Callable[[int], None]


@dataclass(frozen=True)
class SavedImage:
    id: str
    tags: tuple[str, ...]
    approx_size: int


class ImageStore(Protocol):
    def check(self) -> None:
        """Raise EnvironmentProblem unless the store answers."""

    def describe(self, ref: str) -> SavedImage: ...

    def save(self, ref: str, dest: Path, advance: Advance | None = None) -> None: ...

    def load(self, archive: Path) -> tuple[str, ...]: ...

    def push(self, image_id: str, target: str) -> None: ...


class DockerImages:
    """ImageStore over the local Docker engine."""

    def __init__(self, client: DockerClient | None = None) -> None:
        self._client = client

    @property
    def client(self) -> DockerClient:
        if self._client is None:
            self._client = docker_client()
        return self._client

    def check(self) -> None:
        self.client  # noqa: B018 - connecting is the check

    def describe(self, ref: str) -> SavedImage:
        import docker

        try:
            image = self.client.images.get(ref)
        except docker.errors.ImageNotFound:
            raise BundleError(f"image {ref} is not in the local Docker engine; build it first (fatectl images build)") from None
        return SavedImage(image.id, tuple(sorted(image.tags)), int(image.attrs.get("Size", 0)))

    def save(self, ref: str, dest: Path, advance: Advance | None = None) -> None:
        import docker

        try:
            # Saving by the exact reference records only that tag, whatever else the image carries.
            chunks = self.client.api.get_image(ref)
            with open(dest, "wb") as out:
                for chunk in chunks:
                    out.write(chunk)
                    if advance is not None:
                        advance(len(chunk))
        except docker.errors.DockerException as err:
            raise BundleError(f"docker save {ref} failed: {err}") from None

    def load(self, archive: Path) -> tuple[str, ...]:
        import docker

        try:
            with open(archive, "rb") as f:
                images = self.client.images.load(f)
        except docker.errors.DockerException as err:
            raise BundleError(f"docker load {archive.name} failed: {err}") from None
        return tuple(image.id for image in images)

    def push(self, image_id: str, target: str) -> None:
        import docker

        repository, _, tag = target.rpartition(":")
        try:
            self.client.images.get(image_id).tag(repository, tag)
            for line in self.client.api.push(repository, tag=tag, stream=True, decode=True):
                if "error" in line:
                    raise BundleError(f"docker push {target} failed: {line['error']}")
        except docker.errors.DockerException as err:
            raise BundleError(f"docker push {target} failed: {err}") from None


def saved_image_id(archive: Path) -> str:
    """The image id (config digest) recorded in a `docker save` archive.

    Both layouts are read: the legacy `<hex>.json` and the OCI `blobs/sha256/<hex>`.
    """
    try:
        with tarfile.open(archive) as tar:
            member = tar.extractfile("manifest.json")
            entries = json.loads(member.read()) if member is not None else None
    except (tarfile.TarError, KeyError, ValueError, OSError) as err:
        raise BundleError(f"{archive.name} is not a docker save archive: {err}") from None
    if not isinstance(entries, list) or len(entries) != 1 or not isinstance(entries[0], dict):
        raise BundleError(f"{archive.name}: expected exactly one image in its manifest.json")
    config = str(entries[0].get("Config", ""))
    digest = config.removeprefix("blobs/sha256/").removesuffix(".json")
    return f"sha256:{digest}"
