"""PostgreSQL as a party's store: how flow.yaml names it and its password, and a real flow process
that keeps its tables and jobs across a restart on it."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

import httpx
import pytest

from fate.flow.config import parse_flow_config
from fate.flow.errors import ConfigError
from fate.flow.jobspec import parse_job
from fate.flow.store import open_store
from fate.flow.store_postgres import MIGRATIONS, PostgresStore, redact
from tests.flow.postgres import USER, Cluster
from tests.processes import free_port, start_server, stop, wait_healthy

JOB = parse_job("name: demo\nroles: {guest: [9999], host: [10000]}\ntables: {9999: breast, 10000: breast}\n"
                "pipeline: [{name: p, component: psi}]\n").to_dict()


def _config(tmp: Path, **extra: Any) -> dict[str, Any]:
    return {"party_id": 9999, "listen": {"host": "127.0.0.1", "port": 0}, "token_file": str(tmp / "token"),
            "router": {"host": "127.0.0.1", "port": 1}, "data_dir": str(tmp / "data"), **extra}


def test_a_password_is_never_written_into_flow_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        parse_flow_config(_config(tmp_path, database_url="postgresql://fate:hunter2@db:5432/flow"))
    assert "database_url: the password must not be written into flow.yaml" in str(err.value)
    with pytest.raises(ConfigError, match="expected sqlite:///PATH, postgresql://"):
        parse_flow_config(_config(tmp_path, database_url="mysql://db/flow"))
    with pytest.raises(ConfigError, match="give database_url or database_url_env, not both"):
        parse_flow_config(_config(tmp_path, database_url="postgresql://fate@db/flow", database_url_env="X"))


def test_the_url_may_come_from_the_environment_and_the_password_from_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = parse_flow_config(_config(tmp_path, database_url_env="FATE_DATABASE_URL"))
    monkeypatch.delenv("FATE_DATABASE_URL", raising=False)
    with pytest.raises(ConfigError, match="environment variable FATE_DATABASE_URL is not set"):
        config.database()
    # From a Kubernetes Secret the URL may carry its password: it is in no rendered file.
    monkeypatch.setenv("FATE_DATABASE_URL", "postgresql://fate:s3cret@db:5432/flow")
    assert config.database() == ("postgresql://fate:s3cret@db:5432/flow", None)
    (tmp_path / "pw").write_text("from-a-file\n")
    with_file = parse_flow_config(_config(tmp_path, database_url="postgresql://fate@db/flow",
                                          database_password_file=str(tmp_path / "pw")))
    assert with_file.database() == ("postgresql://fate@db/flow", "from-a-file")
    assert parse_flow_config(_config(tmp_path)).database() == ("", None)


def test_messages_never_show_a_password() -> None:
    assert redact("postgresql://fate:s3cret@db:5432/flow") == "postgresql://fate:***@db:5432/flow"
    assert redact("postgresql://fate@db/flow") == "postgresql://fate@db/flow"


def test_a_wrong_password_is_a_clear_start_up_error(postgres: Cluster) -> None:
    url = postgres.create_database()
    with pytest.raises(ConfigError, match=r"cannot connect: .*password authentication failed") as err:
        open_store(Path(postgres.directory / "unused"), url.replace(f"{USER}@", f"{USER}:wrong@"))
    assert "wrong" not in str(err.value)
    store = open_store(Path(postgres.directory / "unused"), url, postgres.password)
    assert isinstance(store, PostgresStore) and store.schema_version() == len(MIGRATIONS)
    store.close()


def test_a_flow_role_without_ddl_rights_runs_but_cannot_touch_the_audit_log(
    tmp_path: Path, postgres: Cluster
) -> None:
    """The hardening docs/flow.md describes: the owner migrates once, the flow's role gets only
    what it uses, and then not even the flow's own credentials can drop the audit triggers."""
    import psycopg

    from fate.flow.audit import AuditLog

    url = postgres.create_database()
    open_store(tmp_path, url, postgres.password).close()  # the first start, as the owner
    role = f"flow_{secrets.token_hex(4)}"
    with psycopg.connect(url, password=postgres.password, autocommit=True) as owner:
        for sql in (f"CREATE ROLE {role} LOGIN PASSWORD 'flow-role-pw'", "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
                    f"GRANT SELECT, INSERT, UPDATE ON tables, jobs, logs, outputs, counters TO {role}",
                    f"GRANT SELECT ON schema_version TO {role}", f"GRANT SELECT, INSERT ON audit TO {role}"):
            owner.execute(sql.encode())
    flow_url = url.replace(f"{USER}@", f"{role}@")
    store = open_store(tmp_path, flow_url, "flow-role-pw")
    store.create_job("j", JOB, 9999, "running")
    store.log("j", "flow", "hello")
    store.mark_done("j", 9999)
    assert store.next_counter("k") == 0 and store.set_status("j", "success")
    AuditLog(store).append("end", "j", "flow", {"status": "success"})
    with psycopg.connect(flow_url, password="flow-role-pw", autocommit=True) as flow:
        for sql in (b"DROP TRIGGER audit_no_update ON audit", b"UPDATE audit SET actor='x'", b"TRUNCATE audit"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                flow.execute(sql)
    assert [r["kind"] for r in AuditLog(store).records()] == ["end"]
    store.close()


def test_a_connection_the_server_dropped_is_replaced(tmp_path: Path, postgres: Cluster) -> None:
    """A database restart or failover: the call that meets the dead connection fails, the next
    one reconnects instead of failing forever."""
    import psycopg

    url = postgres.create_database()
    store = open_store(tmp_path, url, postgres.password)
    store.create_job("j", JOB, 9999, "running")
    with psycopg.connect(url, password=postgres.password, autocommit=True) as admin:
        admin.execute(b"SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      b"WHERE application_name = 'fate-flow' AND datname = current_database()")
    with pytest.raises(psycopg.OperationalError):
        store.get_job("j")
    assert store.get_job("j")["status"] == "running"
    store.close()


def test_a_restarted_flow_on_postgres_keeps_its_tables_and_jobs(tmp_path: Path, postgres: Cluster) -> None:
    """As on Kubernetes with flow.database.existingSecret: the URL and the password reach the flow
    as environment variables, flow.yaml names only the variable."""
    token = secrets.token_urlsafe(32)
    (tmp_path / "token").write_text(token)
    port = free_port()
    config = tmp_path / "flow.yaml"
    # No router runs: the flow serves tables and jobs without one.
    config.write_text(json.dumps({**_config(tmp_path, database_url_env="FATE_DATABASE_URL"),
                                  "listen": {"host": "127.0.0.1", "port": port}}))
    env = {**os.environ, "FATE_DATABASE_URL": postgres.create_database(), "PGPASSWORD": postgres.password}
    url, auth, log = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {token}"}, tmp_path / "flow.log"

    flow = start_server("flow", config, log, env)
    try:
        wait_healthy(url, flow, log)
        upload = httpx.post(f"{url}/v1/tables/breast", content=b"id,y,x\na,1,0.5\nb,0,1.5\n", headers=auth)
        assert upload.status_code == 201, upload.text
        # A job as the scheduler records one it agreed on, through the same store, from another process.
        store = open_store(tmp_path / "data", env["FATE_DATABASE_URL"], postgres.password)
        store.create_job("job-1", JOB, 9999, "running")
        store.close()
    finally:
        stop(flow)
    assert not (tmp_path / "data" / "flow.db").exists()  # nothing went to SQLite

    flow = start_server("flow", config, log, env)
    try:
        wait_healthy(url, flow, log)
        tables = httpx.get(f"{url}/v1/tables", headers=auth).json()
        assert [(t["name"], t["rows"]) for t in tables] == [("breast", 2)]
        job = httpx.get(f"{url}/v1/jobs/job-1", headers=auth).json()
        # It was running when the flow stopped: the new flow found it and failed it, as on SQLite.
        assert (job["id"], job["name"], job["status"]) == ("job-1", "demo", "failed")
        assert job["reason"] == "party 9999: flow restarted while the job was running"
        audit = httpx.get(f"{url}/v1/audit?after=0", headers=auth).json()
        assert [(r["kind"], r["job_id"]) for r in audit] == [("end", "job-1")]
    finally:
        stop(flow)
