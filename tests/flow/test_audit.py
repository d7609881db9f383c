"""The audit log: a gapless hash chain that fatectl verifies with its own code, tampering caught
(an edited row by the chain, a consistently rewritten chain by the operator's checkpoint), and the
store's versioned migrations that created it."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import pytest

from fate.flow.audit import AuditLog
from fate.flow.errors import ConfigError
from fate.flow.store import MIGRATIONS, SCHEMA_VERSION, Store
from fatectl.audit import Checkpoint, chain_problem, checkpoint_problem, read_checkpoint, record_hash
from fatectl.errors import AuditError


def _log(tmp: Path) -> AuditLog:
    log = AuditLog(Store(tmp))
    log.append("proposal", "j1", "party 9999", {"from": 9999, "tables": {"10000": "breast"}})
    log.append("decision", "j1", "policy", {"verdict": "pending", "rule": "default"})
    log.append("approval", "j1", "operator", {"note": "ok"})
    log.append("start", "j1", "party 9999", {"initiator": 9999})
    return log


def _tamper(store: Store, sql: str, *args: object) -> None:
    """What someone with the database file can do: drop the guards and change rows."""
    db = sqlite3.connect(store.path)
    db.executescript("DROP TRIGGER IF EXISTS audit_no_update; DROP TRIGGER IF EXISTS audit_no_delete;")
    db.execute(sql, args)
    db.commit()
    db.close()


def test_the_chain_verifies_with_fatectls_own_code(tmp_path: Path) -> None:
    records = _log(tmp_path).records()
    assert [r["seq"] for r in records] == [1, 2, 3, 4]
    assert records[0]["prev_hash"] == "0" * 64
    assert all(r["hash"] == record_hash(r["prev_hash"], r) for r in records)
    assert chain_problem(records) == ""


def test_an_edited_record_is_named(tmp_path: Path) -> None:
    log = _log(tmp_path)
    _tamper(log.store, "UPDATE audit SET detail=? WHERE seq=2", json.dumps({"verdict": "accept", "rule": "default"}))
    assert chain_problem(log.records()) == "record 2 (decision, job j1) does not match its hash: its content was edited"


def test_an_edited_record_with_its_own_hash_fixed_breaks_the_next_link(tmp_path: Path) -> None:
    log = _log(tmp_path)
    forged = {**log.records()[1], "detail": {"verdict": "accept", "rule": "default"}}
    forged_hash = record_hash(forged["prev_hash"], forged)
    _tamper(log.store, "UPDATE audit SET detail=?, hash=? WHERE seq=2", json.dumps(forged["detail"]), forged_hash)
    assert chain_problem(log.records()) == (
        "record 3 (approval, job j1) does not link to record 2: it was dropped, edited or replaced")


def test_a_dropped_record_is_named(tmp_path: Path) -> None:
    log = _log(tmp_path)
    _tamper(log.store, "DELETE FROM audit WHERE seq=3")
    assert chain_problem(log.records()) == "record 3 is missing: the log goes from record 2 to 4"


def _rewrite(store: Store, seq: int, detail: dict[str, object]) -> None:
    """Change one record and recompute every hash after it: a chain that verifies on its own."""
    prev = "0" * 64
    for record in AuditLog(store).records():
        row = {**record, "detail": detail if record["seq"] == seq else record["detail"]}
        digest = record_hash(prev, row)
        _tamper(store, "UPDATE audit SET detail=?, prev_hash=?, hash=? WHERE seq=?",
                json.dumps(row["detail"]), prev, digest, row["seq"])
        prev = digest


def test_a_consistently_rewritten_history_is_caught_by_the_checkpoint(tmp_path: Path) -> None:
    log = _log(tmp_path)
    before = log.records()
    checkpoint = Checkpoint(before[-1]["seq"], before[-1]["hash"], 1_700_000_000.0)
    _rewrite(log.store, 2, {"verdict": "accept", "rule": "rule friends"})
    after = log.records()
    assert chain_problem(after) == ""  # the chain alone cannot tell
    problem = checkpoint_problem(after, checkpoint)
    assert problem.startswith("record 4 (start, job j1) has hash ") and problem.endswith(
        "on 2023-11-14 22:13:20 UTC: the history was rewritten")


def test_a_truncated_log_is_caught_by_the_checkpoint(tmp_path: Path) -> None:
    log = _log(tmp_path)
    records = log.records()
    checkpoint = Checkpoint(4, records[-1]["hash"], 1_700_000_000.0)
    _tamper(log.store, "DELETE FROM audit WHERE seq=4")
    assert chain_problem(log.records()) == ""
    assert "the log ends at record 3, but record 4 was verified on" in checkpoint_problem(log.records(), checkpoint)


def test_a_damaged_checkpoint_is_an_error_not_a_pass(tmp_path: Path) -> None:
    path = tmp_path / "cp.json"
    path.write_text("{not json")
    with pytest.raises(AuditError, match="cannot read the audit checkpoint"):
        read_checkpoint(path)
    assert read_checkpoint(tmp_path / "none.json") is None


def test_the_flow_itself_cannot_change_or_drop_a_record(tmp_path: Path) -> None:
    log = _log(tmp_path)
    db = log.store.connection()
    for sql in ("UPDATE audit SET actor='someone else' WHERE seq=1", "DELETE FROM audit WHERE seq=1"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute(sql)
    assert chain_problem(log.records()) == ""


def test_concurrent_appends_keep_the_chain_gapless(tmp_path: Path) -> None:
    store = Store(tmp_path)

    def append(n: int) -> None:
        log = AuditLog(store)  # each thread writes through its own connection, as workers do
        for i in range(20):
            log.append("read", f"j{n}", "worker host", {"i": i})

    threads = [threading.Thread(target=append, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    records = AuditLog(store).records(limit=1000)
    assert [r["seq"] for r in records] == list(range(1, 81)) and chain_problem(records) == ""


def test_a_database_from_before_versioning_is_migrated_in_place(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "flow.db")
    for statement in MIGRATIONS[0]:
        db.execute(statement)
    db.execute("INSERT INTO jobs(id, name, spec, initiator, status, created, updated) "
               "VALUES ('old', '', '{}', 1, 'success', 0, 0)")
    db.commit()
    db.close()
    store = Store(tmp_path)
    assert store.get_job("old")["status"] == "success"
    assert store.connection().execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
    assert AuditLog(store).append("end", "old", "flow", {})["seq"] == 1
    Store(tmp_path)  # opening again applies nothing twice


def test_a_database_newer_than_the_flow_is_refused(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "flow.db")
    db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(ConfigError, match="schema version 99 is newer than this flow's"):
        Store(tmp_path)


def test_outputs_holding_inf_or_nan_get_a_digest() -> None:
    from fate.flow.audit import digest

    roc = {"thresholds": [float("inf"), 0.5], "ks": float("nan")}
    assert digest(roc) == digest({"thresholds": [float("inf"), 0.5], "ks": float("nan")})
    assert digest(roc) != digest({"thresholds": [1.0, 0.5], "ks": 0.0})
