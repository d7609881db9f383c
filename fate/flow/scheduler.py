"""Agreeing, starting, watching and ending jobs across parties, over the control channel.

Agreement is asynchronous. `submit` stores the job (`waiting`), proposes it to every other
participant and returns. Each participant judges the proposal (fate.flow.agreement) and answers
at once: `accept`, `pending` (a person must approve; the job waits there as `pending` until
`approve` or `reject`) or `refuse`. When every participant has accepted, the initiator
broadcasts `start`, and only a job this party accepted moves to running here. A refusal, a
party silent for AGREE_TIMEOUT, or an approval not given within the approval timeout fails the
job on every party. A party whose worker fails tells everyone, and everyone fails the job with
that party's reason (except where a client may drop out of horizontal training: fate.flow.dropouts,
the dropout recorded instead); a stop likewise reaches every party. What this party is asked, decides and
does goes to its audit log (fate.flow.audit), and so does every control message it ignores.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from fate.federation.transport import Transport, TransportError
from fate.flow.agreement import Agreement, Evaluation, data_problems, evaluate
from fate.flow.audit import proposal_detail, short
from fate.flow.config import FlowConfig
from fate.flow.dropouts import DROPOUT_SOURCE, dropout_refused
from fate.flow.errors import BadRequest, Conflict
from fate.flow.jobspec import NAME, JobSpec, validate_job
from fate.flow.policy import public_refusal
from fate.flow.runner import JobRunner, log
from fate.flow.store import JobRecord, Store

AGREE_TIMEOUT = 60.0  # every participant acknowledges a proposal within this, or the job fails
DEADLINE_TICK = 0.25


def _utc(seconds_from_now: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(time.time() + seconds_from_now))


class Scheduler(JobRunner):
    def __init__(self, config: FlowConfig, store: Store, transport: Transport, config_path: Path,
                 agree_timeout: float = AGREE_TIMEOUT) -> None:
        super().__init__(config, store, transport, config_path)
        self.agree_timeout = agree_timeout
        self._agreements: dict[str, Agreement] = {}  # jobs we proposed, until started or failed
        self._approvals: dict[str, float] = {}  # our pending jobs -> monotonic approval deadline
        threading.Thread(target=self._watch_deadlines, name="agreement-deadlines", daemon=True).start()

    def _forget(self, job_id: str) -> None:
        self._agreements.pop(job_id, None)
        self._approvals.pop(job_id, None)

    # ---- message handling ----
    def _handle(self, src: int, msg: dict[str, Any], size: int = 0) -> None:
        kind, job_id = msg.get("type"), str(msg.get("job_id", ""))
        if kind == "propose":
            self._on_propose(src, job_id, msg.get("spec"), size)
        elif kind in ("accept", "pending", "refuse"):
            self._on_reply(src, job_id, str(kind), str(msg.get("reason", "")))
        elif kind in ("start", "failed", "stop", "done"):
            why = self._may_not_steer(src, job_id, kind)
            if why:
                self._ignored(src, job_id, kind, why)
            elif kind == "start":
                if self.store.set_status(job_id, "running", "", expect=("waiting",)):
                    self.audit.append("start", job_id, f"party {src}", {"initiator": src})
                    self._start_worker(job_id)
            elif kind == "failed":
                self._on_failed(src, job_id, str(msg.get("reason", f"party {src} failed")))
            elif kind == "stop":
                self._end(job_id, "canceled", f"stopped by party {src}")
            else:
                self._check_done(job_id, self.store.mark_done(job_id, src))
        else:
            self._ignored(src, job_id, kind, "unknown message type")

    def _on_failed(self, src: int, job_id: str, reason: str) -> None:
        """A party failed: the job fails here too, unless it is a client that may drop out (fate.flow.dropouts)."""
        job = self.store.get_job(job_id)
        refused = dropout_refused(validate_job(job["spec"]), src)
        if refused or job["status"] != "running":
            self._end(job_id, "failed", reason)
            return
        note = short(reason, 1000)
        self.store.log(job_id, DROPOUT_SOURCE, f"party {src} dropped out: {note}")
        self.store.log(job_id, "flow", f"party {src} dropped out ({note}); the job goes on without it "
                                       "while the aggregator's protocol allows")
        self.audit.append("dropout", job_id, f"party {src}", {"party": src, "reason": note})
        self._check_done(job_id, self.store.mark_done(job_id, src))

    def _may_not_steer(self, src: int, job_id: str, kind: str) -> str:
        """Why `src` may not send `kind` for this job ("" when it may): only a job's participants
        end it, only its initiator starts it, and only once this party has accepted it."""
        if not NAME.match(job_id) or not self.store.has_job(job_id):
            return "no such job here"
        job = self.store.get_job(job_id)
        if kind == "start":
            if src != job["initiator"]:
                return f"only the initiator, party {job['initiator']}, starts the job"
            if job["status"] != "waiting":
                return f"the job is {job['status']} here, not accepted and waiting to start"
            return ""
        if src not in validate_job(job["spec"]).parties:
            return f"party {src} has no role in the job"
        if kind == "done" and job["status"] not in ("waiting", "running"):
            return f"the job is {job['status']} here"
        return ""

    def _decided(self, job_id: str, ev: Evaluation, actor: str) -> None:
        self.audit.append("decision", job_id if NAME.match(job_id) else "", actor, {
            "verdict": ev.verdict, "stage": ev.stage, "rule": ev.rule, "reason": short(ev.reason, 1000),
            "public": short(ev.public, 1000)})

    def _on_propose(self, src: int, job_id: str, raw_spec: Any, size: int) -> None:
        ev = evaluate(self.config, self.store, src, job_id, raw_spec, size)
        spec = ev.spec
        detail = proposal_detail(src, spec, self.me) if spec else {"from": src, "job_id": short(job_id), "valid": False}
        self.audit.append("proposal", job_id if NAME.match(job_id) else "", f"party {src}", detail)
        self._decided(job_id, ev, "policy")
        reply: dict[str, Any] = {"type": ev.verdict, "job_id": job_id}
        if ev.verdict == "refuse":
            reply["reason"] = ev.public
            if spec is not None and ev.recorded:
                self.store.create_job(job_id, spec.to_dict(), src, "failed", f"refused ({ev.rule}): {ev.reason}")
                self.store.log(job_id, "flow", f"proposed by party {src}; refused ({ev.rule}): {ev.reason}")
        elif spec is not None and ev.verdict == "pending":
            timeout = self.policy.approval_timeout
            self.store.create_job(job_id, spec.to_dict(), src, "pending",
                                  f"needs approval by an operator of party {self.me} ({ev.rule}) "
                                  f"before {_utc(timeout)}")
            self.store.log(job_id, "flow", f"proposed by party {src}; {ev.reason}")
            with self._lock:
                self._approvals[job_id] = time.monotonic() + timeout
            self.listen(set(spec.parties))
        elif spec is not None:
            self.store.create_job(job_id, spec.to_dict(), src, "waiting")
            try:
                self._joined(job_id, f"proposed by party {src}; accepted ({ev.reason})")
                self.listen(set(spec.parties))
            except TransportError as err:
                self._end(job_id, "failed", f"this party's router could not open the job: {err}")
                reply = {"type": "refuse", "job_id": job_id, "reason": f"party {self.me} could not open the job"}
        try:
            self._send(src, reply)
        except TransportError as err:
            self._end(job_id, "failed", f"could not answer party {src}: {err}")

    def _joined(self, job_id: str, how: str) -> None:
        """This party now takes part in the job: its own, accepted by a rule, or approved."""
        # Our router now takes the job's data from peers in full (unopened jobs get a small, expiring share).
        self.transport.open_job(job_id)
        self.store.log(job_id, "flow", how)

    # ---- agreement: the initiator's side ----
    def submit(self, spec: JobSpec) -> JobRecord:
        if self.me not in spec.parties:
            raise BadRequest(
                f"this party ({self.me}) has no role in the job; submit it to a participant's flow"
            )
        job_id = f"{uuid.uuid4().hex[:12]}"
        proposal = {"type": "propose", "job_id": job_id, "spec": spec.to_dict()}
        ev = evaluate(self.config, self.store, self.me, job_id, proposal["spec"], len(json.dumps(proposal)))
        self.audit.append("proposal", job_id, "operator", proposal_detail(self.me, spec, self.me))
        self._decided(job_id, ev, "policy")
        if ev.verdict != "accept":  # our own floors and tables hold for our own jobs too
            raise BadRequest("job refused by this party", ev.problems)
        others = frozenset(spec.parties) - {self.me}
        self.store.create_job(job_id, spec.to_dict(), self.me, "waiting", f"proposed to parties {sorted(others)}")
        self._joined(job_id, f"proposing to parties {sorted(others)}")
        with self._lock:
            self._agreements[job_id] = Agreement(others, time.monotonic() + self.agree_timeout)
        self.listen(set(spec.parties))
        problems = self._broadcast(tuple(sorted(others)), proposal)
        if problems:
            self._fail_agreement(job_id, "; ".join(problems))
        elif not others:
            self._start_agreed(job_id)
        return self.store.get_job(job_id)

    def _on_reply(self, src: int, job_id: str, kind: str, reason: str) -> None:
        now = time.monotonic()
        with self._lock:
            ag = self._agreements.get(job_id)
            if ag is not None and src in ag.others:
                ag.answered.add(src)
                if kind == "accept":
                    ag.accepted.add(src)
                    ag.pending.pop(src, None)
                elif kind == "pending" and src not in ag.accepted:
                    ag.pending.setdefault(src, now + self.policy.approval_timeout)
                waiting_for = sorted(ag.pending)
                complete = ag.accepted == ag.others
                if kind == "refuse" or complete:
                    del self._agreements[job_id]
            else:
                ag = None
        if ag is None:
            self._ignored(src, job_id, kind, "an answer to no open proposal of this party")
            return
        self.audit.append("reply", job_id, f"party {src}", {"from": src, "answer": kind, "reason": short(reason)})
        if kind == "refuse":
            self._fail_agreement(job_id, f"party {src} refused: {reason}")
        elif kind == "pending":
            self.store.log(job_id, "flow", f"party {src} needs an operator's approval")
            self.store.set_status(job_id, "waiting", f"waiting for approval by parties {waiting_for}",
                                  expect=("waiting",))
        elif complete:
            self._start_agreed(job_id)

    def _start_agreed(self, job_id: str) -> None:
        self.store.log(job_id, "flow", "every party accepted; starting")
        parties = validate_job(self.store.get_job(job_id)["spec"]).parties
        problems = self._broadcast(tuple(p for p in parties if p != self.me), {"type": "start", "job_id": job_id})
        if problems:  # a party that never heard `start` would leave the others waiting for it
            self._fail_everywhere(job_id, f"could not start the job: {'; '.join(problems)}")
        else:
            self._send(self.me, {"type": "start", "job_id": job_id})

    def _fail_agreement(self, job_id: str, reason: str) -> None:
        with self._lock:
            self._agreements.pop(job_id, None)
        self._fail_everywhere(job_id, f"not agreed: {reason}")

    def _fail_everywhere(self, job_id: str, reason: str) -> None:
        self._end(job_id, "failed", reason)
        parties = validate_job(self.store.get_job(job_id)["spec"]).parties
        self._broadcast(tuple(p for p in parties if p != self.me), {"type": "failed", "job_id": job_id,
                                                                     "reason": reason})

    # ---- approvals: a participant's side ----
    def _pending_job(self, job_id: str) -> JobRecord:
        job = self.store.get_job(job_id)
        if job["status"] != "pending":
            raise Conflict(f"job {job_id} is {job['status']}, not waiting for approval")
        return job

    def approve(self, job_id: str, note: str = "") -> JobRecord:
        job = self._pending_job(job_id)
        self.audit.append("approval", job_id, "operator", {"note": short(note)})
        problems = data_problems(self.store, self.me, validate_job(job["spec"]))
        if problems:  # the proposer hears what a policy refusal says: no table or model is revealed by approving
            ev = Evaluation("refuse", "table", "operator", tuple(problems), public_refusal(self.me))
            self._decided(job_id, ev, "operator")
            return self._refuse_pending(job, f"approved, but {'; '.join(problems)}", ev.public)
        if not self.store.set_status(job_id, "waiting", "approved; waiting for the other parties",
                                     expect=("pending",)):
            raise Conflict(f"job {job_id} is no longer waiting for approval")
        with self._lock:
            self._approvals.pop(job_id, None)
        self._joined(job_id, "approved by an operator" + (f": {note}" if note else ""))
        self._answer(job, {"type": "accept", "job_id": job_id})
        return self.store.get_job(job_id)

    def reject(self, job_id: str, note: str = "") -> JobRecord:
        job = self._pending_job(job_id)
        self.audit.append("rejection", job_id, "operator", {"note": short(note)})
        # The operator's note goes to the proposer: it is theirs to word.
        public = f"rejected by an operator of party {self.me}" + (f": {note}" if note else "")
        return self._refuse_pending(job, "rejected by an operator" + (f": {note}" if note else ""), public)

    def _refuse_pending(self, job: JobRecord, reason: str, public: str) -> JobRecord:
        if not self._end(job["id"], "failed", reason, expect=("pending",)):
            raise Conflict(f"job {job['id']} is no longer waiting for approval")
        self._answer(job, {"type": "refuse", "job_id": job["id"], "reason": public})
        return self.store.get_job(job["id"])

    def _answer(self, job: JobRecord, message: dict[str, Any]) -> None:
        try:
            self._send(job["initiator"], message)
        except TransportError as err:
            self._end(job["id"], "failed", f"could not answer the initiator, party {job['initiator']}: {err}")

    def _watch_deadlines(self) -> None:
        while not self.closed.wait(DEADLINE_TICK):
            try:
                self.check_deadlines()
            except Exception:  # a store hiccup must not end the watch
                log.exception("checking agreement deadlines")

    def check_deadlines(self) -> None:
        """Fail proposals nobody answered in time and approvals nobody gave in time."""
        now, timeout = time.monotonic(), self.policy.approval_timeout
        with self._lock:
            overdue = [(j, ag.overdue(now, self.agree_timeout, timeout)) for j, ag in self._agreements.items()]
            expired = [j for j, deadline in self._approvals.items() if now >= deadline]
        for job_id, reason in overdue:
            if reason:
                self._fail_agreement(job_id, reason)
        for job_id in expired:
            job = self.store.get_job(job_id)
            with contextlib.suppress(Conflict):
                self._refuse_pending(job, f"not approved within {timeout:g}s (approval_timeout)",
                                     f"not approved by party {self.me} within {timeout:g}s")

