"""The engine's log lines: the classic text format, or one JSON object per line.

    python -m fate router|flow|board --config FILE --log-format json
    FATE_LOG_FORMAT=json python -m fate flow --config flow.yaml    # the same, from the environment

A JSON line holds `ts` (UTC, ISO 8601 with milliseconds), `level`, `logger`, `message`, and
`job_id` where it is known: a record logged with `extra={"job_id": ...}`, or any record of a
worker process (one process runs one job). A traceback travels in `exc`, inside the same line,
so a log shipper never splits one event into many. The chosen format is put into the
environment, so the workers a flow starts write their worker.log the same way.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import Any

FORMATS = ("text", "json")
ENV = "FATE_LOG_FORMAT"
TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_process_job: str | None = None


def set_process_job(job_id: str | None) -> None:
    """Every record of this process is about `job_id` (a worker runs exactly one job)."""
    global _process_job
    _process_job = job_id


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        job_id = getattr(record, "job_id", None) or _process_job
        if job_id:
            line["job_id"] = str(job_id)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        # default=str: a message argument that is not JSON-able must not lose the whole line.
        return json.dumps(line, ensure_ascii=False, default=str)


def add_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log-format",
        choices=FORMATS,
        default=None,
        help=f"text (default) or json: one JSON object per line (also ${ENV})",
    )


def chosen_format(given: str | None) -> str:
    fmt = given or os.environ.get(ENV, "") or "text"
    return fmt if fmt in FORMATS else "text"


def configure(given: str | None = None, level: int = logging.INFO) -> str:
    """Send the root logger's records to stderr in the chosen format; returns the format."""
    fmt = chosen_format(given)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # The router client (httpx) would log every message and control-channel long-poll at INFO.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    os.environ[ENV] = fmt  # inherited by the worker processes a flow starts
    return fmt
