"""The SQLite store: state survives reopening; finished jobs stay finished."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

import numpy as np
import pytest

from fate.flow.errors import ConfigError, NotFound
from fate.flow.store import Store
from fate.flow.tables import parse_csv


def test_wal_mode_and_reopen_keeps_everything(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.put_table("t", parse_csv("id,y,x\na,1,2\nb,0,3\n"))
    store.create_job("j1", {"name": "demo"}, 9999, "running")
    store.log("j1", "flow", "hello")
    store.put_output("j1", "psi", "guest", "metric", "intersect_count", 2)
    assert store.set_status("j1", "success")
    store.close()

    again = Store(tmp_path)
    mode = sqlite3.connect(again.path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    assert [t["name"] for t in again.list_tables()] == ["t"]
    np.testing.assert_array_equal(again.get_table("t").features, [[2.0], [3.0]])
    job = again.get_job("j1")
    assert (job["status"], job["name"]) == ("success", "demo")
    assert [entry["message"] for entry in again.logs("j1")] == ["hello"]
    assert again.outputs("j1")[0]["value"] == 2


def test_terminal_status_is_final(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.create_job("j", {}, 1, "running")
    assert store.set_status("j", "failed", "party 2: worker died")
    assert not store.set_status("j", "success")
    assert store.get_job("j")["reason"] == "party 2: worker died"


def test_unfinished_jobs_fail_on_restart(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.create_job("live", {}, 1, "running")
    store.create_job("done", {}, 1, "running")
    store.set_status("done", "success")
    assert store.fail_unfinished("flow restarted while the job was running") == ["live"]
    assert store.get_job("live")["status"] == "failed"
    assert store.get_job("done")["status"] == "success"


def test_missing_things_are_not_found(tmp_path: Path) -> None:
    store = Store(tmp_path)
    with pytest.raises(NotFound, match="no table named 'x'"):
        store.get_table("x")
    with pytest.raises(NotFound, match="no job 'y'"):
        store.get_job("y")


def test_counters_are_atomic_across_threads(tmp_path: Path) -> None:
    store = Store(tmp_path)
    got: list[int] = []
    lock = threading.Lock()

    def take() -> None:
        for _ in range(20):
            value = store.next_counter("k")
            with lock:
                got.append(value)

    threads = [threading.Thread(target=take) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == list(range(80))


def test_done_parties_accumulate(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.create_job("j", {}, 1, "running")
    store.mark_done("j", 2)
    assert store.mark_done("j", 1) == [1, 2]


def test_database_url(tmp_path: Path) -> None:
    store = Store(tmp_path / "data", f"sqlite:///{tmp_path / 'other.db'}")
    assert store.path == tmp_path / "other.db" and os.path.exists(store.path)
    with pytest.raises(ConfigError, match="only sqlite"):
        Store(tmp_path, "postgres://db/flow")
