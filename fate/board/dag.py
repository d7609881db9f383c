"""A job's pipeline as a graph, FATE-Board style: one box per step, coloured by its state on
this party, arrows from the steps it `needs` (or, without `needs`, from the step before it: the
worker hands that step's output on). Inline SVG built as text, every label escaped; each box
links to the job page narrowed to that step (`?step=NAME`), so no script is needed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from markupsafe import Markup, escape

BOX_W, BOX_H, GAP_X, GAP_Y, MARGIN = 160, 58, 56, 22, 16
MIN_WIDTH = 400
FILL = {"success": "#cdeccf", "failed": "#f6c9c4", "canceled": "#eee1b5", "running": "#cfe0f6",
        "waiting": "#ffffff", "not here": "#eeeeee"}


@dataclass(frozen=True)
class Node:
    name: str
    component: str
    needs: tuple[str, ...]
    state: str  # success | failed | canceled | running | waiting | not here
    seconds: float | None = None  # the longest of this party's roles, once finished


def step_state(states: Sequence[str]) -> str:
    """One state for a step from its roles' states on this party (a failure shows first)."""
    if not states:
        return "not here"
    for state in ("failed", "canceled", "running"):
        if state in states:
            return state
    if all(s == "success" for s in states):
        return "success"
    return "running" if "success" in states else "waiting"


def durations(job: Mapping[str, Any]) -> dict[tuple[str, str], float]:
    """(step, role) -> seconds of the steps this party finished (the flow's `steps` of a job)."""
    out: dict[tuple[str, str], float] = {}
    runs = job.get("steps")
    for run in runs if isinstance(runs, list) else []:
        seconds = run.get("seconds") if isinstance(run, Mapping) else None
        if isinstance(seconds, int | float) and not isinstance(seconds, bool):
            out[(str(run.get("step", "")), str(run.get("role", "")))] = float(seconds)
    return out


def nodes(job: Mapping[str, Any], tasks: Sequence[Any]) -> list[Node]:
    """The pipeline's steps with their edges, states (from views.tasks) and durations."""
    spec = job.get("spec")
    pipeline = spec.get("pipeline") if isinstance(spec, Mapping) else None
    seconds = durations(job)
    out: list[Node] = []
    for step in pipeline if isinstance(pipeline, list) else []:
        if not isinstance(step, Mapping):
            continue
        name = str(step.get("name", ""))
        needs = step.get("needs")
        edges = tuple(str(n) for n in needs) if isinstance(needs, list) else ()
        edges = edges or ((out[-1].name,) if out else ())
        mine = [t for t in tasks if t.step == name]
        times = [seconds[(name, t.role)] for t in mine if (name, t.role) in seconds]
        out.append(Node(name, str(step.get("component", "")), edges, step_state([t.state for t in mine]),
                        max(times) if times else None))
    return out


def _layers(graph: Sequence[Node]) -> dict[str, int]:
    """Column of each step: one right of the furthest step it needs (needs name earlier steps only)."""
    column: dict[str, int] = {}
    for node in graph:
        column[node.name] = 1 + max((column[n] for n in node.needs if n in column), default=-1)
    return column


def _seconds(value: float) -> str:
    return f"{value:.1f} s" if value < 120 else f"{value / 60:.1f} min"


def pipeline_dag(graph: Sequence[Node], selected: str = "") -> Markup:
    column = _layers(graph)
    rows: dict[int, int] = {}
    where: dict[str, tuple[float, float]] = {}
    for node in graph:
        row = rows.get(column[node.name], 0)
        rows[column[node.name]] = row + 1
        where[node.name] = (MARGIN + column[node.name] * (BOX_W + GAP_X), MARGIN + 22 + row * (BOX_H + GAP_Y))
    # At least as wide as the caption, so a one-step pipeline does not cut it off.
    width = max(MIN_WIDTH, MARGIN * 2 + (max(column.values(), default=0) + 1) * (BOX_W + GAP_X) - GAP_X)
    height = MARGIN * 2 + 22 + max(rows.values(), default=1) * (BOX_H + GAP_Y) - GAP_Y
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="dag" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" font-family="sans-serif" role="img"><title>pipeline</title>',
        '<defs><marker id="dag-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>',
        f'<text x="{MARGIN}" y="{MARGIN + 4}" font-size="12" fill="#555">each step\'s state on this party; '
        "a step opens its outputs</text>",
    ]
    for node in graph:
        x2, y2 = where[node.name]
        for need in node.needs:
            if need not in where:
                continue
            x1, y1 = where[need]
            sx, sy, ex, ey = x1 + BOX_W, y1 + BOX_H / 2, x2, y2 + BOX_H / 2
            mid = (sx + ex) / 2
            parts.append(f'<path class="edge" d="M {sx:g} {sy:g} C {mid:g} {sy:g}, {mid:g} {ey:g}, {ex:g} {ey:g}" '
                         'fill="none" stroke="#555" stroke-width="1.5" marker-end="url(#dag-arrow)"/>')
    for node in graph:
        x, y = where[node.name]
        detail = node.state + (f" · {_seconds(node.seconds)}" if node.seconds is not None else "")
        stroke, weight = ("#20364f", 3) if node.name == selected else ("#555", 1)
        parts.append(
            f'<a class="step" href="?step={escape(quote(node.name, safe=""))}">'
            f'<rect x="{x:g}" y="{y:g}" width="{BOX_W}" height="{BOX_H}" rx="6" fill="{FILL.get(node.state, "#fff")}" '
            f'stroke="{stroke}" stroke-width="{weight}"><title>{escape(node.name)} ({escape(node.component)}): '
            f"{escape(detail)}</title></rect>"
            f'<text x="{x + 10:g}" y="{y + 20:g}" font-size="13" font-weight="bold">{escape(node.name[:22])}</text>'
            f'<text x="{x + 10:g}" y="{y + 36:g}" font-size="11" fill="#444">{escape(node.component[:26])}</text>'
            f'<text x="{x + 10:g}" y="{y + 50:g}" font-size="11" fill="#444">{escape(detail)}</text></a>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
