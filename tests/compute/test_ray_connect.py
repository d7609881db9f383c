"""Joining a Ray cluster: a transient refusal is tried again, a lasting one names the address.

The `ray` module is faked here (the boundary); the contract suite and tests/e2e/test_ray_lab.py join
real clusters.
"""

from __future__ import annotations

from typing import Any

import pytest

from fate.compute.contract import ComputeError
from fate.compute.ray import _connect


class FakeRay:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls: list[dict[str, Any]] = []
        self.shutdowns = 0
        self.connected = False

    def is_initialized(self) -> bool:
        return self.connected

    def init(self, **kwargs: Any) -> None:
        self.calls.append(kwargs)
        if len(self.calls) <= self.failures:
            raise ConnectionAbortedError("Starting Ray client server failed. See ray_client_server_23000.err")
        self.connected = True

    def shutdown(self) -> None:
        self.shutdowns += 1
        self.connected = False


def test_a_cluster_that_refuses_once_is_joined_on_the_next_try() -> None:
    ray = FakeRay(failures=2)
    assert _connect(ray, 2, "ray://bank-a-ray-head:10001", "", attempts=3, pause=0) is False
    assert [call["address"] for call in ray.calls] == ["ray://bank-a-ray-head:10001"] * 3
    assert ray.shutdowns == 2 and ray.connected  # each failed try was cleaned up, the last one kept


def test_a_cluster_that_keeps_refusing_fails_with_its_address_and_the_tries() -> None:
    ray = FakeRay(failures=99)
    with pytest.raises(ComputeError) as caught:
        _connect(ray, 2, "ray://bank-a-ray-head:10001", "", attempts=3, pause=0)
    assert "cannot start or reach Ray at ray://bank-a-ray-head:10001 (after 3 tries): ConnectionAbortedError" \
        in str(caught.value)
    assert len(ray.calls) == 3 and not ray.connected


def test_a_private_ray_that_cannot_start_is_not_tried_again() -> None:
    ray = FakeRay(failures=1)
    with pytest.raises(ComputeError, match=r"cannot start or reach Ray locally: ConnectionAbortedError"):
        _connect(ray, 2, "", "", attempts=3, pause=0)
    assert len(ray.calls) == 1


def test_a_process_already_joined_does_not_connect_again() -> None:
    ray = FakeRay(failures=0)
    ray.connected = True
    assert _connect(ray, 2, "ray://bank-a-ray-head:10001", "", pause=0) is False
    assert ray.calls == []
