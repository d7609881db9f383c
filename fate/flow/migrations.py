"""The flow store's schema versions (SQLite `user_version`), migrated when a flow starts.

Version 1 is the schema of store.py; a later engine appends a step here. Before any step
runs, the database is copied (SQLite's online backup) to `flow.db.v<old>.bak` beside it,
so an upgrade that has to be rolled back (`fatectl upgrade`) can put the old engine back
on the old schema. A store newer than this engine is refused, never guessed at.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from fate.flow.errors import ConfigError

log = logging.getLogger("fate.flow.store")
# (version, SQL that brings the previous version to it); version 1 creates the baseline.
Migrations = tuple[tuple[int, str], ...]


def backup_path(db: Path, version: int) -> Path:
    return db.with_name(f"{db.name}.v{version}.bak")


def _has_tables(conn: sqlite3.Connection) -> bool:
    return bool(conn.execute("SELECT count(*) FROM sqlite_master WHERE type='table' AND name='jobs'").fetchone()[0])


def migrate_store(conn: sqlite3.Connection, db: Path, migrations: Migrations) -> tuple[int, int]:
    """Bring the store to the last version of `migrations`; return (found, now)."""
    latest = migrations[-1][0]
    found = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if found == 0 and _has_tables(conn):
        found = 1  # a store from before versions were recorded has the baseline schema
    if found > latest:
        raise ConfigError(
            f"{db}: the store has schema version {found}, newer than this engine's {latest}; run the newer "
            f"engine, or restore {backup_path(db, latest)} (what `fatectl upgrade` rolls back to)"
        )
    if found == latest:
        if int(conn.execute("PRAGMA user_version").fetchone()[0]) != latest:
            conn.execute(f"PRAGMA user_version={latest}")
        return found, latest
    if found > 0:
        with sqlite3.connect(backup_path(db, found)) as copy:
            conn.backup(copy)
        log.info("store schema %s -> %s; the old store is kept in %s", found, latest, backup_path(db, found))
    for version, sql in migrations:
        if version > found:
            conn.executescript(f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version={version};\nCOMMIT;")
    return found, latest
