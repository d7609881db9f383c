"""What the pages show, computed from the flow's JSON: pure functions, no I/O.

The flow stores a component's outputs as rows `{component, role, kind, name, value}`;
metrics that are numbers become a table, ROC curves (`{fpr, tpr}`) and number lists
(loss per iteration) become charts. Anything malformed is shown as text, never trusted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeGuard

from markupsafe import Markup

from fate.board import evalcharts
from fate.board.model_views import model_blocks
from fate.board.svg import loss_chart, roc_chart

TERMINAL = ("success", "failed", "canceled")
MAX_WEIGHTS = 50


@dataclass(frozen=True)
class Task:
    step: str
    component: str
    role: str
    state: str  # waiting | running | success | failed | canceled


@dataclass(frozen=True)
class Link:
    peer: str
    state: str
    detail: str  # latency when up, the last error when down


@dataclass(frozen=True)
class Section:
    """The outputs of one component in one role on this party."""

    component: str
    role: str
    metrics: tuple[tuple[str, str], ...]
    charts: tuple[Markup, ...]
    notes: tuple[tuple[str, str], ...]  # (label, text) of non-numeric outputs
    weights: tuple[tuple[str, str], ...]  # (feature, weight) of a linear model
    models: tuple[Markup, ...] = ()  # trees, feature importance, binning tables (fate.board.model_views)


def when(timestamp: Any) -> str:
    if isinstance(timestamp, bool) or not isinstance(timestamp, int | float) or not math.isfinite(timestamp):
        return ""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _numbers(value: Any) -> tuple[float, ...] | None:
    if not isinstance(value, list) or not value:
        return None
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in value):
        return None
    return tuple(float(v) for v in value)


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _fmt(value: int | float) -> str:
    return str(value) if isinstance(value, int) else f"{value:.6g}"


def job_roles(job: Mapping[str, Any], party_id: int) -> list[str]:
    roles = job.get("spec", {}).get("roles", {}) if isinstance(job.get("spec"), Mapping) else {}
    return [r for r, ids in roles.items() if isinstance(ids, list) and party_id in ids]


def tasks(job: Mapping[str, Any], logs: Sequence[Mapping[str, Any]], party_id: int) -> list[Task]:
    """Each pipeline step per role this party holds, with its state read from the worker's log lines."""
    spec = job.get("spec") if isinstance(job.get("spec"), Mapping) else {}
    pipeline = spec.get("pipeline", []) if isinstance(spec, Mapping) else []
    seen: dict[str, str] = {}
    for entry in logs:
        message = str(entry.get("message", ""))
        if message.startswith("start "):
            seen[str(entry.get("source", ""))] = "running"
        elif message.startswith("done "):
            seen[str(entry.get("source", ""))] = "success"
    ended = job.get("status") in TERMINAL
    out = []
    for step in pipeline:
        if not isinstance(step, Mapping):
            continue
        for role in job_roles(job, party_id):
            name = str(step.get("name", ""))
            state = seen.get(f"{name}/{role}", "waiting")
            if ended and state == "running":
                state = "canceled" if job.get("status") == "canceled" else "failed"
            out.append(Task(name, str(step.get("component", "")), role, state))
    return out


def _roc(value: Any) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    if not isinstance(value, Mapping):
        return None
    fpr, tpr = _numbers(value.get("fpr")), _numbers(value.get("tpr"))
    if fpr is None or tpr is None or len(fpr) != len(tpr):
        return None
    return fpr, tpr


