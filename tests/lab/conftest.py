"""The Docker fixtures of the e2e suite, shared with the lab contract suite's compose runs."""

from tests.e2e.conftest import docker_engine, engine_image

__all__ = ["docker_engine", "engine_image"]
