"""Talking to a party's flow: address and token from the spec and the lab's secrets.

The flow of a lab party listens on 127.0.0.1 at its compose host port (local and
compose labs alike); its token is the party's `flow_token` secret of whichever lab
holds one (fatectl.lab.paths says where). Every refusal becomes a RemoteError carrying
the service's problems. The records are the flow API's JSON, typed as TypedDicts.
"""

from __future__ import annotations

import json
import re
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NotRequired, TypedDict, cast

import httpx

from fate.flow.waits import wait_text
from fatectl.errors import EnvironmentProblem, FatectlError, Problem, RemoteError, SpecError, Timeout
from fatectl.lab.paths import token_candidates
from fatectl.lab.readiness import flow_url
from fatectl.spec.model import Federation, Party

TERMINAL = ("success", "failed", "canceled")
UPLOAD_CHUNK = 1024 * 1024
TABLE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # as the flow checks it


class TableRecord(TypedDict):
    name: str
    rows: int
    features: list[str]
    label: bool
    created: float


class JobRecord(TypedDict):
    id: str
    name: str
    status: str  # waiting | pending | running | success | failed | canceled
    initiator: int
    spec: dict[str, Any]
    reason: str
    created: float
    updated: float
    waiting: NotRequired[list[dict[str, Any]]]  # a running job's pending receives, with link state


class LogEntry(TypedDict):
    seq: int
    ts: float
    source: str
    message: str


class OutputRecord(TypedDict):
    component: str
    role: str
    kind: str  # metric | model | data
    name: str
    value: Any


def _seg(value: str) -> str:
    """One URL path segment: a job id like '../tables' or '.' must not reach another route."""
    quoted = urllib.parse.quote(value, safe="")
    return quoted.replace(".", "%2E") if quoted in (".", "..") else quoted


class JobFailed(FatectlError):
    """A waited-for job ended without success."""

    exit_code = 7


