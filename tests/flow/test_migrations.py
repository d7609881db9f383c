"""The flow store's schema versions: baseline recorded, steps applied after a backup, newer refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from fate.flow import store_sqlite as store_module
from fate.flow.errors import ConfigError
from fate.flow.migrations import backup_path, migrate_store
from fate.flow.store_sqlite import MIGRATIONS
from fate.flow.store_sqlite import SqliteStore as Store


def _version(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])


def test_a_new_store_records_the_latest_version_without_a_backup(tmp_path: Path) -> None:
    Store(tmp_path).close()
    assert _version(tmp_path / "flow.db") == len(MIGRATIONS)
    assert not any(tmp_path.glob("flow.db.v*.bak"))  # nothing to keep from a store that did not exist


def test_a_store_from_before_versions_is_backed_up_and_migrated(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "flow.db") as conn:
        for statement in MIGRATIONS[0]:  # what every earlier engine wrote, user_version 0
            conn.execute(statement)
    Store(tmp_path).close()  # opening migrates
    assert _version(tmp_path / "flow.db") == len(MIGRATIONS)
    assert _version(backup_path(tmp_path / "flow.db", 0)) == 0


def test_a_step_runs_once_after_a_backup_of_the_old_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old = Store(tmp_path)
    old.create_job("j1", {"roles": {}}, 9999, "waiting")
    old.close()
    step = "ALTER TABLE jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0"
    monkeypatch.setattr(store_module, "MIGRATIONS", (*MIGRATIONS, (step,)))
    latest = len(MIGRATIONS) + 1
    new = Store(tmp_path)
    assert _version(tmp_path / "flow.db") == latest
    assert new.get_job("j1")["status"] == "waiting"  # data kept
    with sqlite3.connect(tmp_path / "flow.db") as conn:
        assert "priority" in {row[1] for row in conn.execute("PRAGMA table_info(jobs)")}
    backup = backup_path(tmp_path / "flow.db", latest - 1)
    assert _version(backup) == latest - 1
    with sqlite3.connect(backup) as conn:
        assert conn.execute("SELECT id FROM jobs").fetchall() == [("j1",)]
    Store(tmp_path).close()  # a second start applies nothing again
    assert _version(tmp_path / "flow.db") == latest


def test_a_store_newer_than_the_engine_is_refused(tmp_path: Path) -> None:
    Store(tmp_path).close()
    with sqlite3.connect(tmp_path / "flow.db") as conn:
        conn.execute("PRAGMA user_version=7")
    latest = len(MIGRATIONS)
    with pytest.raises(ConfigError, match=rf"schema version 7, newer than this engine's {latest}.*flow.db.v{latest}.bak"):
        migrate_store(sqlite3.connect(tmp_path / "flow.db"), tmp_path / "flow.db", MIGRATIONS)
