"""The flow's persistent state: the contract every store keeps, and the one place that picks a backend.

Two backends keep it: SQLite in WAL mode on the party's volume (the default; `store_sqlite`) and
PostgreSQL (`store_postgres`, when `database_url` is `postgresql://...`). Both share their SQL
(`store_sql`) and differ only in connections, locking and schema DDL. Table rows and output tables
live in `.npz` files in `data_dir` whatever the backend; the store holds their metadata.

Server threads and worker processes each open their own connection; every write is one
transaction, and writes that must not interleave (migrations, audit appends, log lines) are
serialized by the backend.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypedDict

from fate.ml.component import Table

TERMINAL = ("success", "failed", "canceled")
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


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


class AuditRow(TypedDict):
    """One stored audit record (fate.flow.audit computes its hash; the store only keeps it)."""

    seq: int
    ts: float
    kind: str
    job_id: str
    actor: str
    detail: str  # canonical JSON text, exactly what was hashed
    prev_hash: str
    hash: str


# Called inside the store's audit lock with the next seq and the last record's hash (None before
# the first record); returns the row to insert.
MakeAuditRow = Callable[[int, str | None], AuditRow]


class Store(Protocol):
    """What the flow, its scheduler, runner and workers may ask of a party's store."""

    data_dir: Path

    def schema_version(self) -> int:
        """How many schema migrations this database has run."""
        ...

    def close(self) -> None:
        """Close this thread's connection (the next call opens a new one)."""
        ...

    # ---- tables: rows in data_dir/tables/NAME.npz, metadata in the store ----
    def put_table(self, name: str, table: Table) -> dict[str, Any]: ...

    def get_table(self, name: str) -> Table:
        """The table, or NotFound."""
        ...

    def has_table(self, name: str) -> bool: ...

    def list_tables(self) -> list[dict[str, Any]]:
        """Every table's name, shape summary and creation time, by name."""
        ...

    # ---- jobs ----
    def create_job(self, job_id: str, spec: dict[str, Any], initiator: int, status: str, reason: str = "") -> None:
        ...

    def has_job(self, job_id: str) -> bool: ...

    def get_job(self, job_id: str) -> JobRecord:
        """The job, or NotFound."""
        ...

    def list_jobs(self, limit: int = 100, status: str | None = None) -> list[JobRecord]:
        """Newest first."""
        ...

    def set_status(self, job_id: str, status: str, reason: str = "", expect: tuple[str, ...] = ()) -> bool:
        """Move a job to `status` unless it already finished (or, with `expect`, unless it is in one
        of those states); True when it changed. Two callers racing cannot both win."""
        ...

    def mark_done(self, job_id: str, party_id: int) -> list[int]:
        """Record that a party finished its part; returns every party done so far (sorted)."""
        ...

    def fail_unfinished(self, reason: str) -> list[str]:
        """On start-up: jobs that were live when the service stopped cannot resume; fail them."""
        ...

    # ---- logs and outputs ----
    def log(self, job_id: str, source: str, message: str) -> None: ...

    def logs(self, job_id: str, after: int = 0) -> list[dict[str, Any]]:
        """Log lines with seq > after, in seq order; a reader tailing by seq misses none."""
        ...

    def put_output(self, job_id: str, component: str, role: str, kind: str, name: str, value: Any) -> None:
        """Store (or replace) one JSON output."""
        ...

    def outputs(self, job_id: str) -> list[dict[str, Any]]: ...

    def output_table_path(self, job_id: str, component: str, role: str) -> Path: ...

    # ---- control-channel sequence numbers ----
    def counter(self, key: str) -> int: ...

    def next_counter(self, key: str) -> int:
        """Atomically return the counter's current value and increment it."""
        ...

    # ---- audit log storage (fate.flow.audit owns the chain) ----
    def append_audit(self, make: MakeAuditRow) -> AuditRow:
        """Append the row `make(seq, prev_hash)` returns; appends are serialized, so seq is gapless."""
        ...

    def audit_records(self, after: int = 0, limit: int = 1000, job_id: str | None = None) -> list[AuditRow]:
        """Rows with seq > after (of one job, when given), oldest first."""
        ...

    def audit_counts(self, after: int = 0) -> list[tuple[str, int, int]]:
        """(kind, records, last seq) of the audit records past `after`, for the metrics."""
        ...

    def add_step_run(self, run: dict[str, Any]) -> None:
        """One finished pipeline step of a role (fate.flow.stepruns)."""
        ...

    def step_runs(self, after: int = 0, job_id: str | None = None, limit: int = -1) -> list[dict[str, Any]]:
        """Step runs with seq > after (of one job, when given), oldest first."""
        ...

    def job_counts(self) -> tuple[dict[str, int], float | None]:
        """Jobs per status, and when the oldest pending one was created."""
        ...


def is_postgres(database_url: str) -> bool:
    return database_url.startswith(POSTGRES_SCHEMES)


def open_store(data_dir: Path, database_url: str = "", password: str | None = None) -> Store:
    """The store `database_url` names, its schema migrated: empty or `sqlite:///PATH` for SQLite,
    `postgresql://user@host:port/db` for PostgreSQL (`password` from the config's password file;
    without it libpq's own sources apply, e.g. PGPASSWORD)."""
    # Imported here: each backend imports this contract, and SQLite-only parties never load psycopg.
    if is_postgres(database_url):
        from fate.flow.store_postgres import PostgresStore

        return PostgresStore(data_dir, database_url, password)
    from fate.flow.store_sqlite import SqliteStore

    return SqliteStore(data_dir, database_url)
