"""One contract suite, run against every compute backend: local processes and a real Ray.

Ray is started in this process once per session (`ray.init(num_cpus=2)`); its actors are real
worker processes. Each backend here uses half a CPU per worker so that a test's own backend fits
beside the shared one on the session's two CPUs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from fate.compute.contract import ComputeBackend
from fate.compute.local import LocalBackend
from fate.crypto import paillier

ENGINES = ("local", "ray")
Factory = Callable[..., ComputeBackend]


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    ray = pytest.importorskip("ray", reason="the test extra installs ray; without it only the local backend runs")
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _factory(engine: str, request: pytest.FixtureRequest) -> Factory:
    if engine == "local":
        return lambda workers=2, **_kw: LocalBackend(workers)
    request.getfixturevalue("ray_session")
    from fate.compute.ray import RayBackend

    return lambda workers=2, **kw: RayBackend(workers, cpus_per_worker=0.5, **kw)


@pytest.fixture(scope="session", params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def make_backend(engine: str, request: pytest.FixtureRequest) -> Factory:
    """Builds a fresh backend of this engine (the test closes it)."""
    return _factory(engine, request)


@pytest.fixture(scope="session")
def backend(make_backend: Factory) -> Iterator[ComputeBackend]:
    """One two-worker backend per engine, shared by the tests that only compute."""
    with make_backend(2) as shared:
        yield shared


@pytest.fixture(scope="session")
def keys() -> tuple[paillier.PublicKey, paillier.PrivateKey]:
    return paillier.generate_keypair(1024, insecure=True)
