"""The store's operations in SQL that SQLite and PostgreSQL both run (`?` placeholders; the
PostgreSQL backend rewrites them). A backend adds connections, transactions, serialization of
the writes that must not interleave, and its schema migrations."""

from __future__ import annotations

import json
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

from fate.flow.errors import NotFound
from fate.flow.store import TERMINAL, AuditRow, JobRecord, MakeAuditRow
from fate.flow.tables import describe, read_table, write_table
from fate.ml.component import Table

# Writes that must commit in the order of the numbers they take: a reader tailing logs by seq, or
# the audit chain reading its last record, would otherwise see a later number commit first.
AUDIT, LOGS = "audit", "logs"
_NOT_TERMINAL = f"status NOT IN ({', '.join(repr(s) for s in TERMINAL)})"


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Db(Protocol):
    """A connection as the shared SQL uses it: rows are read by column name."""

    def execute(self, sql: str, args: Sequence[Any] = (), /) -> Cursor: ...


class SqlStore(ABC):
    # Appended to a SELECT whose row the transaction then updates (PostgreSQL locks it; SQLite's
    # write transactions are serialized already).
    for_update = ""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()

    # ---- what a backend provides ----
    @abstractmethod
    def _connect(self) -> Db:
        """A new connection in autocommit mode (each statement outside `_tx` commits alone)."""

    @abstractmethod
    def _tx(self) -> AbstractContextManager[Db]:
        """One write transaction on this thread's connection: committed on exit, rolled back on error."""

    @abstractmethod
    def _serialize(self, db: Db, what: str) -> None:
        """Inside a transaction: wait until no other transaction writes `what` (AUDIT, LOGS)."""

    @abstractmethod
    def schema_version(self) -> int: ...

    @abstractmethod
    def _disconnect(self, db: Db) -> None: ...

    def _usable(self, db: Db) -> bool:
        return True

    def _conn(self) -> Db:
        conn: Db | None = getattr(self._local, "conn", None)
        if conn is None or not self._usable(conn):
            conn = self._connect()
            self._local.conn = conn
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            self._disconnect(conn)
            self._local.conn = None

    def _rows(self, sql: str, *args: Any) -> list[Any]:
        return self._conn().execute(sql, args).fetchall()

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
        return bool(self._rows("SELECT 1 FROM tables WHERE name=?", name)) and self._table_file(name).exists()

    def list_tables(self) -> list[dict[str, Any]]:
        rows = self._rows("SELECT name, meta, created FROM tables ORDER BY name")
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
        return bool(self._rows("SELECT 1 FROM jobs WHERE id=?", job_id))

    def get_job(self, job_id: str) -> JobRecord:
        rows = self._rows("SELECT * FROM jobs WHERE id=?", job_id)
        if not rows:
            raise NotFound(f"no job {job_id!r} on this party")
        return _job_row(rows[0])

    def list_jobs(self, limit: int = 100, status: str | None = None) -> list[JobRecord]:
        where, args = ("WHERE status=?", (status,)) if status is not None else ("", ())
        rows = self._rows(f"SELECT * FROM jobs {where} ORDER BY created DESC, id LIMIT ?", *args, limit)
        return [_job_row(r) for r in rows]

    def set_status(self, job_id: str, status: str, reason: str = "", expect: tuple[str, ...] = ()) -> bool:
        # The check and the change are one statement, so two threads racing (an approval and its
        # deadline) cannot both win; PostgreSQL re-checks the WHERE on the row it waited for.
        guard = f"AND status IN ({','.join('?' * len(expect))})" if expect else ""
        with self._tx() as db:
            cur = db.execute(
                f"UPDATE jobs SET status=?, reason=?, updated=? WHERE id=? AND {_NOT_TERMINAL} {guard}",
                (status, reason, time.time(), job_id, *expect),
            )
            return cur.rowcount == 1

    def mark_done(self, job_id: str, party_id: int) -> list[int]:
        with self._tx() as db:
            row = db.execute(f"SELECT done FROM jobs WHERE id=?{self.for_update}", (job_id,)).fetchone()
            if row is None:
                raise NotFound(f"no job {job_id!r} on this party")
            done = sorted(set(json.loads(row["done"])) | {party_id})
            db.execute("UPDATE jobs SET done=?, updated=? WHERE id=?", (json.dumps(done), time.time(), job_id))
            return done

    def fail_unfinished(self, reason: str) -> list[str]:
        with self._tx() as db:
            rows = db.execute(
                f"UPDATE jobs SET status='failed', reason=?, updated=? WHERE {_NOT_TERMINAL} RETURNING id",
                (reason, time.time()),
            ).fetchall()
        return sorted(r["id"] for r in rows)

    # ---- logs and outputs ----
    def log(self, job_id: str, source: str, message: str) -> None:
        with self._tx() as db:
            self._serialize(db, LOGS)
            db.execute(
                "INSERT INTO logs(job_id, ts, source, message) VALUES (?,?,?,?)",
                (job_id, time.time(), source, message),
            )

    def logs(self, job_id: str, after: int = 0) -> list[dict[str, Any]]:
        rows = self._rows(
            "SELECT seq, ts, source, message FROM logs WHERE job_id=? AND seq>? ORDER BY seq", job_id, after
        )
        return [dict(r) for r in rows]

    def audit_counts(self, after: int = 0) -> list[tuple[str, int, int]]:
        rows = self._rows("SELECT kind, COUNT(*) AS n, MAX(seq) AS last FROM audit WHERE seq>? GROUP BY kind", after)
        return [(str(r["kind"]), int(r["n"]), int(r["last"])) for r in rows]

    def add_step_run(self, run: dict[str, Any]) -> None:
        columns = ("job_id", "step", "component", "role", "status", "seconds", "encryptions", "decryptions",
                   "rerandomizations", "ended")
        with self._tx() as db:
            db.execute(f"INSERT INTO step_runs({', '.join(columns)}) VALUES ({','.join('?' * len(columns))})",
                       tuple(run[c] for c in columns))

    def step_runs(self, after: int = 0, job_id: str | None = None, limit: int = -1) -> list[dict[str, Any]]:
        where, args = ("AND job_id=?", (job_id,)) if job_id is not None else ("", ())
        limit_sql = "LIMIT ?" if limit >= 0 else ""
        rows = self._rows(f"SELECT * FROM step_runs WHERE seq>? {where} ORDER BY seq {limit_sql}",
                          after, *args, *((limit,) if limit >= 0 else ()))
        return [dict(r) for r in rows]

    def job_counts(self) -> tuple[dict[str, int], float | None]:
        counts = {str(r["status"]): int(r["n"]) for r in self._rows("SELECT status, COUNT(*) AS n FROM jobs GROUP BY status")}
        oldest = self._rows("SELECT MIN(created) AS oldest FROM jobs WHERE status=?", "pending")[0]["oldest"]
        return counts, None if oldest is None else float(oldest)

    def put_output(self, job_id: str, component: str, role: str, kind: str, name: str, value: Any) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO outputs(job_id, component, role, kind, name, value) VALUES (?,?,?,?,?,?) "
                "ON CONFLICT(job_id, component, role, kind, name) DO UPDATE SET value=excluded.value",
                (job_id, component, role, kind, name, json.dumps(value, sort_keys=True)),
            )

    def outputs(self, job_id: str) -> list[dict[str, Any]]:
        rows = self._rows(
            "SELECT component, role, kind, name, value FROM outputs WHERE job_id=? "
            "ORDER BY component, role, kind, name",
            job_id,
        )
        return [{**dict(r), "value": json.loads(r["value"])} for r in rows]

    def output_table_path(self, job_id: str, component: str, role: str) -> Path:
        return self.data_dir / "jobs" / job_id / f"{component}.{role}.npz"

    # ---- control-channel sequence numbers ----
    def counter(self, key: str) -> int:
        rows = self._rows("SELECT value FROM counters WHERE key=?", key)
        return 0 if not rows else int(rows[0]["value"])

    def next_counter(self, key: str) -> int:
        # One statement: the increment is atomic on both backends without a lock of our own.
        with self._tx() as db:
            rows = db.execute(
                "INSERT INTO counters(key, value) VALUES (?, 1) "
                "ON CONFLICT(key) DO UPDATE SET value=counters.value + 1 RETURNING value",
                (key,),
            ).fetchall()  # all: SQLite finishes a RETURNING statement only when its rows are read
            return int(rows[0]["value"]) - 1

    # ---- audit log storage ----
    def append_audit(self, make: MakeAuditRow) -> AuditRow:
        with self._tx() as db:
            self._serialize(db, AUDIT)
            last = db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
            row = make(1, None) if last is None else make(int(last["seq"]) + 1, str(last["hash"]))
            db.execute(
                "INSERT INTO audit(seq, ts, kind, job_id, actor, detail, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?)",
                (row["seq"], row["ts"], row["kind"], row["job_id"], row["actor"], row["detail"],
                 row["prev_hash"], row["hash"]),
            )
        return row

    def audit_records(self, after: int = 0, limit: int = 1000, job_id: str | None = None) -> list[AuditRow]:
        where, args = ("AND job_id=?", (job_id,)) if job_id is not None else ("", ())
        rows = self._rows(f"SELECT * FROM audit WHERE seq>? {where} ORDER BY seq LIMIT ?", after, *args, limit)
        return [_audit_row(r) for r in rows]


def _job_row(row: Any) -> JobRecord:
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


def _audit_row(row: Any) -> AuditRow:
    return {
        "seq": int(row["seq"]),
        "ts": float(row["ts"]),
        "kind": row["kind"],
        "job_id": row["job_id"],
        "actor": row["actor"],
        "detail": row["detail"],
        "prev_hash": row["prev_hash"],
        "hash": row["hash"],
    }
