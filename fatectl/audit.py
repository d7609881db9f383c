"""`fatectl audit`: a party's audit log, verified on the operator's side.

The flow keeps the log hash-chained (docs/flow.md): record n's hash is

    sha256(prev_hash || canonical JSON of {seq, ts, kind, job_id, actor, detail})

with prev_hash the hash of record n-1 (64 zeros before record 1), as lowercase hex, and canonical
JSON = sorted keys, no spaces, ASCII only. The chain is recomputed here, by fatectl's own code, not
the engine's. A chain only shows edits that were not carried forward; someone able to rewrite the
whole log consistently defeats it, so `--verify` also keeps a checkpoint (the last verified seq
and hash) under the operator's lab directory and checks that the log still contains it.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypedDict

from fatectl.errors import AuditError, Problem
from fatectl.files import write_file
from fatectl.flowclient import FlowClient, client_for
from fatectl.lab.paths import audit_checkpoint
from fatectl.spec.model import Federation

GENESIS = "0" * 64
PAGE = 1000


class AuditRecord(TypedDict):
    seq: int
    ts: float
    kind: str
    job_id: str
    actor: str
    detail: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    hash: str
    verified_at: float


@dataclass(frozen=True)
class Verification:
    records: int
    head: Checkpoint | None  # the newest record, now the checkpoint
    previous: Checkpoint | None  # the checkpoint this verification was checked against
    checkpoint_file: str


@dataclass(frozen=True)
class AuditReport:
    party_id: int
    records: list[AuditRecord]
    verification: Verification | None

    def as_json(self) -> dict[str, Any]:
        return {"party": self.party_id, "records": self.records,
                "verification": asdict(self.verification) if self.verification else None}


def record_hash(prev_hash: str, record: Mapping[str, Any]) -> str:
    body = {k: record[k] for k in ("seq", "ts", "kind", "job_id", "actor", "detail")}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return hashlib.sha256(prev_hash.encode("ascii") + text.encode("ascii")).hexdigest()


def _name(record: Mapping[str, Any]) -> str:
    job = f", job {record['job_id']}" if record.get("job_id") else ""
    return f"record {record['seq']} ({record['kind']}{job})"


def chain_problem(records: Sequence[Mapping[str, Any]]) -> str:
    """The first record that breaks the chain, described; "" when the chain holds."""
    prev, expected = GENESIS, 1
    for record in records:
        seq = record["seq"]
        if seq != expected:
            if seq > expected:
                return f"record {expected} is missing: the log goes from record {expected - 1} to {seq}"
            return f"{_name(record)} is out of order: expected record {expected}"
        if record["prev_hash"] != prev:
            return f"{_name(record)} does not link to record {seq - 1}: it was dropped, edited or replaced"
        try:
            digest = record_hash(prev, record)
        except (KeyError, TypeError, ValueError):
            return f"{_name(record)} is malformed"
        if digest != record["hash"]:
            return f"{_name(record)} does not match its hash: its content was edited"
        prev, expected = record["hash"], expected + 1
    return ""


def checkpoint_problem(records: Sequence[Mapping[str, Any]], checkpoint: Checkpoint) -> str:
    """Whether the log still holds the record verified last time, unchanged."""
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(checkpoint.verified_at))
    found = next((r for r in records if r["seq"] == checkpoint.seq), None)
    if found is None:
        return (f"the log ends at record {records[-1]['seq'] if records else 0}, but record {checkpoint.seq} "
                f"was verified on {when}: the log was truncated or replaced")
    if found["hash"] != checkpoint.hash:
        return (f"{_name(found)} has hash {found['hash'][:16]}..., but was verified as {checkpoint.hash[:16]}... "
                f"on {when}: the history was rewritten")
    return ""


def read_checkpoint(path: Path) -> Checkpoint | None:
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Checkpoint(int(data["seq"]), str(data["hash"]), float(data["verified_at"]))
    except (OSError, ValueError, KeyError, TypeError) as err:
        # Verifying against a checkpoint we cannot read would be no verification at all.
        raise AuditError(f"cannot read the audit checkpoint {path} ({err}); "
                         "remove it only if you know why it is damaged") from None


def fetch_records(client: FlowClient) -> list[AuditRecord]:
    records: list[AuditRecord] = []
    while True:
        page = client.audit(after=records[-1]["seq"] if records else 0, limit=PAGE)
        records += page
        if len(page) < PAGE:
            return records


def audit_log(fed: Federation, party_id: int, verify: bool = False, root: Path | None = None) -> AuditReport:
    """The party's whole audit log; with verify, its chain and checkpoint checked (AuditError when
    either fails) and the checkpoint moved to the newest record."""
    records = fetch_records(client_for(fed, party_id, root=root))
    if not verify:
        return AuditReport(party_id, records, None)
    path = audit_checkpoint(fed.name, fed.party(party_id).name, root)
    previous = read_checkpoint(path)
    problem = chain_problem(records) or (checkpoint_problem(records, previous) if previous else "")
    if problem:
        raise AuditError(f"the audit log of party {party_id} failed verification", [Problem(problem)])
    head = Checkpoint(records[-1]["seq"], records[-1]["hash"], time.time()) if records else None
    if head is not None:
        write_file(path, json.dumps(asdict(head), indent=2) + "\n", mode=0o600)
    return AuditReport(party_id, records, Verification(len(records), head, previous, str(path)))
