"""The one place that touches the Docker SDK's untyped objects.

The SDK ships no type information, so everything fatectl uses of it is described here
as Protocols; the rest of the code sees typed objects and fatectl errors only.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Mapping
from typing import IO, Any, Protocol, cast

from fatectl.errors import EnvironmentProblem


class Image(Protocol):
    id: str
    short_id: str
    tags: list[str]
    attrs: dict[str, Any]

    def tag(self, repository: str, tag: str | None = None) -> bool: ...


class Images(Protocol):
    def get(self, name: str) -> Image: ...

    def list(self, *, filters: Mapping[str, str] | None = None) -> builtins.list[Image]: ...

    def pull(self, repository: str, tag: str | None = None) -> Image: ...

    def load(self, data: IO[bytes]) -> builtins.list[Image]: ...


class Container(Protocol):
    name: str
    status: str
    labels: dict[str, str]
    attrs: dict[str, Any]
    ports: dict[str, Any]

    def logs(self, *, tail: int | str = "all") -> bytes: ...


class Containers(Protocol):
    def list(self, *, all: bool = False, filters: Mapping[str, str] | None = None) -> builtins.list[Container]: ...


class Api(Protocol):
    def build(self, **kwargs: Any) -> Iterator[dict[str, Any]]: ...

    def get_image(self, image: str) -> Iterator[bytes]: ...

    def push(self, repository: str, **kwargs: Any) -> Iterator[dict[str, Any]]: ...


class DockerClient(Protocol):
    images: Images
    containers: Containers
    api: Api

    def ping(self) -> bool: ...

    def version(self) -> dict[str, Any]: ...

    def info(self) -> dict[str, Any]: ...


def docker_client() -> DockerClient:
    """A client of the local Docker engine, or a clear error saying how to get one."""
    import docker
    from docker.errors import DockerException

    try:
        client = docker.from_env(timeout=300)
        client.ping()
    except DockerException as err:
        raise EnvironmentProblem(
            f"no Docker engine answers ({err}); start one with scripts/ensure-docker.sh"
        ) from err
    return cast(DockerClient, client)


def engine_lost(err: BaseException) -> EnvironmentProblem | None:
    """The error a user gets when the Docker engine fails in the middle of a command, else None.

    The SDK raises its own exceptions (or requests' connection errors under them) from any call;
    catching them at every call site would miss one, so the CLI's one handler asks here.
    """
    try:
        from docker.errors import DockerException
        from requests.exceptions import ConnectionError as EngineGone
    except ImportError:  # pragma: no cover - both come with the docker package we depend on
        return None
    if not isinstance(err, (DockerException, EngineGone)):
        return None
    detail = str(err).strip().splitlines()[0][:300] if str(err).strip() else type(err).__name__
    return EnvironmentProblem(
        f"the Docker engine failed during the command ({detail}); check it with `docker info` "
        "(scripts/ensure-docker.sh starts one) and run the command again"
    )


def has_image(client: DockerClient, ref: str) -> bool:
    from docker.errors import ImageNotFound

    try:
        client.images.get(ref)
    except ImageNotFound:
        return False
    return True
