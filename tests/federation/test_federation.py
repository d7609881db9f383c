"""Role-addressed messaging over the in-memory hub."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from fate.federation.federation import Federation, FederationError
from fate.federation.memory import MemoryHub
from fate.federation.transport import TransportError

ROLES = {"guest": [9999], "host": [10000, 10001], "arbiter": [9999]}


def _feds(hub: MemoryHub, job: str = "job1") -> dict[str, Federation]:
    return {
        "guest": Federation(hub.transport(9999), job, ROLES, "guest"),
        "arbiter": Federation(hub.transport(9999), job, ROLES, "arbiter"),
        "host0": Federation(hub.transport(10000), job, ROLES, "host"),
        "host1": Federation(hub.transport(10001), job, ROLES, "host"),
    }


def test_remote_to_a_role_reaches_every_party_and_get_returns_role_order() -> None:
    feds = _feds(MemoryHub())
    feds["guest"].remote(np.arange(3.0), "d.iter0", "host")
    for name in ("host0", "host1"):
        np.testing.assert_array_equal(feds[name].get("d.iter0", "guest"), np.arange(3.0))
    feds["host1"].remote("from 10001", "g", "guest")
    feds["host0"].remote("from 10000", "g", "guest")
    assert feds["guest"].get("g", "host") == ["from 10000", "from 10001"]


def test_roles_on_one_party_do_not_mix() -> None:
    feds = _feds(MemoryHub())
    feds["guest"].remote({"to": "arbiter"}, "t", "arbiter")
    feds["host0"].remote({"to": "guest"}, "t", "guest")
    assert feds["arbiter"].get("t", "guest") == {"to": "arbiter"}
    assert feds["guest"].get("t", "host", party_id=10000) == {"to": "guest"}


def test_on_wire_sees_every_payload_crossing_a_party() -> None:
    seen: list[tuple[str, str, int, int, int]] = []
    hub = MemoryHub(on_wire=lambda job, tag, src, dst, data: seen.append((job, tag, src, dst, len(data))))
    hub.transport(10000), hub.transport(10001)
    own: list[str] = []
    guest = Federation(hub.transport(9999), "j", ROLES, "guest", on_wire=lambda *a: own.append(a[1]))
    guest.remote([1, 2], "x", "host")
    assert [(s[1], s[2], s[3]) for s in seen] == [("x|guest>host", 9999, 10000), ("x|guest>host", 9999, 10001)]
    assert own == ["x|guest>host", "x|guest>host"]


def test_get_times_out_with_transport_error() -> None:
    feds = _feds(MemoryHub())
    with pytest.raises(TransportError, match="timed out"):
        feds["guest"].get("never", "host", timeout=0.05)


def test_get_blocks_until_the_message_arrives() -> None:
    feds = _feds(MemoryHub())
    timer = threading.Timer(0.05, lambda: feds["host0"].remote(7, "late", "guest", party_ids=[9999]))
    timer.start()
    assert feds["guest"].get("late", "host", party_id=10000, timeout=5) == 7
    timer.join()


def test_unknown_roles_and_parties_are_clear_errors() -> None:
    hub = MemoryHub()
    with pytest.raises(FederationError, match="does not hold role 'host'"):
        Federation(hub.transport(9999), "j", ROLES, "host")
    guest = Federation(hub.transport(9999), "j", ROLES, "guest")
    with pytest.raises(FederationError, match="no role 'judge'"):
        guest.remote(1, "t", "judge")
    with pytest.raises(FederationError, match=r"parties \[42\] do not hold role 'host'"):
        guest.remote(1, "t", "host", party_ids=[42])


def test_jobs_are_isolated() -> None:
    hub = MemoryHub()
    a = _feds(hub, "job-a")
    b = _feds(hub, "job-b")
    a["guest"].remote("a", "t", "host")
    b["guest"].remote("b", "t", "host")
    assert b["host0"].get("t", "guest") == "b"
    assert a["host0"].get("t", "guest") == "a"
