"""Model outputs drawn for the board: SecureBoost trees, feature importance, binning WOE / IV tables.

Pure functions from a stored model (JSON from the flow, never trusted) to escaped HTML and
inline SVG, in the style of fate.board.svg: no script, no external asset. A model of an
unknown shape, or with a malformed part, yields nothing for that part.

A guest's tree shows its own splits as `feature <= threshold` and a host's as
`host <party> · split <id>`: the guest never knew more, and the board shows what it has.
A host's board shows its own lookup table (split id -> feature, threshold) instead.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from markupsafe import Markup, escape

SBT_FORMAT = "fate.hetero_secureboost/1"
BINNING_FORMAT = "fate.hetero_feature_binning/1"
MAX_TREES = 10
MAX_BARS = 30
BOX_W, BOX_H, GAP_X, GAP_Y = 128, 38, 10, 34
BAR_W = 420


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _label(node: Mapping[str, Any]) -> tuple[str, str]:
    """Two lines of text for a node box."""
    party = node.get("party")
    if party is None:
        weight = _num(node.get("weight"))
        return ("leaf", f"w = {weight:.4g}" if weight is not None else "w = ?")
    missing = "missing → left" if node.get("missing_left") else "missing → right"
    if party == "guest":
        threshold = _num(node.get("threshold"))
        shown = f"{threshold:.4g}" if threshold is not None else "?"
        return (f"{node.get('feature', '?')} ≤ {shown}", missing)
    return (f"host {party} · split {node.get('split_id', '?')}", missing)


def _layout(nodes: Mapping[int, Mapping[str, Any]]) -> dict[int, tuple[float, int]] | None:
    """(x slot, depth) per node: leaves left to right, parents centred over their children."""
    out: dict[int, tuple[float, int]] = {}
    next_leaf = [0.0]

    def place(node_id: int, depth: int) -> float:
        node = nodes.get(node_id)
        if node is None or node_id in out or depth > 16:
            raise ValueError("not a tree")
        kids = [node.get("left"), node.get("right")] if node.get("party") is not None else []
        if kids and all(isinstance(k, int) and k in nodes for k in kids):
            x = (place(int(kids[0]), depth + 1) + place(int(kids[1]), depth + 1)) / 2  # type: ignore[arg-type]
        else:
            x = next_leaf[0]
            next_leaf[0] += 1
        out[node_id] = (x, depth)
        return x

    try:
        place(0, 0)
    except (ValueError, RecursionError):
        return None
    return out


def tree_svg(tree: Sequence[Any], index: int) -> Markup | None:
    nodes = {n["id"]: n for n in tree if isinstance(n, Mapping) and isinstance(n.get("id"), int)}
    where = _layout(nodes)
    if where is None:
        return None
    slots = max(x for x, _ in where.values()) + 1
    depth = max(d for _, d in where.values()) + 1
    width, height = int(slots * (BOX_W + GAP_X) + GAP_X), int(depth * (BOX_H + GAP_Y) + GAP_Y)

    def centre(node_id: int) -> tuple[float, float]:
        x, d = where[node_id]
        return GAP_X + x * (BOX_W + GAP_X) + BOX_W / 2, GAP_Y / 2 + d * (BOX_H + GAP_Y) + BOX_H / 2

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="tree" viewBox="0 0 {width} {height}" width="{width}" '
             f'height="{height}" font-family="sans-serif" role="img"><title>tree {index}</title>']
    for node_id in where:
        node = nodes[node_id]
        if node.get("party") is None:
            continue
        x0, y0 = centre(node_id)
        for side, kid in (("yes", node.get("left")), ("no", node.get("right"))):
            if isinstance(kid, int) and kid in where:
                x1, y1 = centre(kid)
                parts.append(f'<line x1="{x0:.1f}" y1="{y0 + BOX_H / 2:.1f}" x2="{x1:.1f}" y2="{y1 - BOX_H / 2:.1f}" '
                             f'stroke="#888"/><text x="{(x0 + x1) / 2:.1f}" y="{(y0 + y1) / 2:.1f}" font-size="10" '
                             f'fill="#555" text-anchor="middle">{side}</text>')
    for node_id in where:
        node = nodes[node_id]
        x, y = centre(node_id)
        fill = "#eef5e9" if node.get("party") is None else ("#e8eef7" if node.get("party") == "guest" else "#f7efe3")
        top, bottom = _label(node)
        count = node.get("count")
        hint = f"node {node_id}" + (f", {count} rows" if isinstance(count, int) else "")
        parts.append(f'<g class="node"><title>{escape(hint)}</title><rect x="{x - BOX_W / 2:.1f}" y="{y - BOX_H / 2:.1f}" '
                     f'width="{BOX_W}" height="{BOX_H}" rx="4" fill="{fill}" stroke="#777"/>'
                     f'<text x="{x:.1f}" y="{y - 3:.1f}" font-size="11" text-anchor="middle">{escape(top[:24])}</text>'
                     f'<text x="{x:.1f}" y="{y + 11:.1f}" font-size="10" fill="#555" text-anchor="middle">'
                     f"{escape(bottom)}</text></g>")
    parts.append("</svg>")
    return Markup("".join(parts))


def importance_svg(importance: Mapping[str, Any]) -> Markup | None:
    """Bars of total gain (or split count when there is no gain) per feature, largest first."""
    rows = []
    for name, entry in importance.items():
        if not isinstance(entry, Mapping):
            return None
        split, gain = _num(entry.get("split")), _num(entry.get("gain"))
        if split is None:
            return None
        rows.append((str(name), split, gain))
    if not rows:
        return None
    by_gain = all(g is not None for _, _, g in rows)
    rows.sort(key=lambda r: (-(r[2] if by_gain and r[2] is not None else r[1]), r[0]))
    rows = rows[:MAX_BARS]
    top = max((r[2] if by_gain and r[2] is not None else r[1]) for r in rows) or 1.0
    label_w, row_h = 130, 18
    width, height = label_w + BAR_W + 120, 24 + row_h * len(rows)
    what = "total gain" if by_gain else "split count"
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" width="{width}" '
             f'height="{height}" font-family="sans-serif" role="img"><title>feature importance ({what})</title>'
             f'<text x="{width / 2:.0f}" y="15" text-anchor="middle" font-size="13">feature importance ({what})</text>']
    for i, (name, split, gain) in enumerate(rows):
        value = gain if by_gain and gain is not None else split
        y = 22 + i * row_h
        length = BAR_W * value / top
        detail = f"{split:.0f} split{'' if split == 1 else 's'}" + (f", gain {gain:.4g}" if gain is not None else "")
        parts.append(f'<text x="{label_w - 6}" y="{y + 12}" text-anchor="end" font-size="11">{escape(name[:20])}</text>'
                     f'<rect x="{label_w}" y="{y + 2}" width="{length:.1f}" height="{row_h - 5}" fill="#1f6fb2">'
                     f"<title>{escape(name)}: {escape(detail)}</title></rect>"
                     f'<text x="{label_w + length + 4:.1f}" y="{y + 12}" font-size="10" fill="#555">{escape(detail)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _bin_labels(column: Mapping[str, Any], count: int) -> list[str]:
    edges = column.get("edges")
    if isinstance(edges, list) and all(_num(e) is not None for e in edges) and len(edges) + 1 <= count:
        bounds = ["-inf", *[f"{float(e):.4g}" for e in edges], "+inf"]
        labels = [f"({bounds[i]}, {bounds[i + 1]}]" for i in range(len(edges) + 1)]
    else:
        labels = [f"bin {i}" for i in range(count - (1 if column.get("missing_bin") else 0))]
    if column.get("missing_bin"):
        labels.append("missing")
    return labels[:count]


def binning_table(name: str, column: Mapping[str, Any]) -> Markup | None:
    keys = ("event", "non_event", "woe", "iv_per_bin")
    series = [column.get(k) for k in keys]
    if not all(isinstance(s, list) for s in series) or len({len(s) for s in series}) != 1:  # type: ignore[arg-type]
        return None
    count = len(series[0])  # type: ignore[arg-type]
    values = [[_num(v) for v in s] for s in series]  # type: ignore[union-attr]
    iv = _num(column.get("iv"))
    if any(v is None for s in values for v in s) or iv is None:
        return None
    labels = _bin_labels(column, count)
    rows = "".join(
        f"<tr><td>{escape(labels[i] if i < len(labels) else f'bin {i}')}</td><td>{values[0][i]:.0f}</td>"
        f"<td>{values[1][i]:.0f}</td><td>{values[2][i]:.4f}</td><td>{values[3][i]:.4f}</td></tr>"
        for i in range(count))
    return Markup(f'<details><summary>{escape(name)} — IV {iv:.4f}</summary><table class="bins"><thead><tr>'
                  "<th>bin</th><th>events</th><th>non-events</th><th>WOE</th><th>IV</th></tr></thead>"
                  f"<tbody>{rows}</tbody></table></details>")


def _edges_table(columns: Mapping[str, Any]) -> Markup | None:
    """A party's own bin edges (a host's binning model holds no label statistic to show)."""
    rows = []
    for name, column in columns.items():
        edges = column.get("edges") if isinstance(column, Mapping) else None
        if not isinstance(edges, list) or not all(_num(e) is not None for e in edges):
            return None
        shown = ", ".join(f"{float(e):.4g}" for e in edges)
        rows.append(f"<tr><td>{escape(str(name))}</td><td>{escape(str(column.get('anonymous', '')))}</td>"
                    f"<td>{len(edges) + 1}</td><td>{escape(shown)}</td></tr>")
    if not rows:
        return None
    return Markup(f"<details><summary>bin edges of this party's {len(rows)} columns</summary><table class=\"bins\">"
                  "<thead><tr><th>column</th><th>known to the guest as</th><th>bins</th><th>upper edges</th></tr></thead>"
                  f"<tbody>{''.join(rows)}</tbody></table></details>")


def _host_splits(splits: Mapping[str, Any]) -> Markup | None:
    rows = []
    for sid, s in sorted(splits.items(), key=lambda kv: int(kv[0]) if str(kv[0]).isdigit() else 0):
        if not isinstance(s, Mapping) or _num(s.get("threshold")) is None:
            return None
        side = "left" if s.get("missing_left") else "right"
        rows.append(f"<tr><td>{escape(str(sid))}</td><td>{escape(str(s.get('tree', '')))}</td>"
                    f"<td>{escape(str(s.get('feature', '')))}</td><td>{float(s['threshold']):.6g}</td>"
                    f"<td>{side}</td></tr>")
    if not rows:
        return None
    return Markup(f"<details><summary>this party's split lookup table ({len(rows)} splits; never sent)</summary>"
                  '<table class="splits"><thead><tr><th>split id</th><th>tree</th><th>feature</th><th>x &lt;=</th>'
                  f"<th>missing</th></tr></thead><tbody>{''.join(rows)}</tbody></table></details>")


def model_blocks(model: Any) -> tuple[Markup, ...]:
    """Everything the board draws for a stored model (nothing for models it does not know)."""
    if not isinstance(model, Mapping):
        return ()
    blocks: list[Markup | None] = []
    if model.get("format") == SBT_FORMAT:
        if isinstance(model.get("feature_importance"), Mapping):
            blocks.append(importance_svg(model["feature_importance"]))
        trees = model.get("trees")
        if isinstance(trees, list):
            drawn = [tree_svg(t, i) for i, t in enumerate(trees[:MAX_TREES]) if isinstance(t, list)]
            shown = [t for t in drawn if t is not None]
            if shown:
                more = f" (first {MAX_TREES} of {len(trees)})" if len(trees) > MAX_TREES else ""
                figures = "".join(f"<figure>{t}</figure>" for t in shown)
                blocks.append(Markup(f"<details open><summary>trees{more}</summary>{figures}</details>"))
        if isinstance(model.get("splits"), Mapping):
            blocks.append(_host_splits(model["splits"]))
    elif model.get("format") == BINNING_FORMAT and model.get("role") == "host":
        if isinstance(model.get("columns"), Mapping):
            blocks.append(_edges_table(model["columns"]))
    elif model.get("format") == BINNING_FORMAT:
        for section in ("columns", "host_columns"):
            columns = model.get(section)
            if isinstance(columns, Mapping):
                blocks.extend(binning_table(str(n), c) for n, c in columns.items() if isinstance(c, Mapping))
    return tuple(b for b in blocks if b is not None)
