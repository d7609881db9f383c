"""The store on PostgreSQL (psycopg 3), for parties that keep their state in a managed database.

Reads run in autocommit; each write is one transaction at READ COMMITTED. Where SQLite's single
write lock serialized writers for free, this backend says what it needs: a row lock for
read-modify-write (`mark_done`), one statement for counters, and transaction-level advisory locks
for migrations, audit appends (the chain reads its last record) and log lines (a reader tails logs
by seq, so seqs must commit in order). Advisory locks belong to one database: parties sharing a
server in separate databases never wait on each other.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from fate.flow.errors import ConfigError
from fate.flow.store_sql import AUDIT, LOGS, Cursor, Db, SqlStore

# Entry for entry the schema of store_sqlite.MIGRATIONS, in PostgreSQL's words: DOUBLE PRECISION
# where SQLite has REAL (time.time() and the audit hash need all 64 bits), identity columns for
# AUTOINCREMENT, and a plpgsql function behind the audit triggers. Append; never edit.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        "CREATE TABLE tables (name TEXT PRIMARY KEY, meta TEXT NOT NULL, created DOUBLE PRECISION NOT NULL)",
        """CREATE TABLE jobs (
            id TEXT PRIMARY KEY, name TEXT NOT NULL, spec TEXT NOT NULL, initiator BIGINT NOT NULL,
            status TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '', done TEXT NOT NULL DEFAULT '[]',
            created DOUBLE PRECISION NOT NULL, updated DOUBLE PRECISION NOT NULL)""",
        """CREATE TABLE logs (
            seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, job_id TEXT NOT NULL,
            ts DOUBLE PRECISION NOT NULL, source TEXT NOT NULL, message TEXT NOT NULL)""",
        "CREATE INDEX logs_job ON logs(job_id, seq)",
        """CREATE TABLE outputs (
            job_id TEXT NOT NULL, component TEXT NOT NULL, role TEXT NOT NULL, kind TEXT NOT NULL,
            name TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (job_id, component, role, kind, name))""",
        "CREATE TABLE counters (key TEXT PRIMARY KEY, value BIGINT NOT NULL)",
    ),
    # 2: the audit log. As on SQLite the triggers keep the flow's code from changing a record; a
    # role owning the table can drop them, which the chain then reveals. TRUNCATE skips row
    # triggers, hence its own.
    (
        """CREATE TABLE audit (
            seq BIGINT PRIMARY KEY, ts DOUBLE PRECISION NOT NULL, kind TEXT NOT NULL, job_id TEXT NOT NULL,
            actor TEXT NOT NULL, detail TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL)""",
        "CREATE INDEX jobs_status ON jobs(status, created)",
        """CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$""",
        """CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
            FOR EACH ROW EXECUTE FUNCTION audit_append_only()""",
        """CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
            FOR EACH ROW EXECUTE FUNCTION audit_append_only()""",
        """CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
            FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()""",
    ),
    (
        """CREATE TABLE step_runs (
            seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, job_id TEXT NOT NULL, step TEXT NOT NULL,
            component TEXT NOT NULL, role TEXT NOT NULL, status TEXT NOT NULL, seconds DOUBLE PRECISION NOT NULL,
            encryptions BIGINT NOT NULL, decryptions BIGINT NOT NULL, rerandomizations BIGINT NOT NULL,
            ended DOUBLE PRECISION NOT NULL)""",
        "CREATE INDEX step_runs_job ON step_runs(job_id, seq)",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)
# pg_advisory_xact_lock(LOCK_SPACE, n): the first key keeps our locks apart from other users'.
LOCK_SPACE = 0x46415445  # "FATE"
LOCKS = {"migrate": 1, AUDIT: 2, LOGS: 3}
CONNECT_TIMEOUT = 10


def redact(url: str) -> str:
    """The URL without a password, for messages (a URL from a Secret may carry one)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{netloc}"))


class _Connection:
    """A psycopg connection that takes the shared SQL's `?` placeholders (none of it holds a `%`)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def execute(self, sql: str, args: Sequence[Any] = (), /) -> Cursor:
        cursor: Cursor = self.conn.execute(sql.replace("?", "%s"), tuple(args) if args else None)
        return cursor


class PostgresStore(SqlStore):
    for_update = " FOR UPDATE"

    def __init__(self, data_dir: Path, database_url: str, password: str | None = None) -> None:
        super().__init__(data_dir)
        try:
            import psycopg
        except ImportError:
            raise ConfigError(
                f"database_url {redact(database_url)}: PostgreSQL needs psycopg (pip install 'fatectl[postgres]')"
            ) from None
        self.url = database_url
        self._psycopg = psycopg
        self._password = password
        try:
            self._migrate()
        except psycopg.OperationalError as err:
            raise ConfigError(f"database {redact(database_url)}: cannot connect: {str(err).strip()}") from None

    def _connect(self) -> Db:
        from psycopg.rows import dict_row

        extra: dict[str, Any] = {"password": self._password} if self._password is not None else {}
        conn = self._psycopg.connect(
            self.url, autocommit=True, row_factory=dict_row, connect_timeout=CONNECT_TIMEOUT,
            application_name="fate-flow", **extra,
        )
        return _Connection(conn)

    def _usable(self, db: Db) -> bool:
        # A connection the server dropped (restart, failover) is replaced on the next call; the
        # call that found it broken has failed already.
        assert isinstance(db, _Connection)
        return not (db.conn.closed or db.conn.broken)

    def _disconnect(self, db: Db) -> None:
        assert isinstance(db, _Connection)
        db.conn.close()

    @contextmanager
    def _tx(self) -> Iterator[Db]:
        db = self._conn()
        assert isinstance(db, _Connection)
        with db.conn.transaction():
            yield db

    def _serialize(self, db: Db, what: str) -> None:
        db.execute(f"SELECT pg_advisory_xact_lock({LOCK_SPACE}, {LOCKS[what]})")

    def schema_version(self) -> int:
        row = self._conn().execute("SELECT COALESCE(MAX(version), 0) AS version FROM schema_version").fetchone()
        return int(row["version"])

    def _migrate(self) -> None:
        """Bring the database to SCHEMA_VERSION. The flow, its workers and other replicas may start
        at once: the advisory lock lets one migrate while the others wait, then find nothing to do."""
        with self._tx() as db:
            db.execute(f"SELECT pg_advisory_xact_lock({LOCK_SPACE}, {LOCKS['migrate']})")
            # Looked up rather than CREATE ... IF NOT EXISTS, which needs CREATE on the schema
            # even when the table exists: a flow role without DDL rights starts on a migrated database.
            if db.execute("SELECT to_regclass('schema_version') AS t").fetchone()["t"] is None:
                db.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied DOUBLE PRECISION NOT NULL)")
            version = self.schema_version()
            if version > SCHEMA_VERSION:
                raise ConfigError(
                    f"database {redact(self.url)}: schema version {version} is newer than this flow's "
                    f"({SCHEMA_VERSION})"
                )
            for number in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[number]:
                    db.execute(statement)
                db.execute("INSERT INTO schema_version(version, applied) VALUES (?, ?)", (number + 1, time.time()))
