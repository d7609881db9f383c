"""The flow's Prometheus metrics, read from its store when scraped.

Workers are processes of their own that end with their job, so nothing they count lives in
memory: each writes a row per finished step into the store (fate.flow.stepruns) and the flow
reads the rows it has not seen yet at every scrape. Totals therefore survive a restart of the
flow (it reads the history once when first scraped) and need no shared memory between
processes, unlike prometheus_client's multiprocess mode, whose files grow with every pid.

    fate_flow_jobs{status}                                       jobs on this party, per state
    fate_flow_pending_approvals                                  jobs waiting for an operator here
    fate_flow_oldest_pending_approval_seconds                    how long the oldest of them waits
    fate_flow_component_duration_seconds{component, role}        histogram of successful steps
    fate_flow_component_runs_total{component, role, status}      steps finished, success | failed
    fate_flow_paillier_operations_total{component, role, operation}   encrypt | rerandomize | decrypt
    fate_flow_audit_records_total{kind}                          audit log records (fate.flow.audit)
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from fate.flow import stepruns
from fate.flow.audit import KINDS
from fate.flow.store import Store

CONTENT_TYPE = CONTENT_TYPE_LATEST
STATES = ("waiting", "pending", "running", "success", "failed", "canceled")
# Steps take from a second (evaluation) to hours (hetero LR over 2048-bit keys on big tables).
BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, math.inf)


class _Histogram:
    def __init__(self) -> None:
        self.counts = [0] * len(BUCKETS)  # per bucket, not cumulative
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[next(i for i, bound in enumerate(BUCKETS) if value <= bound)] += 1
        self.sum += value

    def buckets(self) -> list[tuple[str, float]]:
        total, out = 0, []
        for bound, count in zip(BUCKETS, self.counts, strict=True):
            total += count
            out.append(("+Inf" if math.isinf(bound) else repr(bound), float(total)))
        return out


class FlowCollector(Collector):
    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()  # scrapes may overlap; each row is counted once
        self._step_seq = 0
        self._audit_seq = 0
        self._durations: dict[tuple[str, str], _Histogram] = {}
        self._runs: Counter[tuple[str, str, str]] = Counter()
        self._ops: Counter[tuple[str, str, str]] = Counter()
        self._audit: Counter[str] = Counter()

    def _catch_up(self) -> None:
        # Writers serialize on BEGIN IMMEDIATE, so rows become visible in seq order: none is skipped.
        while batch := stepruns.after(self.store, self._step_seq):
            for run in batch:
                key = (run["component"], run["role"])
                self._runs[(*key, run["status"])] += 1
                self._ops[(*key, "encrypt")] += run["encryptions"]
                self._ops[(*key, "decrypt")] += run["decryptions"]
                self._ops[(*key, "rerandomize")] += run["rerandomizations"]
                if run["status"] == "success":
                    self._durations.setdefault(key, _Histogram()).observe(run["seconds"])
            self._step_seq = batch[-1]["seq"]
        for kind, count, last in self.store.audit_counts(self._audit_seq):
            self._audit[kind] += count
            self._audit_seq = max(self._audit_seq, last)

    def _jobs(self) -> tuple[dict[str, int], float | None]:
        return self.store.job_counts()

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            self._catch_up()
            durations = {k: (h.buckets(), h.sum) for k, h in self._durations.items()}
            runs, ops, audit = dict(self._runs), dict(self._ops), dict(self._audit)
        counts, oldest = self._jobs()
        jobs = GaugeMetricFamily("fate_flow_jobs", "Jobs on this party, per state", labels=["status"])
        for state in (*STATES, *sorted(set(counts) - set(STATES))):
            jobs.add_metric([state], counts.get(state, 0))
        yield jobs
        yield GaugeMetricFamily(
            "fate_flow_pending_approvals", "Jobs waiting for an operator of this party", value=counts.get("pending", 0)
        )
        yield GaugeMetricFamily(
            "fate_flow_oldest_pending_approval_seconds",
            "How long the oldest job waiting for an operator has waited (0: none waits)",
            value=0.0 if oldest is None else max(0.0, time.time() - oldest),
        )
        histogram = HistogramMetricFamily(
            "fate_flow_component_duration_seconds", "Wall time of successful pipeline steps on this party",
            labels=["component", "role"],
        )
        for (component, role), (buckets, total) in sorted(durations.items()):
            histogram.add_metric([component, role], buckets, total)
        yield histogram
        finished = CounterMetricFamily(
            "fate_flow_component_runs", "Pipeline steps finished on this party", labels=["component", "role", "status"]
        )
        for key, count in sorted(runs.items()):
            finished.add_metric(list(key), count)
        yield finished
        paillier = CounterMetricFamily(
            "fate_flow_paillier_operations", "Paillier encryptions, re-randomizations and decryptions by this party's workers",
            labels=["component", "role", "operation"],
        )
        for key, count in sorted(ops.items()):
            paillier.add_metric(list(key), count)
        yield paillier
        records = CounterMetricFamily("fate_flow_audit_records", "Records in this party's audit log", labels=["kind"])
        for kind in (*KINDS, *sorted(set(audit) - set(KINDS))):
            records.add_metric([kind], audit.get(kind, 0))
        yield records


def flow_registry(store: Store) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FlowCollector(store))
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
