"""The breast_homo example rows, and every party of a homo job run in threads over one MemoryHub."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fate.crypto.codec import register_ciphertexts
from fate.federation.federation import Federation
from fate.federation.memory import MemoryHub, WireHook
from fate.ml import registry
from fate.ml.component import ComponentContext, ComponentResult, Table
from tests.ml.federated import run_threads

DATA = Path(__file__).resolve().parents[2] / "examples" / "data"
GUEST, ARBITER = 9999, 10100
HOSTS = tuple(range(10000, 10012))


def read_table(path: Path) -> Table:
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    rows = [line.split(",") for line in lines[1:]]
    values = np.array([r[1:] for r in rows], dtype=np.float64)
    return Table(tuple(r[0] for r in rows), tuple(header[2:]), values[:, 1:], values[:, 0])


@dataclass(frozen=True, eq=False)
class BreastHomo:
    guest: Table
    host: Table
    host_1: Table
    host_2: Table
    test: Table


@pytest.fixture(scope="session")
def homo() -> BreastHomo:
    return BreastHomo(*(read_table(DATA / f"breast_homo_{n}.csv") for n in ("guest", "host", "host_1", "host_2", "test")))


@pytest.fixture(scope="session", autouse=True)
def _ciphertext_codec() -> None:
    register_ciphertexts()


def roles_for(n_hosts: int) -> dict[str, tuple[int, ...]]:
    return {"guest": (GUEST,), "host": HOSTS[:n_hosts], "arbiter": (ARBITER,)}


def federations(hub: MemoryHub, n_hosts: int, job: str = "job", timeout: float = 60.0,
                on_wire: WireHook | None = None) -> dict[int, Federation]:
    """One Federation per client party id, plus the arbiter's under ARBITER."""
    roles = roles_for(n_hosts)
    feds = {GUEST: Federation(hub.transport(GUEST), job, roles, "guest", on_wire, timeout)}
    feds[ARBITER] = Federation(hub.transport(ARBITER), job, roles, "arbiter", on_wire, timeout)
    for pid in roles["host"]:
        feds[pid] = Federation(hub.transport(pid), job, roles, "host", on_wire, timeout)
    return feds


def run_component(name: str, tables: Sequence[Table], params: Mapping[str, Any], *,
                  extra_tables: Mapping[str, Table] | None = None, hub: MemoryHub | None = None,
                  sink: dict[str, list[Any]] | None = None) -> dict[str, ComponentResult]:
    """tables[0] is the guest's, the rest one per host; results by 'guest', 'host0'.., 'arbiter'."""
    hub = hub or MemoryHub()
    roles = roles_for(len(tables) - 1)
    store = dict(extra_tables or {})
    out = sink if sink is not None else {}
    parties = [("guest", GUEST, tables[0])] + [("host", p, t) for p, t in zip(HOSTS, tables[1:], strict=False)]
    parties.append(("arbiter", ARBITER, None))  # type: ignore[arg-type]
    jobs: dict[str, Callable[[], ComponentResult]] = {}
    component = registry.get(name)  # once, here: the registry's first load is not thread-safe
    for i, (role, pid, table) in enumerate(parties):
        fed = Federation(hub.transport(pid), "job-1", roles, role, default_timeout=60.0)
        key = role if role != "host" else f"host{i - 1}"

        def read(name: str, table: Table | None = table) -> Table:
            return table if name == "own" and table is not None else store[name]

        ctx = ComponentContext(
            job_id="job-1", party_id=pid, role=role, roles=roles, params=params, federation=fed,
            component="homo", table_name=None if table is None else "own", read_table=read,
            save_model=lambda obj, k=key: out.setdefault(f"{k}.model", []).append(obj),  # type: ignore[misc]
            log_metric=lambda n, v, k=key: out.setdefault(f"{k}.{n}", []).append(v),  # type: ignore[misc]
        )
        jobs[key] = (lambda c=ctx: component(c))  # type: ignore[misc]
    return run_threads(jobs, timeout=600.0)
