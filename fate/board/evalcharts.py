"""The evaluation charts FATE-Board draws besides the ROC: KS, cumulative gain, lift, and the
confusion matrix at the threshold; inline SVG built as text, every label escaped.

Each builder takes an output value as the flow serves it (fate.ml.evaluation) and returns None
when it is not shaped as expected, so the page shows a text summary instead of trusting it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from markupsafe import Markup, escape

from fate.board.svg import Series, line_chart

CELL_W, CELL_H = 132, 72
CM_LEFT, CM_TOP = 104, 64
BLUE = (0x1F, 0x6F, 0xB2)


def _finite_list(value: Any) -> list[float] | None:
    if not isinstance(value, list) or not value:
        return None
    out = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, int | float):
            return None
        out.append(float(v))
    return out


def _curve(value: Any, x: str, y: str) -> tuple[list[float], list[float]] | None:
    if not isinstance(value, Mapping):
        return None
    xs, ys = _finite_list(value.get(x)), _finite_list(value.get(y))
    if xs is None or ys is None or len(xs) != len(ys) or not all(map(math.isfinite, xs + ys)):
        return None
    return xs, ys


def ks_chart(roc: Any, ks: float | None = None) -> Markup | None:
    """TPR and FPR against the threshold, with the largest gap between them marked."""
    if not isinstance(roc, Mapping):
        return None
    lists = [_finite_list(roc.get(k)) for k in ("thresholds", "tpr", "fpr")]
    if any(v is None for v in lists) or len({len(v or ()) for v in lists}) != 1:
        return None
    # The first threshold is +inf (nothing called positive): not a point on a threshold axis.
    points = [(t, tp, fp) for t, tp, fp in zip(*lists, strict=True) if all(map(math.isfinite, (t, tp, fp)))]
    if len(points) < 2:
        return None
    thresholds, tpr, fpr = (tuple(p[i] for p in points) for i in range(3))
    best = max(range(len(points)), key=lambda i: tpr[i] - fpr[i])
    gap = ks if ks is not None else tpr[best] - fpr[best]
    low, high = min(thresholds), max(thresholds)
    x_range = (0.0, 1.0) if low >= 0.0 and high <= 1.0 else None
    return line_chart(
        f"KS {gap:.4f}",
        [
            Series("true positive rate", thresholds, tpr),
            Series("false positive rate", thresholds, fpr),
            Series("KS", (thresholds[best], thresholds[best]), (fpr[best], tpr[best])),
        ],
        "threshold",
        "rate",
        x_range=x_range,
        y_range=(0.0, 1.0),
        note=f"largest gap at threshold {thresholds[best]:.4g}",
        legend_bottom=True,
    )


def gain_chart(value: Any) -> Markup | None:
    curve = _curve(value, "depth", "gain")
    if curve is None:
        return None
    return line_chart(
        "cumulative gain",
        [Series("gain", tuple(curve[0]), tuple(curve[1]))],
        "share of rows called positive (best scores first)",
        "share of positives found",
        x_range=(0.0, 1.0),
        y_range=(0.0, 1.0),
        diagonal=True,
    )


def lift_chart(value: Any) -> Markup | None:
    curve = _curve(value, "depth", "lift")
    if curve is None:
        return None
    depth, lift = curve
    top = max(max(lift), 1.0)
    return line_chart(
        "lift",
        [Series("lift", tuple(depth), tuple(lift)), Series("random", (0.0, 1.0), (1.0, 1.0))],
        "share of rows called positive (best scores first)",
        "lift",
        x_range=(0.0, 1.0),
        y_range=(0.0, top * 1.05),
        legend_bottom=True,
    )


def _shade(share: float) -> tuple[str, str]:
    """A cell's fill (white to blue by share) and a text colour that stays readable on it."""
    share = min(max(share, 0.0), 1.0)
    r, g, b = (round(255 + (c - 255) * share) for c in BLUE)
    return f"#{r:02x}{g:02x}{b:02x}", "#ffffff" if share > 0.55 else "#222222"


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def confusion_chart(value: Any) -> Markup | None:
    """The 2x2 matrix: rows are the actual class, columns the call; shaded by share of the row."""
    if not isinstance(value, Mapping):
        return None
    counts = {k: _count(value.get(k)) for k in ("tp", "fn", "fp", "tn")}
    threshold = value.get("threshold")
    if any(c is None for c in counts.values()) or isinstance(threshold, bool) or not isinstance(
        threshold, int | float
    ):
        return None
    tp, fn, fp, tn = (int(counts[k] or 0) for k in ("tp", "fn", "fp", "tn"))
    total = tp + fn + fp + tn
    width, height = CM_LEFT + 2 * CELL_W + 24, CM_TOP + 2 * CELL_H + 52
    title = f"confusion matrix at threshold {float(threshold):.4g}"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart confusion" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" font-family="sans-serif" role="img">',
        f"<title>{escape(title)}</title>",
        f'<text x="{width / 2:g}" y="18" text-anchor="middle" font-size="14">{escape(title)}</text>',
        f'<text x="{CM_LEFT + CELL_W:g}" y="{CM_TOP - 26}" text-anchor="middle" font-size="12">called</text>',
    ]
    for col, label in enumerate(("positive", "negative")):
        parts.append(f'<text x="{CM_LEFT + CELL_W * col + CELL_W / 2:g}" y="{CM_TOP - 8}" text-anchor="middle" '
                     f'font-size="12">{label}</text>')
    cells = ((("true positives", tp), ("false negatives", fn)), (("false positives", fp), ("true negatives", tn)))
    for row, (label, pair) in enumerate(zip(("positive", "negative"), cells, strict=True)):
        y = CM_TOP + CELL_H * row
        parts.append(f'<text x="{CM_LEFT - 8}" y="{y + CELL_H / 2 + 4:g}" text-anchor="end" font-size="12">'
                     f"actual {label}</text>")
        row_total = sum(count for _, count in pair)
        for col, (name, count) in enumerate(pair):
            x = CM_LEFT + CELL_W * col
            share = count / row_total if row_total else 0.0
            fill, ink = _shade(share)
            of_all = f"{100 * count / total:.1f}%" if total else "0%"
            parts.append(
                f'<g class="cell"><rect x="{x}" y="{y}" width="{CELL_W}" height="{CELL_H}" fill="{fill}" '
                f'stroke="#555"><title>{name}: {count} ({of_all} of all rows)</title></rect>'
                f'<text x="{x + CELL_W / 2:g}" y="{y + CELL_H / 2:g}" text-anchor="middle" font-size="18" '
                f'fill="{ink}">{count}</text>'
                f'<text x="{x + CELL_W / 2:g}" y="{y + CELL_H / 2 + 18:g}" text-anchor="middle" font-size="11" '
                f'fill="{ink}">{100 * share:.1f}% of the row</text></g>'
            )
    parts.append(f'<text x="{width / 2:g}" y="{height - 12}" text-anchor="middle" font-size="11">'
                 f"{total} rows</text>")
    parts.append("</svg>")
    return Markup("".join(parts))


# Where each evaluation chart goes in a section, as FATE-Board orders them; other outputs keep theirs.
ORDER = {"roc": 0, "lift": 1, "gain": 2, "confusion_matrix": 3}


def chart_for(name: str, value: Any) -> Markup | None:
    """The chart of an evaluation output that is not a number, a ROC or a loss list; else None."""
    builders = {"confusion_matrix": confusion_chart, "gain": gain_chart, "lift": lift_chart}
    builder = builders.get(name)
    return builder(value) if builder is not None else None


def roc_companions(roc: Any, metrics: Mapping[str, Any]) -> Sequence[Markup]:
    """Charts drawn from the ROC's own data: the KS curve (its thresholds are in the ROC output)."""
    ks = metrics.get("ks")
    chart = ks_chart(roc, float(ks) if isinstance(ks, int | float) and not isinstance(ks, bool) else None)
    return [chart] if chart is not None else []
