"""A job's worker process on one party: runs the pipeline, talks to peers via its own router.

    python -m fate.flow.worker --config flow.yaml --job JOB_ID

Every role this party holds in the job runs in its own thread (FATE puts the
arbiter on the guest's party, and guest and arbiter talk to each other). Exit
code 0 means this party's part finished; on failure the reason is the last log
line, which the flow service reports to every party.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
import traceback
from collections.abc import Mapping
from typing import Any

import numpy as np

from fate import logs
from fate.compute.config import build_backend
from fate.compute.contract import ComputeBackend, ComputeError
from fate.crypto import counters as crypto_counters
from fate.crypto.codec import register_ciphertexts
from fate.crypto.counters import Operations
from fate.federation.client import RouterTransport
from fate.federation.federation import Federation
from fate.federation.signed import signed
from fate.federation.transport import Transport
from fate.flow import stepruns
from fate.flow.audit import AuditLog, digest
from fate.flow.config import FlowConfig, load_flow_config
from fate.flow.jobspec import JobSpec, Step, validate_job
from fate.flow.models import REUSED_MODEL, load_model
from fate.flow.store import Store, open_store
from fate.flow.tables import describe, write_table
from fate.flow.waits import WaitRecorder
from fate.ml import registry
from fate.ml.component import ComponentContext, ComponentResult, Table

FAILURE_SOURCE = "worker"
log = logging.getLogger("fate.worker")


def _jsonable(value: Any) -> Any:
    """Models and metrics are stored as JSON; numpy values become lists and numbers."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


