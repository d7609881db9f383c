"""The jobs waiting for this party's approval, and everything each asks of it, as the page shows
them. The board cannot approve (it only reads): it shows the exact `fatectl` command to run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fate.board.views import when

MAX_PARAMS = 4000  # characters of one step's parameters shown; the rest is cut with a note


@dataclass(frozen=True)
class Step:
    name: str
    component: str
    needs: str
    params: str  # pretty JSON


@dataclass(frozen=True)
class Pending:
    id: str
    href: str
    name: str
    initiator: str
    created: str
    reason: str  # which rule asked for approval, and the deadline
    roles: tuple[tuple[str, str, bool], ...]  # (role, party ids, this party holds it)
    tables: tuple[tuple[str, str, bool], ...]  # (party, table, this party's)
    steps: tuple[Step, ...]
    approve: str
    reject: str


def _params(value: Any) -> str:
    text = json.dumps(value if isinstance(value, Mapping) else {}, indent=2, sort_keys=True, default=str)
    return text if len(text) <= MAX_PARAMS else text[:MAX_PARAMS] + f"\n... ({len(text)} characters)"


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def pending(jobs: Sequence[Mapping[str, Any]], party_id: int) -> list[Pending]:
    out = []
    for job in jobs:
        spec = _mapping(job.get("spec"))
        roles, tables = _mapping(spec.get("roles")), _mapping(spec.get("tables"))
        pipeline = spec.get("pipeline")
        pipeline = pipeline if isinstance(pipeline, list) else []
        job_id = str(job.get("id", ""))
        command = f"fatectl job {{}} SPEC --party {party_id} {job_id} [--reason TEXT]"
        out.append(Pending(
            id=job_id,
            href="/jobs/" + quote(job_id, safe=""),
            name=str(job.get("name", "")),
            initiator=str(job.get("initiator", "")),
            created=when(job.get("created")),
            reason=str(job.get("reason", "")),
            roles=tuple(
                (str(role), ", ".join(str(i) for i in ids), party_id in ids)
                for role, ids in roles.items() if isinstance(ids, list)
            ),
            tables=tuple((str(p), str(t), str(p) == str(party_id)) for p, t in tables.items()),
            steps=tuple(
                Step(str(s.get("name", "")), str(s.get("component", "")),
                     ", ".join(str(n) for n in s.get("needs", []) if isinstance(n, str))
                     if isinstance(s.get("needs"), list) else "",
                     _params(s.get("params")))
                for s in pipeline if isinstance(s, Mapping)
            ),
            approve=command.format("approve"),
            reject=command.format("reject"),
        ))
    return out
