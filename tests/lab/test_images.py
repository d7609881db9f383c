"""Engine image build inputs: the build context, the base image choice, the entrypoint."""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

import pytest
from docker.errors import APIError, ImageNotFound

from fatectl.docker import build as images
from fatectl.docker.wheels import _platform_args, source_root
from fatectl.errors import EnvironmentProblem

COMPOSE = source_root() / "compose"


def test_build_context_is_deterministic_and_holds_only_what_the_dockerfile_copies(tmp_path: Path) -> None:
    project = tmp_path / "fatectl-0.1.0-py3-none-any.whl"
    deps = [tmp_path / "b-1.0-py3-none-any.whl", tmp_path / "a-1.0-py3-none-any.whl"]
    for w in [project, *deps]:
        w.write_bytes(w.name.encode())
    first = images.build_context(project, deps, COMPOSE)
    assert images.build_context(project, list(reversed(deps)), COMPOSE) == first
    with tarfile.open(fileobj=io.BytesIO(first)) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert list(members) == [
        "Dockerfile",
        "entrypoint.sh",
        "wheels/deps/a-1.0-py3-none-any.whl",
        "wheels/deps/b-1.0-py3-none-any.whl",
        "wheels/project/fatectl-0.1.0-py3-none-any.whl",
    ]
    assert members["entrypoint.sh"].mode == 0o755
    assert {m.mtime for m in members.values()} == {0}


def test_dockerfile_installs_only_from_wheels_as_a_non_root_user() -> None:
    text = (COMPOSE / "Dockerfile").read_text()
    assert "ARG BASE_IMAGE=python:3.11-slim" in text
    assert text.count("pip install --no-index") == 2
    assert "USER 10001:10001" in text
    assert "HEALTHCHECK" in text


def test_wheels_are_fetched_for_the_images_python_not_ours() -> None:
    args = _platform_args()
    assert args[args.index("--python-version") + 1] == "3.11"
    assert "cp311" in args and "--only-binary=:all:" in args


class _Images:
    def __init__(self, present: set[str], pullable: set[str]) -> None:
        self.present, self.pullable, self.pulled = present, pullable, []

    def get(self, ref: str) -> object:
        if ref not in self.present:
            raise ImageNotFound(ref)
        return object()

    def pull(self, ref: str) -> None:
        self.pulled.append(ref)
        if ref not in self.pullable:
            raise APIError("pull access denied", explanation="no registry")
        self.present.add(ref)


class _Client:
    def __init__(self, present: set[str], pullable: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.images = _Images(set(present), set(pullable))


def test_base_image_prefers_python_slim_then_the_debian_base_and_pulls_only_what_was_asked() -> None:
    both = _Client({images.DEFAULT_BASE_IMAGE, images.DEBIAN_BASE_IMAGE})
    assert images.resolve_base_image(both, None, print) == images.DEFAULT_BASE_IMAGE
    debian = _Client({images.DEBIAN_BASE_IMAGE})
    assert images.resolve_base_image(debian, None, print) == images.DEBIAN_BASE_IMAGE
    assert debian.images.pulled == []
    nothing = _Client(set())
    with pytest.raises(EnvironmentProblem, match="compose/base-image.sh"):
        images.resolve_base_image(nothing, None, print)
    assert nothing.images.pulled == [images.DEFAULT_BASE_IMAGE]
    asked = _Client(set(), {"registry.local/python:3.11"})
    assert images.resolve_base_image(asked, "registry.local/python:3.11", print) == "registry.local/python:3.11"


def test_entrypoint_runs_fate_roles_and_passes_other_commands_through(tmp_path: Path) -> None:
    entry = str(COMPOSE / "entrypoint.sh")
    echoed = subprocess.run(["sh", entry, "echo", "plain"], capture_output=True, text=True, check=True)
    assert echoed.stdout == "plain\n"
    usage = subprocess.run(["sh", entry, "python", "-m", "fate", "--help"], capture_output=True, text=True)
    assert usage.returncode == 0 and "router" in usage.stdout
    missing = subprocess.run(["sh", entry, "healthcheck"], capture_output=True, env={"PATH": "/usr/bin:/bin"})
    assert missing.returncode == 1  # nothing started yet, so unhealthy
