"""A party's audit log: what it was asked, what it decided and why, what ran and on which data.

Append-only and hash-chained, in the flow's own store (table `audit`, migration 2). Each record
is `{seq, ts, kind, job_id, actor, detail}`; its `hash` is

    sha256(prev_hash || canonical JSON of the record)

with `prev_hash` the previous record's hash (64 zeros before the first), both as lowercase hex,
and canonical JSON being sorted keys, no spaces, ASCII only. Editing, dropping or reordering a
record breaks every hash after it; rewriting the whole chain consistently is caught by the
operator's checkpoint (`fatectl audit --verify` keeps the last verified seq and hash).

Appends from the flow and from its worker processes are serialized by the store (SQLite's
BEGIN IMMEDIATE, PostgreSQL's advisory lock), so seq is gapless whoever writes. Either backend
stores the same rows and this module computes every hash, so a chain verifies the same on both.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from typing import Any, TypedDict

from fate.flow.jobspec import JobSpec
from fate.flow.store import AuditRow, Store

GENESIS = "0" * 64
# What a record is about; fatectl shows them, docs/flow.md explains them.
KINDS = (
    "proposal",  # a job was proposed to us (or submitted here): by whom, what, on which tables
    "decision",  # our verdict on it: accept | pending | refuse, and the rule or check that made it
    "approval",  # an operator approved a pending job
    "rejection",  # an operator rejected a pending job
    "reply",  # a party's answer to our proposal
    "start",  # the job started here
    "end",  # the job ended here: status and reason
    "dropout",  # a client of a job that goes on without it failed (fate.flow.dropouts)
    "read",  # a worker read one of our tables
    "output",  # a worker wrote an output (data table, model, metric)
    "ignored",  # a control message we did not act on (forged, malformed, not allowed)
)
MAX_FIELD = 256  # a hostile peer chooses job ids and message types; keep them short here


class AuditRecord(TypedDict):
    seq: int
    ts: float
    kind: str
    job_id: str
    actor: str
    detail: dict[str, Any]
    prev_hash: str
    hash: str


def canonical(record: Mapping[str, Any]) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode()


def record_hash(prev_hash: str, record: Mapping[str, Any]) -> str:
    """The hash of one record, chained to the previous record's hash."""
    body = {k: record[k] for k in ("seq", "ts", "kind", "job_id", "actor", "detail")}
    return hashlib.sha256(prev_hash.encode("ascii") + canonical(body)).hexdigest()


def digest(value: Any) -> str:
    """A short, stable fingerprint of JSON data (job parameters), for records that must not hold it all."""
    # Outputs may hold inf or NaN (a ROC's first threshold is inf): fingerprint them as written,
    # while the chain's own records stay strict JSON.
    text = json.dumps({"v": value}, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def short(text: Any, limit: int = MAX_FIELD) -> str:
    value = str(text)
    return value if len(value) <= limit else value[:limit] + "..."


class AuditLog:
    def __init__(self, store: Store) -> None:
        self.store = store

    def append(self, kind: str, job_id: str, actor: str, detail: Mapping[str, Any]) -> AuditRecord:
        if kind not in KINDS:
            raise ValueError(f"unknown audit record kind {kind!r}")
        # Through JSON once, so the hash covers exactly what a reader will get back.
        detail_json = json.loads(canonical(dict(detail)))

        def make(seq: int, prev_hash: str | None) -> AuditRow:
            prev = prev_hash or GENESIS
            body: dict[str, Any] = {
                "seq": seq,
                "ts": round(time.time(), 6),
                "kind": kind,
                "job_id": short(job_id),
                "actor": short(actor),
                "detail": detail_json,
            }
            return AuditRow(seq=seq, ts=body["ts"], kind=kind, job_id=body["job_id"], actor=body["actor"],
                            detail=canonical(detail_json).decode(), prev_hash=prev, hash=record_hash(prev, body))

        return _record(self.store.append_audit(make))

    def records(self, after: int = 0, limit: int = 1000, job_id: str | None = None) -> list[AuditRecord]:
        return [_record(row) for row in self.store.audit_records(after, limit, job_id)]


def _record(row: AuditRow) -> AuditRecord:
    return AuditRecord(seq=row["seq"], ts=row["ts"], kind=row["kind"], job_id=row["job_id"], actor=row["actor"],
                       detail=json.loads(row["detail"]), prev_hash=row["prev_hash"], hash=row["hash"])


def proposal_detail(src: int, spec: JobSpec, me: int) -> dict[str, Any]:
    """What a proposal asks of us, enough to judge it later without the job file: who, which
    roles and tables, which components, and a fingerprint of every component's parameters."""
    return {
        "from": src,
        "name": spec.name,
        "roles": {r: list(ids) for r, ids in spec.roles.items()},
        "our_roles": list(spec.roles_of(me)),
        "tables": {str(p): t for p, t in sorted(spec.tables.items())},
        "components": [s.component for s in spec.pipeline],
        "params_digest": digest({s.name: dict(s.params) for s in spec.pipeline}),
    }