class Worker:
    def __init__(self, config: FlowConfig, job_id: str) -> None:
        self.config = config
        self.job_id = job_id
        self.store: Store = open_store(config.data_dir, *config.database())
        self.audit = AuditLog(self.store)
        self._audited: set[tuple[str, ...]] = set()
        self.spec: JobSpec = validate_job(self.store.get_job(job_id)["spec"])
        self.roles = self.spec.roles_of(config.party_id)
        # One backend per worker process, shared by every role's thread (run() builds and closes it).
        self.compute: ComputeBackend | None = None

    # Every read of our tables and every output written goes to the party's audit log.
    def _read(self, name: str, step: Step, role: str) -> Table:
        table = self.store.get_table(name)
        self.audit.append("read", self.job_id, f"worker {role}",
                          {"table": name, "rows": len(table), "component": step.name})
        return table

    def _output(self, step: Step, role: str, kind: str, name: str, value: Any) -> None:
        self.store.put_output(self.job_id, step.name, role, kind, name, value)
        # Components may hand the same output twice (logged, then returned); one record each.
        key = (step.name, role, kind, name, digest(value))
        if key in self._audited:
            return
        self._audited.add(key)
        detail = {"component": step.name, "kind": kind, "name": name, "digest": key[-1]}
        if kind == "data":
            detail["rows"] = value["rows"]
        self.audit.append("output", self.job_id, f"worker {role}", detail)

    def _context(
        self, step: Step, role: str, fed: Federation, inputs: dict[str, ComponentResult]
    ) -> ComponentContext:
        store, job, source = self.store, self.job_id, f"{step.name}/{role}"
        output = self._output
        chosen = {n: inputs[n] for n in (step.needs or list(inputs)[-1:])}
        # A model an earlier job trained: this party's own part, from its own store, as the last input.
        loaded = load_model(store, step, role, lambda msg: store.log(job, source, msg))
        if loaded is not None:
            chosen[REUSED_MODEL] = loaded
        return ComponentContext(
            job_id=job,
            party_id=self.config.party_id,
            role=role,
            roles=self.spec.roles,
            params=step.params,
            federation=fed,
            component=step.name,
            table_name=self.spec.tables.get(self.config.party_id),
            inputs=chosen,
            read_table=lambda name: self._read(name, step, role),
            log=lambda msg: store.log(job, source, msg),
            save_model=lambda obj: output(step, role, "model", "model", _jsonable(obj)),
            log_metric=lambda name, value: output(step, role, "metric", name, _jsonable(value)),
            policy=self.config.policy,
            compute=self.compute,
        )

    def _save(self, step: Step, role: str, result: ComponentResult) -> None:
        if result.data is not None:
            write_table(result.data, self.store.output_table_path(self.job_id, step.name, role))
            self._output(step, role, "data", "table", describe(result.data))
        if result.model is not None:
            self._output(step, role, "model", "model", _jsonable(result.model))
        for name, value in result.metrics.items():
            self._output(step, role, "metric", name, _jsonable(value))

    def _run_role(self, role: str, transport: Transport, errors: list[str]) -> None:
        fed = Federation(transport, self.job_id, self.spec.roles, role, default_timeout=self.spec.timeout)
        results: dict[str, ComponentResult] = {}
        for step in self.spec.pipeline:
            started, before = time.monotonic(), crypto_counters.this_thread()
            try:
                self.store.log(self.job_id, f"{step.name}/{role}", f"start {step.component}")
                result = registry.get(step.component)(self._context(step, role, fed, results))
                self._save(step, role, result)
                results[step.name] = result
                self.store.log(self.job_id, f"{step.name}/{role}", f"done {step.component}")
            except Exception as err:  # any component failure fails this party's part, with its reason
                self.store.log(self.job_id, f"{step.name}/{role}", traceback.format_exc(limit=8))
                errors.append(f"{step.name} ({step.component}, {role}): {type(err).__name__}: {err}")
                self._finished(step, role, "failed", started, before)
                return
            self._finished(step, role, "success", started, before)

    def _finished(self, step: Step, role: str, status: str, started: float, before: Operations) -> None:
        """One step_runs row (duration, Paillier operations of this role's thread); never fails the job."""
        seconds, ops = time.monotonic() - started, crypto_counters.since(before)
        try:
            stepruns.record(self.store, self.job_id, step.name, step.component, role, status, seconds, ops)
        except Exception:  # a metric lost is better than a job failed for it
            log.exception("could not record step %s/%s", step.name, role)
        log.info("%s/%s %s in %.3f s (Paillier: %d encryptions, %d re-randomizations, %d decryptions)",
                 step.name, role, status, seconds, ops.encryptions, ops.rerandomizations, ops.decryptions)

    def run(self) -> int:
        # Every message (Paillier public keys included) is signed by this party and verified on receipt.
        authenticated = signed(RouterTransport(
            self.config.party_id,
            self.config.router_host,
            self.config.router_port,
            self.config.tls,
            deadline=min(float(self.spec.timeout), 300.0),
        ), self.config.tls)
        job_dir = self.config.data_dir / "jobs" / self.job_id
        job_dir.mkdir(parents=True, exist_ok=True)
        transport = WaitRecorder(authenticated, job_dir, float(self.spec.stall_timeout))
        errors: list[str] = []
        try:
            self.compute = build_backend(self.config.compute)
        except ComputeError as err:
            transport.close()
            self.store.log(self.job_id, FAILURE_SOURCE, f"error: {err}")
            return 1
        self.store.log(self.job_id, "compute", f"compute: {self.compute.name} backend, {self.compute.workers} workers")
        threads = [  # named after their role: the wait recorder says which role waits
            threading.Thread(target=self._run_role, args=(r, transport, errors), name=f"role-{r}", daemon=True)
            for r in self.roles
        ]
        try:
            for t in threads:
                t.start()
            # A failed role would leave its partner roles here blocked forever; stop at the first error.
            alive = threads
            while alive and not errors:
                alive[0].join(0.2)
                alive = [t for t in alive if t.is_alive()]
        finally:
            transport.close()
            self.compute.close()
        if errors:
            self.store.log(self.job_id, FAILURE_SOURCE, f"error: {errors[0]}")
            return 1
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fate.flow.worker")
    parser.add_argument("--config", required=True)
    parser.add_argument("--job", required=True)
    args = parser.parse_args(argv)
    # The flow put its --log-format into the environment; every line here is about this job.
    logs.configure()
    logs.set_process_job(args.job)
    # Components exchange ciphertexts with peers; this is the process that decodes them.
    register_ciphertexts()
    return Worker(load_flow_config(args.config), args.job).run()


if __name__ == "__main__":
    sys.exit(main())
