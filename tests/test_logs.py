"""Structured logs: one JSON object per line, job ids where known, and the flag reaching real processes."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fate import logs


def _record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("fate.flow", logging.WARNING, __file__, 1, message, args, None)
    record.__dict__.update(extra)
    return record


def test_a_json_line_has_the_fields_and_stays_one_line() -> None:
    formatter = logs.JsonFormatter()
    line = formatter.format(_record("ignored %r\nfrom party %s", "start", 10000, job_id="abc123"))
    assert "\n" not in line
    data = json.loads(line)
    assert data["level"] == "WARNING" and data["logger"] == "fate.flow" and data["job_id"] == "abc123"
    assert data["message"] == "ignored 'start'\nfrom party 10000"
    assert data["ts"].endswith("Z") and "T" in data["ts"]
    assert "job_id" not in json.loads(formatter.format(_record("no job here")))
    try:
        raise ValueError("boom")
    except ValueError:
        record = _record("failed")
        record.exc_info = sys.exc_info()
    data = json.loads(formatter.format(record))
    assert "ValueError: boom" in data["exc"]


def test_a_worker_process_tags_every_line_with_its_job() -> None:
    logs.set_process_job("job42")
    try:
        assert json.loads(logs.JsonFormatter().format(_record("x")))["job_id"] == "job42"
    finally:
        logs.set_process_job(None)


def test_the_format_comes_from_the_flag_else_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(logs.ENV, "json")
    assert logs.chosen_format(None) == "json"
    assert logs.chosen_format("text") == "text"
    monkeypatch.setenv(logs.ENV, "yaml")
    assert logs.chosen_format(None) == "text"


def test_a_router_started_with_log_format_json_writes_json_lines(tmp_path: Path) -> None:
    config = tmp_path / "router.yaml"
    config.write_text(json.dumps({
        "party_id": 9999, "listen": {"host": "127.0.0.1", "port": 0}, "tls": {"mode": "none"},
        "data_dir": str(tmp_path / "data"),
    }))
    env = {k: v for k, v in os.environ.items() if k != logs.ENV}
    proc = subprocess.Popen(
        [sys.executable, "-m", "fate", "router", "--config", str(config), "--log-format", "json"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env,
    )
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()  # the router's "listening on" line: the event we wait for
    finally:
        proc.terminate()
        proc.wait(10)
    data = json.loads(first)
    assert data["logger"] == "fate.router" and "listening on 127.0.0.1" in data["message"]


def test_a_worker_does_not_log_each_http_request(tmp_path: Path) -> None:
    """Workers talk to their router with httpx, which would log every message at INFO."""
    script = (
        "import logging, sys\n"
        "from fate import logs\n"
        "logs.configure('json')\n"
        "logging.getLogger('httpx').info('HTTP Request: POST /v1/messages')\n"
        "logging.getLogger('fate.worker').info('kept')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert [line["message"] for line in lines] == ["kept"]
