"""A throwaway PostgreSQL cluster for the store tests: Debian's `postgresql` package, nothing else.

initdb into a temporary directory, `pg_ctl start` on a free port of 127.0.0.1 with password
(SCRAM) authentication, one database per test, and everything removed at the end. initdb refuses
to run as root, so as root (CI) the server runs as the package's `postgres` user.

Without the package (or psycopg) the PostgreSQL tests skip, unless FATECTL_POSTGRES=1 (dev.sh
sets it in CI): then that is a failure, so CI can never pass by skipping them.
"""

from __future__ import annotations

import itertools
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REQUIRED_ENV = "FATECTL_POSTGRES"
USER = "fate"


def pg_bindir() -> Path | None:
    """Where initdb and pg_ctl are: Debian keeps them out of PATH, in /usr/lib/postgresql/N/bin."""
    found = shutil.which("pg_ctl")
    if found and (Path(found).resolve().parent / "initdb").exists():
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3]))
    return versions[-1].parent if versions else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    bindir: Path
    directory: Path
    port: int
    password: str
    run_as: list[str]
    _names: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def url(self, database: str) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.url("postgres"), password=self.password, autocommit=True) as conn:
            conn.execute(sql)

    def create_database(self) -> str:
        """A fresh, empty database: each test gets its own, so none sees another's rows."""
        name = f"flow_{next(self._names)}"
        self.admin(f"CREATE DATABASE {name}")
        return self.url(name)

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [*self.run_as, str(self.bindir / args[0]), *args[1:]]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            log = self.directory / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}\n{tail}")
        return proc

    def start(self) -> None:
        data = self.directory / "data"
        pwfile = self.directory / "pw"
        pwfile.write_text(self.password)
        self._chown(self.directory, pwfile)
        self._run("initdb", "-D", str(data), "-U", USER, f"--pwfile={pwfile}", "--auth-host=scram-sha-256",
                  "--auth-local=trust", "-E", "UTF8", "--no-locale", "--no-sync")
        pwfile.unlink()
        # Durability is not what these tests are about; speed on a shared 2-core host is.
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.directory} -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300")
        self._run("pg_ctl", "start", "-D", str(data), "-l", str(self.directory / "server.log"), "-w", "-t", "60",
                  "-o", options)

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "stop", "-D", str(self.directory / "data"), "-m", "immediate", "-w")
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    def _chown(self, *paths: Path) -> None:
        if self.run_as:
            for path in paths:
                shutil.chown(path, "postgres", "postgres")


def _missing(reason: str) -> None:
    if os.environ.get(REQUIRED_ENV) == "1":
        pytest.fail(f"{REQUIRED_ENV}=1 but {reason}", pytrace=False)
    pytest.skip(f"{reason} (set {REQUIRED_ENV}=1 to make this a failure)")


def start_cluster() -> Cluster:
    """A running cluster, or a skip (a failure under FATECTL_POSTGRES=1) naming what is missing."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _missing("psycopg is not installed (pip install -e '.[test]')")
    bindir = pg_bindir()
    if bindir is None:
        _missing("no PostgreSQL server binaries (apt-get install postgresql)")
        raise AssertionError  # unreachable: _missing skips or fails
    run_as: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            _missing("running as root without runuser to start PostgreSQL as the postgres user")
        run_as = ["runuser", "-u", "postgres", "--"]
    # Not under pytest's tmp_path: that is private to root, and the server may run as postgres.
    directory = Path(tempfile.mkdtemp(prefix="fatectl-pg-"))
    cluster = Cluster(bindir, directory, _free_port(), secrets.token_urlsafe(16), run_as)
    try:
        cluster.start()
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return cluster
