"""PSI on the in-memory hub: exact intersections, and nothing id-derived crosses a party boundary."""

from __future__ import annotations

import hashlib
import random
import threading
from typing import Any

import numpy as np
import pytest

from fate.federation.federation import Federation
from fate.federation.memory import MemoryHub
from fate.ml.component import ComponentContext, ComponentResult, Table
from fate.ml.psi import hash_ids, run


def _table(ids: list[str], label: bool = False) -> Table:
    n = len(ids)
    return Table(
        ids=tuple(ids),
        header=("x0",),
        features=np.arange(n, dtype=np.float64).reshape(n, 1),
        labels=np.zeros(n) if label else None,
    )


def _run_job(
    tables: dict[int, Table], roles: dict[str, list[int]], hub: MemoryHub, params: Any = None
) -> dict[tuple[int, str], ComponentResult]:
    """Run psi for every (party, role) in threads, as the worker does; returns {(party, role): result}."""
    results: dict[tuple[int, str], ComponentResult] = {}
    errors: list[BaseException] = []
    transports = {
        p: hub.transport(p) for ps in roles.values() for p in ps
    }  # all reachable before anyone sends

    def one(party: int, role: str) -> None:
        try:
            fed = Federation(transports[party], "job1", roles, role, default_timeout=60)
            ctx = ComponentContext(
                job_id="job1",
                party_id=party,
                role=role,
                roles={r: tuple(p) for r, p in roles.items()},
                params=params or {},
                federation=fed,
                table_name="t",
                read_table=lambda name: tables[party],
            )
            results[(party, role)] = run(ctx)
        except BaseException as err:  # surfaced below so a thread failure fails the test
            errors.append(err)

    threads = [threading.Thread(target=one, args=(p, r)) for r, ps in roles.items() for p in ps]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    if errors:
        raise errors[0]
    return results


def _ids_out(res: dict[tuple[int, str], ComponentResult], party: int, role: str) -> tuple[str, ...]:
    data = res[(party, role)].data
    assert data is not None
    return data.ids


def _ids(prefix: str, n: int) -> list[str]:
    return [f"{prefix}-customer-{i:07d}" for i in range(n)]


@pytest.mark.parametrize("overlap", [0, 300, 1000])
def test_two_party_exact_intersection(overlap: int) -> None:
    rng = random.Random(overlap)
    common = _ids("c", overlap)
    guest = common + _ids("g", 1000 - overlap)
    host = common + _ids("h", 1200 - overlap)
    rng.shuffle(guest)
    rng.shuffle(host)
    seen: list[bytes] = []
    hub = MemoryHub(on_wire=lambda job, tag, src, dst, payload: seen.append(payload))
    res = _run_job(
        {9999: _table(guest, label=True), 10000: _table(host)}, {"guest": [9999], "host": [10000]}, hub
    )
    g, h = res[(9999, "guest")], res[(10000, "host")]
    assert g.data is not None and h.data is not None
    assert g.data.ids == h.data.ids == tuple(sorted(common))
    assert g.data.labels is not None and len(g.data.labels) == overlap
    assert g.metrics["intersect_count"] == overlap
    # Neither raw ids nor their plain hashes appear in anything that crossed the boundary.
    wire = b"".join(seen)
    for value in guest[:50] + host[:50]:
        assert value.encode() not in wire
    for digest in hash_ids(guest[:50] + host[:50], "job1"):
        assert digest not in wire
    assert hub.pending() == 0


def test_rows_follow_their_ids() -> None:
    guest = ["b", "a", "z", "c"]
    res = _run_job({1: _table(guest), 2: _table(["c", "q", "a"])}, {"guest": [1], "host": [2]}, MemoryHub())
    out = res[(1, "guest")].data
    assert out is not None and out.ids == ("a", "c")
    np.testing.assert_array_equal(out.features[:, 0], [1.0, 3.0])  # original rows of "a" and "c"


def test_two_hosts_and_arbiter_on_guest_party() -> None:
    roles = {"guest": [1], "host": [2, 3], "arbiter": [1]}
    tables = {1: _table(_ids("x", 100)), 2: _table(_ids("x", 60)), 3: _table(_ids("x", 80)[20:])}
    res = _run_job(tables, roles, MemoryHub())
    want = tuple(sorted(_ids("x", 60)[20:]))
    assert _ids_out(res, 1, "guest") == want
    assert _ids_out(res, 2, "host") == want
    assert _ids_out(res, 3, "host") == want
    assert res[(1, "arbiter")].data is None


def test_without_sync_hosts_learn_nothing() -> None:
    res = _run_job(
        {1: _table(["a", "b"]), 2: _table(["b"])},
        {"guest": [1], "host": [2]},
        MemoryHub(),
        {"sync_intersection": False},
    )
    assert _ids_out(res, 1, "guest") == ("b",)
    assert res[(2, "host")].data is None


def test_hash_is_salted_by_job() -> None:
    assert hash_ids(["a"], "j1") != hash_ids(["a"], "j2")
    assert hash_ids(["a"], "j1")[0] != hashlib.sha256(b"a").digest()
