"""Build and list the engine image with the Docker SDK.

The build context is assembled in memory from compose/ (Dockerfile, entrypoint) and a
wheelhouse, so nothing but those files reaches the daemon and the build itself needs no
network. Images are labelled so `list_images` finds every engine build on the host.
"""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fatectl.docker.client import DockerClient, docker_client, has_image
from fatectl.docker.wheels import default_wheels_dir, prepare_wheels, source_root
from fatectl.errors import EnvironmentProblem
from fatectl.spec.model import Federation

DEFAULT_BASE_IMAGE = "python:3.11-slim"
# What compose/base-image.sh builds from Debian packages where no registry answers.
DEBIAN_BASE_IMAGE = "fatectl/base:bookworm"
ENGINE_LABEL = "io.fatectl.engine"
_CONTEXT_FILES = ("Dockerfile", "entrypoint.sh")

Progress = Callable[[str], None]


@dataclass(frozen=True)
class BuiltImage:
    ref: str
    image_id: str
    size_bytes: int
    base_image: str
    seconds: float


@dataclass(frozen=True)
class ImageInfo:
    ref: str
    image_id: str
    size_bytes: int
    created: str
    base_image: str


def resolve_base_image(client: DockerClient, requested: str | None, progress: Progress) -> str:
    """The base to build FROM: the requested one, else python:3.11-slim, else the Debian base.

    Only the requested (or default) image is ever pulled; the Debian base is used when it
    exists locally because it is what hosts without a registry have.
    """
    from docker.errors import APIError

    candidates = [requested] if requested else [DEFAULT_BASE_IMAGE, DEBIAN_BASE_IMAGE]
    for ref in candidates:
        if has_image(client, ref):
            return ref
    wanted = requested or DEFAULT_BASE_IMAGE
    progress(f"pulling base image {wanted}")
    try:
        client.images.pull(wanted)
    except APIError as err:
        hint = "" if requested else f"; on a host without a registry run compose/base-image.sh to build {DEBIAN_BASE_IMAGE}"
        raise EnvironmentProblem(f"base image {wanted} is not on this host and cannot be pulled ({err.explanation}){hint}") from err
    return wanted


def build_context(project_wheel: Path, dependencies: Iterable[Path], compose_dir: Path) -> bytes:
    """A tar of the Dockerfile, entrypoint and wheels/{deps,project}/, with fixed metadata so
    the layer cache holds."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        entries = [(name, compose_dir / name) for name in _CONTEXT_FILES]
        entries += sorted((f"wheels/deps/{w.name}", w) for w in dependencies)
        entries.append((f"wheels/project/{project_wheel.name}", project_wheel))
        for name, path in entries:
            data = path.read_bytes()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755 if name.endswith(".sh") else 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _follow_build(chunks: Iterator[dict[str, Any]], progress: Progress) -> str:
    """Relay the daemon's build output; return the image id or raise with the failing step."""
    image_id = ""
    recent: list[str] = []
    for chunk in chunks:
        if "error" in chunk:
            detail = "\n".join(recent[-15:])
            raise EnvironmentProblem(f"engine image build failed: {chunk['error'].strip()}\n{detail}".rstrip())
        text = (chunk.get("stream") or chunk.get("status") or "").rstrip()
        if text:
            recent.append(text)
            progress(text)
        aux = chunk.get("aux")
        if isinstance(aux, dict) and aux.get("ID"):
            image_id = aux["ID"]
    if not image_id:
        raise EnvironmentProblem("engine image build ended without an image id:\n" + "\n".join(recent[-15:]))
    return image_id


def build_image(
    fed: Federation,
    base_image: str | None = None,
    wheels_dir: Path | None = None,
    offline: bool = False,
    progress: Progress = lambda _: None,
    no_cache: bool = False,
) -> BuiltImage:
    """Build the engine image for `fed` and tag it `fed.engine.ref`."""
    started = time.monotonic()
    root = source_root()
    client = docker_client()
    base = resolve_base_image(client, base_image, progress)
    house_dir = wheels_dir or default_wheels_dir()
    progress(f"preparing wheels in {house_dir}")
    house = prepare_wheels(house_dir, offline=offline)
    context = build_context(house.project_wheel, house.wheels, root / "compose")
    progress(f"building {fed.engine.ref} from {base} ({len(context) // 1_000_000} MB context)")
    chunks = client.api.build(
        fileobj=io.BytesIO(context),
        custom_context=True,
        tag=fed.engine.ref,
        buildargs={"BASE_IMAGE": base, "ENGINE_VERSION": fed.engine.tag},
        labels={ENGINE_LABEL: "1", f"{ENGINE_LABEL}.base": base},
        rm=True,
        forcerm=True,
        pull=False,
        nocache=no_cache,
        decode=True,
    )
    image_id = _follow_build(chunks, progress)
    image = client.images.get(image_id)
    return BuiltImage(
        ref=fed.engine.ref,
        image_id=image.id,
        size_bytes=int(image.attrs.get("Size", 0)),
        base_image=base,
        seconds=time.monotonic() - started,
    )


def list_images() -> list[ImageInfo]:
    """Every engine image on the host (one row per tag), newest first."""
    client = docker_client()
    rows: list[ImageInfo] = []
    for image in client.images.list(filters={"label": ENGINE_LABEL}):
        labels = image.attrs.get("Config", {}).get("Labels") or {}
        for ref in image.tags or ["<untagged>"]:
            rows.append(
                ImageInfo(
                    ref=ref,
                    image_id=image.short_id.removeprefix("sha256:"),
                    size_bytes=int(image.attrs.get("Size", 0)),
                    created=str(image.attrs.get("Created", ""))[:19],
                    base_image=labels.get(f"{ENGINE_LABEL}.base", ""),
                )
            )
    return sorted(rows, key=lambda r: (r.created, r.ref), reverse=True)
