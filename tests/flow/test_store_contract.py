"""One contract, every store: SQLite and PostgreSQL (a real server) pass the same tests.

Each test gets a database of its own through the `backend` fixture (tests/flow/conftest.py);
`backend.open()` opens another store on it, as a restarted flow or one of its workers does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from fate.flow.audit import AuditLog
from fate.flow.errors import ConfigError, NotFound
from fate.flow.store import Store
from fate.flow.tables import parse_csv
from fatectl.audit import chain_problem, record_hash
from tests.flow.backends import Backend

SCHEMA_VERSION = 3  # both backends' migration lists have this many entries


def _threads(count: int, target: Callable[[int], None]) -> None:
    threads = [threading.Thread(target=target, args=(n,)) for n in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_a_reopened_store_keeps_everything(backend: Backend) -> None:
    store = backend.open()
    store.put_table("t", parse_csv("id,y,x\na,1,2\nb,0,3\n"))
    store.create_job("j1", {"name": "demo"}, 9999, "running")
    store.log("j1", "flow", "hello")
    store.put_output("j1", "psi", "guest", "metric", "intersect_count", 2)
    assert store.next_counter("ctl.9999") == 0
    AuditLog(store).append("start", "j1", "flow", {"initiator": 9999})
    assert store.set_status("j1", "success")
    store.close()

    again = backend.open()
    assert [t["name"] for t in again.list_tables()] == ["t"]
    np.testing.assert_array_equal(again.get_table("t").features, [[2.0], [3.0]])
    job = again.get_job("j1")
    assert (job["status"], job["name"], job["initiator"], job["spec"]) == ("success", "demo", 9999, {"name": "demo"})
    assert [entry["message"] for entry in again.logs("j1")] == ["hello"]
    assert again.outputs("j1")[0]["value"] == 2
    assert again.counter("ctl.9999") == 1
    assert [r["kind"] for r in AuditLog(again).records()] == ["start"]


def test_terminal_status_is_final(backend: Backend) -> None:
    store = backend.open()
    store.create_job("j", {}, 1, "running")
    assert store.set_status("j", "failed", "party 2: worker died")
    assert not store.set_status("j", "success")
    assert store.get_job("j")["reason"] == "party 2: worker died"


def test_a_guarded_change_happens_only_from_the_expected_states(backend: Backend) -> None:
    store = backend.open()
    store.create_job("j", {}, 1, "pending")
    assert not store.set_status("j", "running", expect=("waiting",))
    assert store.set_status("j", "running", expect=("pending", "waiting"))
    assert store.get_job("j")["status"] == "running"


def test_of_two_racing_changes_exactly_one_wins(backend: Backend) -> None:
    """An approval and its deadline, each from its own thread and connection."""
    store = backend.open()
    jobs = [f"j{i}" for i in range(20)]
    for job in jobs:
        store.create_job(job, {}, 1, "pending")
    won: dict[str, list[str]] = {job: [] for job in jobs}
    lock = threading.Lock()

    def race(n: int) -> None:
        status = ("running", "failed")[n]
        for job in jobs:
            if store.set_status(job, status, expect=("pending",)):
                with lock:
                    won[job].append(status)

    _threads(2, race)
    assert all(len(w) == 1 and store.get_job(j)["status"] == w[0] for j, w in won.items())


def test_unfinished_jobs_fail_on_restart(backend: Backend) -> None:
    store = backend.open()
    for job in ("live", "waiting", "done"):
        store.create_job(job, {}, 1, "running")
    store.set_status("done", "success")
    assert backend.open().fail_unfinished("flow restarted while the job was running") == ["live", "waiting"]
    assert store.get_job("live")["status"] == "failed"
    assert store.get_job("live")["reason"] == "flow restarted while the job was running"
    assert store.get_job("done")["status"] == "success"


def test_missing_things_are_not_found(backend: Backend) -> None:
    store = backend.open()
    with pytest.raises(NotFound, match="no table named 'x'"):
        store.get_table("x")
    with pytest.raises(NotFound, match="no job 'y'"):
        store.get_job("y")
    with pytest.raises(NotFound, match="no job 'y'"):
        store.mark_done("y", 1)
    assert not store.has_job("y") and not store.has_table("x")


def test_a_table_can_be_replaced_and_needs_its_rows_file(backend: Backend) -> None:
    store = backend.open()
    store.put_table("b", parse_csv("id\nx\n"))
    store.put_table("a", parse_csv("id,x\nx,1\n"))
    store.put_table("a", parse_csv("id,x\nx,1\ny,2\n"))
    assert [(t["name"], t["rows"]) for t in store.list_tables()] == [("a", 2), ("b", 1)]
    (backend.data_dir / "tables" / "b.npz").unlink()
    assert store.has_table("a") and not store.has_table("b")


def test_jobs_are_listed_newest_first_filtered_and_limited(backend: Backend) -> None:
    store = backend.open()
    for i in range(5):
        store.create_job(f"j{i}", {"name": f"n{i}"}, 1, "pending" if i % 2 else "running")
    assert [j["id"] for j in store.list_jobs()] == ["j4", "j3", "j2", "j1", "j0"]
    assert [j["id"] for j in store.list_jobs(status="pending")] == ["j3", "j1"]
    assert [j["id"] for j in store.list_jobs(limit=2)] == ["j4", "j3"]


def test_counters_are_atomic_across_threads_and_stores(backend: Backend) -> None:
    stores = [backend.open(), backend.open()]  # the flow and a worker, say
    got: list[int] = []
    lock = threading.Lock()

    def take(n: int) -> None:
        for _ in range(20):
            value = stores[n % 2].next_counter("k")
            with lock:
                got.append(value)

    _threads(4, take)
    assert sorted(got) == list(range(80))
    assert stores[0].counter("k") == 80 and stores[0].counter("other") == 0


def test_done_parties_accumulate_even_when_they_finish_at_once(backend: Backend) -> None:
    store = backend.open()
    store.create_job("j", {}, 1, "running")
    store.mark_done("j", 2)
    assert store.mark_done("j", 1) == [1, 2]

    def finish(n: int) -> None:
        store.mark_done("j", 10 + n)

    _threads(8, finish)
    assert store.get_job("j")["done"] == [1, 2, *range(10, 18)]


def test_logs_and_outputs(backend: Backend) -> None:
    store = backend.open()
    for message in ("a", "b", "c"):
        store.log("j", "flow", message)
    store.log("other", "flow", "x")
    first = store.logs("j")
    assert [e["message"] for e in first] == ["a", "b", "c"] and first[0]["source"] == "flow"
    assert [e["message"] for e in store.logs("j", after=first[0]["seq"])] == ["b", "c"]
    store.put_output("j", "lr", "host", "metric", "loss", [0.5])
    store.put_output("j", "lr", "host", "metric", "loss", [0.5, 0.25])  # replaced, not added
    store.put_output("j", "eval", "guest", "metric", "auc", {"value": 0.9})
    assert [(o["component"], o["name"], o["value"]) for o in store.outputs("j")] == [
        ("eval", "auc", {"value": 0.9}), ("lr", "loss", [0.5, 0.25])]
    assert store.output_table_path("j", "psi", "guest") == backend.data_dir / "jobs" / "j" / "psi.guest.npz"


def test_a_reader_tailing_logs_misses_no_line(backend: Backend) -> None:
    """Workers write while the API tails by seq: a seq must never commit after a higher one,
    or the reader, already past it, would never show that line."""
    writers = [backend.open() for _ in range(3)]
    reader = backend.open()
    seen: list[int] = []

    def tail() -> None:
        seen.extend(e["seq"] for e in reader.logs("j", after=seen[-1] if seen else 0))

    def write(n: int) -> None:
        for i in range(40):
            writers[n].log("j", f"w{n}", str(i))

    threads = [threading.Thread(target=write, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        tail()
    tail()
    assert len(seen) == 120 and seen == [e["seq"] for e in reader.logs("j")]


def test_a_new_database_is_migrated_once(backend: Backend) -> None:
    store = backend.open()
    assert store.schema_version() == SCHEMA_VERSION
    store.create_job("j", {}, 1, "running")
    again = backend.open()  # opening again applies nothing twice
    assert again.schema_version() == SCHEMA_VERSION and again.has_job("j")


def test_stores_opening_at_once_migrate_once(backend: Backend) -> None:
    """A flow and its workers (or two replicas) starting together on an empty database."""
    with ThreadPoolExecutor(4) as pool:
        stores = list(pool.map(lambda _: backend.open(), range(4)))
    assert {s.schema_version() for s in stores} == {SCHEMA_VERSION}
    stores[0].create_job("j", {}, 1, "running")
    assert all(s.has_job("j") for s in stores)


def test_a_database_newer_than_the_flow_is_refused(backend: Backend) -> None:
    backend.open().close()
    backend.set_schema_version(99)
    with pytest.raises(ConfigError, match="schema version 99,? (is )?newer than this (flow|engine)'s"):
        backend.open()


def _log(store: Store) -> AuditLog:
    log = AuditLog(store)
    log.append("proposal", "j1", "party 9999", {"from": 9999, "tables": {"10000": "breast"}, "ünï": "cödé"})
    log.append("decision", "j1", "policy", {"verdict": "pending", "rule": "default", "x": [1.5, None, True]})
    log.append("approval", "j1", "operator", {"note": "ok"})
    return log


def test_the_audit_chain_reads_back_exactly_as_hashed(backend: Backend) -> None:
    """Each backend stores what the flow hashed, timestamps to the last bit: fatectl's own code
    recomputes every hash from the rows read back."""
    log = _log(backend.open())
    records = AuditLog(backend.open()).records()
    assert [r["seq"] for r in records] == [1, 2, 3] and records[0]["prev_hash"] == "0" * 64
    assert all(r["hash"] == record_hash(r["prev_hash"], r) for r in records)
    assert chain_problem(records) == ""
    assert records[0]["detail"]["ünï"] == "cödé" and records[1]["detail"]["x"] == [1.5, None, True]
    assert log.records(after=1, limit=1) == records[1:2] and log.records(job_id="other") == []


def test_the_flow_cannot_change_or_drop_an_audit_record(backend: Backend) -> None:
    log = _log(backend.open())
    statements = ["UPDATE audit SET actor='someone else' WHERE seq=1", "DELETE FROM audit WHERE seq=1"]
    if backend.name == "postgres":
        statements.append("TRUNCATE audit")  # skips row triggers; refused by its own
    for sql in statements:
        with pytest.raises(Exception, match="append-only"):
            backend.execute(sql)
    assert [r["seq"] for r in log.records()] == [1, 2, 3] and chain_problem(log.records()) == ""


def test_concurrent_audit_appends_keep_the_chain_gapless(backend: Backend) -> None:
    stores = [backend.open() for _ in range(4)]  # each writer with its own connection, as workers

    def append(n: int) -> None:
        log = AuditLog(stores[n])
        for i in range(20):
            log.append("read", f"j{n}", "worker host", {"i": i})

    _threads(4, append)
    records = AuditLog(stores[0]).records(limit=1000)
    assert [r["seq"] for r in records] == list(range(1, 81)) and chain_problem(records) == ""


def test_both_backends_have_the_same_number_of_migrations() -> None:
    from fate.flow import store_postgres, store_sqlite

    assert len(store_sqlite.MIGRATIONS) == len(store_postgres.MIGRATIONS) == SCHEMA_VERSION


def test_step_runs_and_counts_for_the_metrics(backend: Backend) -> None:
    store = backend.open()
    for n, status in enumerate(("success", "failed")):
        store.add_step_run({"job_id": "j", "step": "lr", "component": "hetero_lr", "role": "guest", "status": status,
                            "seconds": 1.5, "encryptions": n, "decryptions": 2, "rerandomizations": 3, "ended": 7.0})
    runs = store.step_runs()
    assert [r["status"] for r in runs] == ["success", "failed"] and runs[1]["encryptions"] == 1
    assert store.step_runs(after=runs[0]["seq"]) == runs[1:] and store.step_runs(job_id="other") == []
    store.create_job("p", {}, 1, "pending")
    counts, oldest = store.job_counts()
    assert counts == {"pending": 1} and oldest is not None
