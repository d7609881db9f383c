"""One store backend under test: how to open its store again, and what someone with direct access
to its database (not the flow's code) can do to it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fate.flow.store import Store, open_store
from tests.flow.postgres import Cluster


@dataclass
class Backend:
    name: str  # sqlite | postgres
    data_dir: Path
    url: str = ""  # empty: SQLite in data_dir
    cluster: Cluster | None = None
    opened: list[Store] = field(default_factory=list)

    def open(self) -> Store:
        """A store on this test's database, as the flow or one of its workers opens it."""
        store = open_store(self.data_dir, self.url, self.cluster.password if self.cluster else None)
        self.opened.append(store)
        return store

    def close(self) -> None:
        for store in self.opened:
            store.close()

    def execute(self, sql: str, *args: Any) -> None:
        """Run SQL on a connection of its own, with the flow's credentials, outside the store's code."""
        if self.cluster is None:
            import sqlite3

            db = sqlite3.connect(self.data_dir / "flow.db", isolation_level=None)
            try:
                db.execute(sql, args)
            finally:
                db.close()
            return
        import psycopg

        with psycopg.connect(self.url, password=self.cluster.password, autocommit=True) as conn:
            conn.execute(sql.replace("?", "%s"), args or None)

    def drop_audit_guards(self) -> None:
        """What the owner of the database can always do: drop the append-only triggers."""
        for trigger in ("audit_no_update", "audit_no_delete"):
            on = "" if self.cluster is None else " ON audit"
            self.execute(f"DROP TRIGGER IF EXISTS {trigger}{on}")

    def tamper(self, sql: str, *args: Any) -> None:
        self.drop_audit_guards()
        self.execute(sql, *args)

    def set_schema_version(self, version: int) -> None:
        """Pretend a newer flow migrated this database."""
        if self.cluster is None:
            self.execute(f"PRAGMA user_version = {version}")
        else:
            self.execute("INSERT INTO schema_version(version, applied) VALUES (?, 0)", version)