@dataclass(frozen=True)
class FlowClient:
    base_url: str
    token: str
    party_id: int
    timeout: float = 120.0

    @contextmanager
    def _http(self) -> Iterator[httpx.Client]:
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(
            base_url=self.base_url, headers=headers, timeout=self.timeout, trust_env=False
        ) as client:
            yield client

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            with self._http() as client:
                resp = client.request(method, path, **kwargs)
        except httpx.HTTPError as err:
            raise EnvironmentProblem(
                f"flow of party {self.party_id} at {self.base_url} is unreachable ({type(err).__name__}: {err}); "
                "is the lab up? (fatectl status SPEC)"
            ) from None
        if resp.status_code >= 400:
            try:
                body = resp.json()
                message, problems = str(body.get("error", body)), [Problem(str(p)) for p in body.get("problems", [])]
            except (ValueError, AttributeError):
                message, problems = resp.text.strip()[:500] or f"HTTP {resp.status_code}", []
            raise RemoteError(f"party {self.party_id}: {message}", problems)
        return resp

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._send(method, path, **kwargs).json()

    def upload_table(self, name: str, path: Path, overwrite: bool = False) -> TableRecord:
        def chunks() -> Iterator[bytes]:
            with open(path, "rb") as fh:
                while block := fh.read(UPLOAD_CHUNK):
                    yield block

        params = {"overwrite": "true"} if overwrite else {}
        headers = {"Content-Type": "text/csv", "Content-Length": str(path.stat().st_size)}
        return cast(TableRecord, self._call("POST", f"/v1/tables/{name}", content=chunks(), params=params,
                                            headers=headers))

    def tables(self) -> list[TableRecord]:
        return cast(list[TableRecord], self._call("GET", "/v1/tables"))

    def submit(self, job_text: str) -> JobRecord:
        return cast(JobRecord, self._call("POST", "/v1/jobs", content=job_text.encode("utf-8"),
                                          headers={"Content-Type": "application/yaml"}))

    def jobs(self, limit: int = 100, status: str | None = None) -> list[JobRecord]:
        params: dict[str, Any] = {"limit": limit, **({"status": status} if status else {})}
        return cast(list[JobRecord], self._call("GET", "/v1/jobs", params=params))

    def job(self, job_id: str) -> JobRecord:
        return cast(JobRecord, self._call("GET", f"/v1/jobs/{_seg(job_id)}"))

    def stop(self, job_id: str) -> JobRecord:
        return cast(JobRecord, self._call("POST", f"/v1/jobs/{_seg(job_id)}/stop"))

    def approve(self, job_id: str, reason: str = "") -> JobRecord:
        return cast(JobRecord, self._call("POST", f"/v1/jobs/{_seg(job_id)}/approve", json={"reason": reason}))

    def reject(self, job_id: str, reason: str = "") -> JobRecord:
        return cast(JobRecord, self._call("POST", f"/v1/jobs/{_seg(job_id)}/reject", json={"reason": reason}))

    def audit(self, after: int = 0, limit: int = 1000) -> list[Any]:
        """Audit records after seq `after` (fatectl.audit types and verifies them)."""
        return cast(list[Any], self._call("GET", "/v1/audit", params={"after": after, "limit": limit}))

    def logs(self, job_id: str, after: int = 0) -> list[LogEntry]:
        return cast(list[LogEntry], self._call("GET", f"/v1/jobs/{_seg(job_id)}/logs", params={"after": after}))

    def outputs(self, job_id: str) -> list[OutputRecord]:
        return cast(list[OutputRecord], self._call("GET", f"/v1/jobs/{_seg(job_id)}/outputs"))

    def output_csv(self, job_id: str, component: str, role: str) -> str:
        """An output table of a job on this party, as CSV text."""
        return self._send("GET", f"/v1/jobs/{_seg(job_id)}/data/{_seg(component)}/{_seg(role)}").text

    def metrics(self) -> str:
        """The flow's Prometheus metrics (text exposition format)."""
        return self._send("GET", "/metrics").text

    def links(self) -> dict[str, Any]:
        return cast(dict[str, Any], self._call("GET", "/v1/federation/links"))

    def wait(self, job_id: str, timeout: float = 3600.0, poll: float = 0.5,
             progress: Callable[[str], None] = lambda _: None) -> JobRecord:
        """Poll until the job ends; Timeout when it does not end in time. Each change of status or
        reason (waiting for a party's approval, running) goes to `progress`."""
        deadline = time.monotonic() + timeout
        seen = ("", "")
        while True:
            job = self.job(job_id)
            if job["status"] in TERMINAL:
                return job
            reason = job.get("reason", "")
            if (job["status"], reason) != seen:
                seen = (job["status"], reason)
                progress(f"job {job_id} {job['status']}" + (f": {reason}" if reason else ""))
            if time.monotonic() >= deadline:
                raise Timeout(
                    f"job {job_id} still {job['status']} after {timeout:g}s; it keeps running"
                    f" (`fatectl job status` to follow it, `fatectl job stop` to stop it)"
                )
            time.sleep(poll)


def find_token(fed: Federation, party: Party, secrets_dir: Path | None = None, root: Path | None = None) -> str:
    """The party's flow token: from `secrets_dir`, else from whichever lab of `fed` (under `root`) holds one."""
    candidates = ([secrets_dir / party.name / "flow_token"] if secrets_dir
                  else token_candidates(fed.name, party.name, root))
    for token_file in candidates:
        if token_file.is_file():
            return token_file.read_text(encoding="utf-8").strip()
    raise EnvironmentProblem(
        f"no flow token for party {party.id} ({party.name}); looked in {', '.join(map(str, candidates))}. "
        "Is the lab up?"
    )