def _weights(model: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(model, Mapping):
        return ()
    header, weights = model.get("header"), _numbers(model.get("weights"))
    if not isinstance(header, list) or weights is None or len(header) != len(weights):
        return ()
    rows = [(str(h), f"{w:.6g}") for h, w in zip(header, weights, strict=True)][:MAX_WEIGHTS]
    if _is_number(model.get("intercept")):
        rows.append(("(intercept)", f"{float(model['intercept']):.6g}"))
    return tuple(rows)


def _section(component: str, role: str, rows: Sequence[Mapping[str, Any]]) -> Section:
    metrics: list[tuple[str, str]] = []
    charts: list[Markup] = []
    notes: list[tuple[str, str]] = []
    weights: tuple[tuple[str, str], ...] = ()
    drawn: tuple[Markup, ...] = ()
    curves: set[tuple[float, ...]] = set()  # evaluation reports the loss under two names
    values = {str(r.get("name")): r.get("value") for r in rows if r.get("kind") == "metric"}
    auc = values.get("auc") if _is_number(values.get("auc")) else None
    for row in sorted(rows, key=lambda r: evalcharts.ORDER.get(str(r.get("name")), len(evalcharts.ORDER))):
        kind, name, value = row.get("kind"), str(row.get("name", "")), row.get("value")
        if kind == "metric":
            series = _numbers(value)
            roc = _roc(value)
            if _is_number(value):
                metrics.append((name, _fmt(value)))
            elif roc is not None:
                charts.append(roc_chart(*roc, auc=float(auc) if auc is not None else None))
                charts.extend(evalcharts.roc_companions(value, values))
            elif (chart := evalcharts.chart_for(name, value)) is not None:
                charts.append(chart)
            elif series is not None:
                if series not in curves:
                    curves.add(series)
                    charts.append(loss_chart(series, name.replace("_", " ")))
            elif value not in (None, [], {}):
                notes.append((name, _summary(value)))
        elif kind == "model":
            weights = weights or _weights(value)
            notes.append(("model", _model_summary(value)))
            drawn = drawn or model_blocks(value)
        elif kind == "data" and isinstance(value, Mapping):
            notes.append((f"output {name}", _data_summary(value)))
    return Section(component, role, tuple(metrics), tuple(charts), tuple(notes), weights, drawn)


def _summary(value: Any) -> str:
    if isinstance(value, Mapping):
        keys = ", ".join(str(k) for k in list(value)[:12])
        return f"{{{keys}{', ...' if len(value) > 12 else ''}}}"
    if isinstance(value, list):
        return f"list of {len(value)}"
    return str(value)[:200]


def _model_summary(value: Any) -> str:
    if not isinstance(value, Mapping) or "format" not in value:
        return _summary(value)
    facts = [str(value["format"])]
    if _is_number(value.get("iterations")):
        facts.append(f"{value['iterations']} iterations")
    if isinstance(value.get("converged"), bool):
        facts.append("converged" if value["converged"] else "not converged")
    return ", ".join(facts)


def _data_summary(value: Mapping[str, Any]) -> str:
    features = value.get("features")
    count = len(features) if isinstance(features, list) else "?"
    label = ", with labels" if value.get("label") else ""
    return f"{value.get('rows', '?')} rows, {count} features{label}"


def sections(outputs: Sequence[Mapping[str, Any]], pipeline_order: Sequence[str] = ()) -> list[Section]:
    """Outputs grouped per (component, role), in pipeline order where known."""
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for row in outputs:
        groups.setdefault((str(row.get("component", "")), str(row.get("role", ""))), []).append(row)
    order = {name: i for i, name in enumerate(pipeline_order)}
    keys = sorted(groups, key=lambda k: (order.get(k[0], len(order)), k))
    return [_section(c, r, groups[(c, r)]) for c, r in keys]


def pipeline_names(job: Mapping[str, Any]) -> list[str]:
    spec = job.get("spec")
    steps = spec.get("pipeline", []) if isinstance(spec, Mapping) else []
    return [str(s.get("name", "")) for s in steps if isinstance(s, Mapping)]


def links(raw: Mapping[str, Any]) -> list[Link]:
    out = []
    for peer, status in sorted(raw.items()):
        if not isinstance(status, Mapping):
            continue
        latency = status.get("latency_ms")
        detail = f"{latency:.1f} ms" if _is_number(latency) else str(status.get("last_error") or "")
        out.append(Link(str(peer), str(status.get("state", "unknown")), detail))
    return out
