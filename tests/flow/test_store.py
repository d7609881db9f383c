"""What only the SQLite store does: WAL, its path from database_url, databases from before
versioning. Everything both stores do is in test_store_contract.py."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from fate.flow.audit import AuditLog
from fate.flow.errors import ConfigError
from fate.flow.store import open_store
from fate.flow.store_sqlite import MIGRATIONS, SCHEMA_VERSION, SqliteStore


def test_wal_mode_survives_reopening(tmp_path: Path) -> None:
    open_store(tmp_path).close()
    again = open_store(tmp_path)
    assert isinstance(again, SqliteStore)
    assert sqlite3.connect(again.path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_database_url(tmp_path: Path) -> None:
    store = open_store(tmp_path / "data", f"sqlite:///{tmp_path / 'other.db'}")
    assert isinstance(store, SqliteStore)
    assert store.path == tmp_path / "other.db" and os.path.exists(store.path)
    with pytest.raises(ConfigError, match="expected sqlite:///PATH, postgresql://"):
        open_store(tmp_path, "mysql://db/flow")


def test_a_database_from_before_versioning_is_migrated_in_place(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "flow.db")
    for statement in MIGRATIONS[0]:
        db.execute(statement)
    db.execute("INSERT INTO jobs(id, name, spec, initiator, status, created, updated) "
               "VALUES ('old', '', '{}', 1, 'success', 0, 0)")
    db.commit()
    db.close()
    store = open_store(tmp_path)
    assert store.get_job("old")["status"] == "success"
    assert store.schema_version() == SCHEMA_VERSION == 3
    assert AuditLog(store).append("end", "old", "flow", {})["seq"] == 1
    assert open_store(tmp_path).schema_version() == SCHEMA_VERSION  # opening again applies nothing twice