def client_for(fed: Federation, party_id: int, secrets_dir: Path | None = None,
               root: Path | None = None) -> FlowClient:
    party = fed.party(party_id)
    if "flow" not in party.module_names:
        raise EnvironmentProblem(f"party {party_id} ({party.name}) runs no flow module")
    return FlowClient(flow_url(party), find_token(fed, party, secrets_dir, root), party_id)


# ---- core functions behind the CLI commands ----
def upload(fed: Federation, party_id: int, name: str, path: Path, overwrite: bool = False) -> TableRecord:
    if not TABLE_NAME.fullmatch(name):
        # Checked here too: a name with '/' or spaces would otherwise reach the flow as a bare 404.
        raise SpecError(f"table name {name!r}: letters, digits, _ . - (up to 64, starting with a letter or digit)")
    if not path.is_file():
        raise SpecError(f"{path}: no such file")  # bad input: exit 1, as for a missing spec
    return client_for(fed, party_id).upload_table(name, path, overwrite)


def submit(
    fed: Federation,
    party_id: int,
    job_file: Path,
    wait: bool = False,
    timeout: float = 3600.0,
    progress: Callable[[str], None] = lambda _: None,
) -> JobRecord:
    """Submit a job file; with wait, until it ends. JobFailed when it fails or is refused."""
    try:
        text = job_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise SpecError(f"{job_file}: cannot read the job file ({err})") from None
    client = client_for(fed, party_id)
    try:
        job = client.submit(text)
    except RemoteError as err:  # a refused job file: say which file (its problems name line and field)
        raise RemoteError(f"{job_file}: {err.message}", err.problems) from None
    if wait and job["status"] not in TERMINAL:
        job = client.wait(job["id"], timeout, progress=progress)
    if job["status"] in ("failed", "canceled"):
        raise JobFailed(f"job {job['id']} {job['status']}: {job['reason']}")
    return job


def pending_jobs(fed: Federation, party_id: int) -> list[dict[str, Any]]:
    """What waits for this party's approval, and what each job asks: who proposed it, every role,
    every party's table, and each component with its parameters."""
    jobs = client_for(fed, party_id).jobs(limit=1000, status="pending")
    return [
        {
            "id": job["id"],
            "name": job.get("name", ""),
            "initiator": job["initiator"],
            "roles": job["spec"].get("roles", {}),
            "our_roles": [r for r, ids in job["spec"].get("roles", {}).items() if party_id in ids],
            "tables": job["spec"].get("tables", {}),
            "pipeline": [
                {"name": s.get("name"), "component": s.get("component"), "params": s.get("params", {})}
                for s in job["spec"].get("pipeline", [])
            ],
            "reason": job.get("reason", ""),
            "created": job["created"],
        }
        for job in jobs
    ]


def decide(fed: Federation, party_id: int, job_id: str, approve: bool, reason: str = "") -> JobRecord:
    """Approve or reject a job waiting for this party's approval."""
    client = client_for(fed, party_id)
    return client.approve(job_id, reason) if approve else client.reject(job_id, reason)


def scalar_metrics(fed: Federation, party_id: int, job_id: str) -> list[dict[str, Any]]:
    """The job's single-number metrics on this party (AUC, KS, intersection size ...), for a summary."""
    rows = client_for(fed, party_id).outputs(job_id)
    return [
        {k: r[k] for k in ("component", "role", "name", "value")}
        for r in rows
        if r["kind"] == "metric" and isinstance(r["value"], int | float) and not isinstance(r["value"], bool)
    ]


def job_summary(job: JobRecord) -> dict[str, Any]:
    roles = job.get("spec", {}).get("roles", {})
    return {
        "id": job["id"],
        "name": job.get("name", ""),
        "status": job["status"],
        "initiator": job["initiator"],
        "roles": " ".join(f"{r}={','.join(map(str, ids))}" for r, ids in roles.items()),
        "updated": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(job["updated"])),
        "reason": job.get("reason", ""),
        "waiting": "; ".join(wait_text(w) for w in job.get("waiting", [])),
    }


def to_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True)
