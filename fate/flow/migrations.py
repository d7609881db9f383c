"""The flow store's schema versions (SQLite `user_version`), migrated when a flow starts.

Migration N (1-based) is `migrations[N - 1]`, a tuple of SQL statements; a later engine
appends an entry, never edits one: a party's database outlives the code that made it.
Before any step runs on an existing store, the database is copied (SQLite's online backup)
to `flow.db.v<old>.bak` beside it, so an upgrade that has to be rolled back (`fatectl
upgrade`) can put the old engine back on the old schema. A store newer than this engine is
refused, never guessed at. The steps run in one IMMEDIATE transaction: a flow and its
workers may open the store at the same moment.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from fate.flow.errors import ConfigError

log = logging.getLogger("fate.flow.store")
Migrations = tuple[tuple[str, ...], ...]


def backup_path(db: Path, version: int) -> Path:
    return db.with_name(f"{db.name}.v{version}.bak")


def _has_tables(conn: sqlite3.Connection) -> bool:
    return bool(conn.execute("SELECT count(*) FROM sqlite_master WHERE type='table' AND name='jobs'").fetchone()[0])


def migrate_store(conn: sqlite3.Connection, db: Path, migrations: Migrations) -> tuple[int, int]:
    """Bring the store to version len(migrations); return (found, now)."""
    latest = len(migrations)
    found = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if found > latest:
        raise ConfigError(
            f"{db}: the store has schema version {found}, newer than this engine's {latest}; run the newer "
            f"engine, or restore {backup_path(db, latest)} (what `fatectl upgrade` rolls back to)"
        )
    if found == latest:
        return found, latest
    if found > 0 or _has_tables(conn):
        # A store from before versions were recorded (user_version 0 with tables) is backed up too.
        with sqlite3.connect(backup_path(db, found)) as copy:
            conn.backup(copy)
        log.info("store schema %s -> %s; the old store is kept in %s", found, latest, backup_path(db, found))
    conn.execute("BEGIN IMMEDIATE")
    try:
        now = int(conn.execute("PRAGMA user_version").fetchone()[0])  # another process may have migrated
        for number in range(now, latest):
            for statement in migrations[number]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number + 1}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return found, latest
