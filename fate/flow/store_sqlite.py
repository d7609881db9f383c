"""The default store: SQLite in WAL mode on the party's volume.

WAL lets workers append logs and outputs while the API reads. Every write transaction is
BEGIN IMMEDIATE, which takes the database's one write lock at once: writes from the flow's threads
and its worker processes are serialized, so the store needs no locks of its own.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fate.flow.errors import ConfigError
from fate.flow.migrations import Migrations, migrate_store
from fate.flow.store_sql import Db, SqlStore

# Schema changes are numbered migrations; PRAGMA user_version records how many ran. Append a new
# entry for a change, never edit an old one: a party's database outlives the code that made it.
# store_postgres.MIGRATIONS holds the same schema in PostgreSQL's words, entry for entry.
MIGRATIONS: Migrations = (
    # 1: the schema before versioning (IF NOT EXISTS: such databases already hold it).
    (
        "CREATE TABLE IF NOT EXISTS tables (name TEXT PRIMARY KEY, meta TEXT NOT NULL, created REAL NOT NULL)",
        """CREATE TABLE IF NOT EXISTS jobs (
            id TEXT PRIMARY KEY, name TEXT NOT NULL, spec TEXT NOT NULL, initiator INTEGER NOT NULL,
            status TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '', done TEXT NOT NULL DEFAULT '[]',
            created REAL NOT NULL, updated REAL NOT NULL)""",
        """CREATE TABLE IF NOT EXISTS logs (
            seq INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT NOT NULL, ts REAL NOT NULL,
            source TEXT NOT NULL, message TEXT NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS logs_job ON logs(job_id, seq)",
        """CREATE TABLE IF NOT EXISTS outputs (
            job_id TEXT NOT NULL, component TEXT NOT NULL, role TEXT NOT NULL, kind TEXT NOT NULL,
            name TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (job_id, component, role, kind, name))""",
        "CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    ),
    # 2: the hash-chained audit log (fate.flow.audit). The triggers keep this code from ever
    # changing a record; someone with the file can drop them, which the chain then reveals.
    (
        """CREATE TABLE audit (
            seq INTEGER PRIMARY KEY, ts REAL NOT NULL, kind TEXT NOT NULL, job_id TEXT NOT NULL,
            actor TEXT NOT NULL, detail TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL)""",
        "CREATE INDEX jobs_status ON jobs(status, created)",
        """CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
            BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
        """CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
            BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
    ),
    # 3: one row per pipeline step and role a worker finished here (fate.flow.stepruns): how long
    # it took and how many Paillier operations it made; the flow's /metrics reads them.
    (
        """CREATE TABLE step_runs (
            seq INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT NOT NULL, step TEXT NOT NULL,
            component TEXT NOT NULL, role TEXT NOT NULL, status TEXT NOT NULL, seconds REAL NOT NULL,
            encryptions INTEGER NOT NULL, decryptions INTEGER NOT NULL, rerandomizations INTEGER NOT NULL,
            ended REAL NOT NULL)""",
        "CREATE INDEX step_runs_job ON step_runs(job_id, seq)",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)


def sqlite_path(data_dir: Path, database_url: str) -> Path:
    if not database_url:
        return data_dir / "flow.db"
    if database_url.startswith("sqlite:///"):
        return Path(database_url[len("sqlite:///") :])
    raise ConfigError(
        f"database_url {database_url!r}: expected sqlite:///PATH, postgresql://USER@HOST:PORT/DB, "
        "or empty for SQLite in data_dir"
    )


class SqliteStore(SqlStore):
    def __init__(self, data_dir: Path, database_url: str = "") -> None:
        super().__init__(data_dir)
        self.path = sqlite_path(self.data_dir, database_url)
        self._migrate()

    def _connect(self) -> Db:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    def _disconnect(self, db: Db) -> None:
        assert isinstance(db, sqlite3.Connection)
        db.close()

    @contextmanager
    def _tx(self) -> Iterator[Db]:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _serialize(self, db: Db, what: str) -> None:
        """BEGIN IMMEDIATE already holds the database's only write lock."""

    def schema_version(self) -> int:
        return int(self._conn().execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        """Bring the database to SCHEMA_VERSION (fate.flow.migrations: a backup first, newer refused;
        the flow and its workers may race here, so in one IMMEDIATE transaction)."""
        conn = self._conn()
        assert isinstance(conn, sqlite3.Connection)
        migrate_store(conn, self.path, MIGRATIONS)
