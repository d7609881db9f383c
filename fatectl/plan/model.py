"""A plan: per party, the files, Kubernetes resources and processes a command would change.

Secrets never appear in a plan's text: a secret file is only ever "added" or "changed".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Change = Literal["added", "removed", "changed"]
FEDERATION = "(federation)"  # files that belong to no single party (compose.yaml, .gitignore)


@dataclass(frozen=True)
class FileChange:
    path: str  # relative to the plan's directory
    change: Change
    secret: bool = False
    diff: str = ""  # unified diff of a changed non-secret file
    note: str = ""  # e.g. "render leaves it in place"


@dataclass(frozen=True)
class ResourceChange:
    kind: str
    name: str
    change: Change
    fields: tuple[str, ...] = ()  # changed top-level paths (spec.template..., data.router.yaml)


@dataclass(frozen=True)
class ServiceAction:
    service: str  # "bank-a/router" (process) or "bank-a-router" (container)
    action: str  # start | create | reload | restart | recreate | stop | remove
    reason: str = ""


@dataclass(frozen=True)
class PartyPlan:
    party: str  # name, or FEDERATION
    party_id: int | None
    files: tuple[FileChange, ...] = ()
    resources: tuple[ResourceChange, ...] = ()
    services: tuple[ServiceAction, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.files or self.resources or self.services)


@dataclass(frozen=True)
class Plan:
    target: str  # "helm charts in out/", "local lab .lab/x/local", ...
    parties: tuple[PartyPlan, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def changed(self) -> bool:
        return any(p.changed for p in self.parties)

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "changed": self.changed,
            "notes": list(self.notes),
            "parties": [
                {
                    "party": p.party,
                    "party_id": p.party_id,
                    "files": [vars(f) for f in p.files],
                    "resources": [{**vars(r), "fields": list(r.fields)} for r in p.resources],
                    "services": [vars(s) for s in p.services],
                }
                for p in self.parties
                if p.changed
            ],
        }

    def lines(self, with_diffs: bool = True) -> list[str]:
        """The plan as a reader scans it: one block per party that changes."""
        out = [f"plan for {self.target}:"]
        for party in self.parties:
            if not party.changed:
                continue
            title = party.party if party.party_id is None else f"party {party.party_id} ({party.party})"
            out.append(f"\n{title}")
            for f in party.files:
                what = f"{f.change} (secret: content not shown)" if f.secret else f.change
                out.append(f"  file {f.path}: {what}" + (f"; {f.note}" if f.note else ""))
                if with_diffs and f.diff:
                    out.extend("    " + line for line in f.diff.rstrip("\n").splitlines())
            for r in party.resources:
                fields = f" ({', '.join(r.fields)})" if r.fields else ""
                out.append(f"  {r.kind}/{r.name}: {r.change}{fields}")
            for s in party.services:
                out.append(f"  {s.service}: {s.action}" + (f" ({s.reason})" if s.reason else ""))
        if not self.changed:
            out.append("  nothing would change")
        out.extend(f"note: {n}" for n in self.notes)
        return out
