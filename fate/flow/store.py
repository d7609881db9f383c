"""The flow's persistent state: SQLite in WAL mode on the party's volume.

Server threads and worker processes each open their own connection; WAL lets
workers append logs and outputs while the API reads. Table rows live in `.npz`
files next to the database (written atomically), their metadata here.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, TypedDict

from fate.flow.errors import NotFound
from fate.flow.tables import describe, read_table, write_table
from fate.ml.component import Table

TERMINAL = ("success", "failed", "canceled")
# Schema changes are numbered migrations; PRAGMA user_version records how many ran. Append a new
# entry for a change, never edit an old one: a party's database outlives the code that made it.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
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


class JobRecord(TypedDict):
    """A job as this party stores it; the API serves it (with outputs) as JSON."""

    id: str
    name: str
    spec: dict[str, Any]  # the job file, as submitted; fate.flow.jobspec validates it
    initiator: int
    status: str
    reason: str
    done: list[int]  # parties that finished their part
    created: float
    updated: float


def _sqlite_path(data_dir: Path, database_url: str) -> Path:
    if not database_url:
        return data_dir / "flow.db"
    if database_url.startswith("sqlite:///"):
        return Path(database_url[len("sqlite:///") :])
    from fate.flow.errors import ConfigError

    raise ConfigError(
        f"database_url {database_url!r}: only sqlite:///PATH (or empty for the default) is supported"
    )


class Store:
    def __init__(self, data_dir: Path, database_url: str = "") -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.path = _sqlite_path(self.data_dir, database_url)
        self._local = threading.local()
        self._migrate()

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
        return conn

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _migrate(self) -> None:
        """Bring the database to SCHEMA_VERSION; the flow and its workers may race here, so in one transaction."""
        with self._tx() as db:
            version = int(db.execute("PRAGMA user_version").fetchone()[0])
            if version > SCHEMA_VERSION:
                from fate.flow.errors import ConfigError

                raise ConfigError(
                    f"{self.path}: database schema version {version} is newer than this flow's ({SCHEMA_VERSION})"
                )
            for number in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[number]:
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {number + 1}")

    def connection(self) -> sqlite3.Connection:
        """This thread's connection, for reads."""
        return self._conn()

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE: serialized across processes) on this thread's connection."""
        return self._tx()

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # ---- tables ----
    def _table_file(self, name: str) -> Path:
        return self.data_dir / "tables" / f"{name}.npz"

    def put_table(self, name: str, table: Table) -> dict[str, Any]:
        write_table(table, self._table_file(name))
        meta = describe(table)
        with self._tx() as db:
            db.execute(
                "INSERT INTO tables(name, meta, created) VALUES (?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET meta=excluded.meta, created=excluded.created",
                (name, json.dumps(meta), time.time()),
            )
        return {"name": name, **meta}

    def get_table(self, name: str) -> Table:
        if not self.has_table(name):
            raise NotFound(f"no table named {name!r} on this party")
        return read_table(self._table_file(name))

    def has_table(self, name: str) -> bool:
        row = self._conn().execute("SELECT 1 FROM tables WHERE name=?", (name,)).fetchone()
        return row is not None and self._table_file(name).exists()

    def list_tables(self) -> list[dict[str, Any]]:
        rows = self._conn().execute("SELECT name, meta, created FROM tables ORDER BY name").fetchall()
        return [{"name": r["name"], **json.loads(r["meta"]), "created": r["created"]} for r in rows]

    # ---- jobs ----
    def create_job(self, job_id: str, spec: dict[str, Any], initiator: int, status: str, reason: str = "") -> None:
        now = time.time()
        with self._tx() as db:
            db.execute(
                "INSERT INTO jobs(id, name, spec, initiator, status, reason, created, updated) VALUES (?,?,?,?,?,?,?,?)",
                (job_id, spec.get("name", ""), json.dumps(spec), initiator, status, reason, now, now),
            )

    def has_job(self, job_id: str) -> bool:
        return self._conn().execute("SELECT 1 FROM jobs WHERE id=?", (job_id,)).fetchone() is not None

    def get_job(self, job_id: str) -> JobRecord:
        row = self._conn().execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()
        if row is None:
            raise NotFound(f"no job {job_id!r} on this party")
        return _job_row(row)

    def list_jobs(self, limit: int = 100, status: str | None = None) -> list[JobRecord]:
        where, args = ("WHERE status=?", (status,)) if status is not None else ("", ())
        rows = (
            self._conn()
            .execute(f"SELECT * FROM jobs {where} ORDER BY created DESC, id LIMIT ?", (*args, limit))
            .fetchall()
        )
        return [_job_row(r) for r in rows]

    def set_status(self, job_id: str, status: str, reason: str = "", expect: tuple[str, ...] = ()) -> bool:
        """Move a job to `status` unless it already finished (or, with `expect`, unless it is in one
        of those states); True when it changed. The check and the change are one statement, so two
        threads racing (an approval and its deadline) cannot both win."""
        guard = f"AND status IN ({','.join('?' * len(expect))})" if expect else ""
        with self._tx() as db:
            cur = db.execute(
                f"UPDATE jobs SET status=?, reason=?, updated=? WHERE id=? AND status NOT IN {TERMINAL} {guard}",
                (status, reason, time.time(), job_id, *expect),
            )
            return cur.rowcount == 1

    def mark_done(self, job_id: str, party_id: int) -> list[int]:
        """Record that a party finished its part; returns every party done so far."""
        with self._tx() as db:
            row = db.execute("SELECT done FROM jobs WHERE id=?", (job_id,)).fetchone()
            if row is None:
                raise NotFound(f"no job {job_id!r} on this party")
            done = sorted(set(json.loads(row["done"])) | {party_id})
            db.execute(
                "UPDATE jobs SET done=?, updated=? WHERE id=?", (json.dumps(done), time.time(), job_id)
            )
            return done

    def fail_unfinished(self, reason: str) -> list[str]:
        """On start-up: jobs that were live when the service stopped cannot resume; fail them."""
        with self._tx() as db:
            rows = db.execute(f"SELECT id FROM jobs WHERE status NOT IN {TERMINAL}").fetchall()
            ids = [r["id"] for r in rows]
            db.executemany(
                "UPDATE jobs SET status='failed', reason=?, updated=? WHERE id=?",
                [(reason, time.time(), i) for i in ids],
            )
        return ids

    # ---- logs and outputs ----
    def log(self, job_id: str, source: str, message: str) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO logs(job_id, ts, source, message) VALUES (?,?,?,?)",
                (job_id, time.time(), source, message),
            )

    def logs(self, job_id: str, after: int = 0) -> list[dict[str, Any]]:
        rows = (
            self._conn()
            .execute(
                "SELECT seq, ts, source, message FROM logs WHERE job_id=? AND seq>? ORDER BY seq",
                (job_id, after),
            )
            .fetchall()
        )
        return [dict(r) for r in rows]

    def put_output(self, job_id: str, component: str, role: str, kind: str, name: str, value: Any) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO outputs(job_id, component, role, kind, name, value) VALUES (?,?,?,?,?,?)",
                (job_id, component, role, kind, name, json.dumps(value, sort_keys=True)),
            )

    def outputs(self, job_id: str) -> list[dict[str, Any]]:
        rows = (
            self._conn()
            .execute(
                "SELECT component, role, kind, name, value FROM outputs WHERE job_id=? ORDER BY component, role, kind, name",
                (job_id,),
            )
            .fetchall()
        )
        return [{**dict(r), "value": json.loads(r["value"])} for r in rows]

    def output_table_path(self, job_id: str, component: str, role: str) -> Path:
        return self.data_dir / "jobs" / job_id / f"{component}.{role}.npz"

    # ---- control-channel sequence numbers ----
    def counter(self, key: str) -> int:
        row = self._conn().execute("SELECT value FROM counters WHERE key=?", (key,)).fetchone()
        return 0 if row is None else int(row["value"])

    def next_counter(self, key: str) -> int:
        """Atomically return the counter's current value and increment it."""
        with self._tx() as db:
            row = db.execute("SELECT value FROM counters WHERE key=?", (key,)).fetchone()
            value = 0 if row is None else int(row["value"])
            db.execute("INSERT OR REPLACE INTO counters(key, value) VALUES (?, ?)", (key, value + 1))
            return value


def _job_row(row: sqlite3.Row) -> JobRecord:
    return {
        "id": row["id"],
        "name": row["name"],
        "spec": json.loads(row["spec"]),
        "initiator": row["initiator"],
        "status": row["status"],
        "reason": row["reason"],
        "done": json.loads(row["done"]),
        "created": row["created"],
        "updated": row["updated"],
    }
