"""Line charts as inline SVG, built as text: no JavaScript, no external assets, deterministic.

Every piece of text is escaped here, so the result can be handed to a template as Markup.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 480, 320
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 28, 44
MAX_POINTS = 1000  # a browser draws more, but the page would grow with every row of the data
COLORS = ("#1f6fb2", "#d9531e", "#2e8b57", "#8e44ad")


@dataclass(frozen=True)
class Series:
    name: str
    xs: tuple[float, ...]
    ys: tuple[float, ...]


def thin(
    xs: Sequence[float], ys: Sequence[float], limit: int = MAX_POINTS
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """At most `limit` evenly spaced points, always keeping the first and the last."""
    n = len(xs)
    if n <= limit:
        return tuple(xs), tuple(ys)
    picks = sorted({round(i * (n - 1) / (limit - 1)) for i in range(limit)})
    return tuple(xs[i] for i in picks), tuple(ys[i] for i in picks)


def nice_ticks(low: float, high: float, count: int = 5, min_step: float = 0.0) -> list[float]:
    """Round tick values (1, 2, 5 times a power of ten, at least `min_step` apart) covering [low, high]."""
    if high <= low:
        return [low]
    raw = max((high - low) / count, min_step)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw * (1 - 1e-9))
    first, last = math.ceil(low / step - 1e-9), math.floor(high / step + 1e-9)
    # Multiplying (not adding up) keeps 0.6 from becoming 0.6000000000000001.
    return [round(k * step, 12) + 0.0 for k in range(first, last + 1)]


def _padded_range(values: Sequence[float]) -> tuple[float, float]:
    low, high = min(values), max(values)
    if high == low:
        pad = abs(low) * 0.1 or 1.0
        return low - pad, high + pad
    pad = (high - low) * 0.05
    return low - pad, high + pad


def _fmt(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _label(value: float) -> str:
    return f"{value:.4g}"


def line_chart(
    title: str,
    series: Sequence[Series],
    x_label: str,
    y_label: str,
    x_range: tuple[float, float] | None = None,
    y_range: tuple[float, float] | None = None,
    diagonal: bool = False,
    x_step: float = 0.0,
    dots: bool = False,
    note: str = "",
    legend_bottom: bool = False,
) -> Markup:
    """An SVG line chart of one or more series; `diagonal` draws y = x (the chance line of a ROC).

    Values outside `y_range` are drawn on its edge (their hover title says so); `points` adds a
    dot per value whose title shows it on hover (`dots`), with no script.
    """
    drawn = [Series(s.name, *thin(s.xs, s.ys)) for s in series if s.xs]
    all_x = [x for s in drawn for x in s.xs] or [0.0, 1.0]
    all_y = [y for s in drawn for y in s.ys] or [0.0, 1.0]
    x0, x1 = x_range or _padded_range(all_x)
    y0, y1 = y_range or _padded_range(all_y)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(x: float) -> float:
        return LEFT + (x - x0) / (x1 - x0) * plot_w

    def py(y: float) -> float:
        return TOP + plot_h - (min(max(y, y0), y1) - y0) / (y1 - y0) * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" role="img">',
        f"<title>{escape(title)}</title>",
        f'<text x="{WIDTH / 2:g}" y="18" text-anchor="middle" font-size="14">{escape(title)}</text>',
    ]
    for tick in nice_ticks(x0, x1, min_step=x_step):
        x = _fmt(px(tick))
        parts.append(f'<line x1="{x}" y1="{TOP}" x2="{x}" y2="{TOP + plot_h}" stroke="#e3e3e3"/>')
        parts.append(
            f'<text x="{x}" y="{TOP + plot_h + 16}" text-anchor="middle" font-size="11">{_label(tick)}</text>'
        )
    for tick in nice_ticks(y0, y1):
        y = _fmt(py(tick))
        parts.append(f'<line x1="{LEFT}" y1="{y}" x2="{LEFT + plot_w}" y2="{y}" stroke="#e3e3e3"/>')
        parts.append(
            f'<text x="{LEFT - 6}" y="{y}" text-anchor="end" dy="4" font-size="11">{_label(tick)}</text>'
        )
    parts.append(f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#555"/>')
    if diagonal:
        lo, hi = max(x0, y0), min(x1, y1)
        parts.append(
            f'<line class="chance" x1="{_fmt(px(lo))}" y1="{_fmt(py(lo))}" x2="{_fmt(px(hi))}" '
            f'y2="{_fmt(py(hi))}" stroke="#999" stroke-dasharray="4 4"/>'
        )
    for i, s in enumerate(drawn):
        points = " ".join(f"{_fmt(px(x))},{_fmt(py(y))}" for x, y in zip(s.xs, s.ys, strict=True))
        color = COLORS[i % len(COLORS)]
        parts.append(
            f'<polyline class="series" points="{points}" fill="none" stroke="{color}" stroke-width="2">'
            f"<title>{escape(s.name)}</title></polyline>"
        )
        if dots:
            for vx, vy in zip(s.xs, s.ys, strict=True):
                off = " (off scale)" if not y0 <= vy <= y1 else ""
                parts.append(
                    f'<circle class="point" cx="{_fmt(px(vx))}" cy="{_fmt(py(vy))}" r="3" fill="{color}">'
                    f"<title>{escape(s.name)} at {_label(vx)}: {_label(vy)}{off}</title></circle>"
                )
        if len(drawn) > 1:
            # Curves that start high on the left (KS, lift) keep the bottom-left corner free instead.
            at = TOP + plot_h - 8 - 14 * (len(drawn) - 1 - i) if legend_bottom else TOP + 14 + 14 * i
            parts.append(f'<text x="{LEFT + 8}" y="{at}" font-size="11" fill="{color}">{escape(s.name)}</text>')
    if note:
        parts.append(
            f'<text class="note" x="{LEFT + plot_w - 4}" y="{TOP + 14}" text-anchor="end" font-size="11" '
            f'fill="#a33">{escape(note)}</text>'
        )
    parts.append(
        f'<text x="{LEFT + plot_w / 2:g}" y="{HEIGHT - 8}" text-anchor="middle" font-size="12">{escape(x_label)}</text>'
    )
    parts.append(
        f'<text x="14" y="{TOP + plot_h / 2:g}" text-anchor="middle" font-size="12" '
        f'transform="rotate(-90 14 {TOP + plot_h / 2:g})">{escape(y_label)}</text>'
    )
    parts.append("</svg>")
    return Markup("".join(parts))


def roc_chart(fpr: Sequence[float], tpr: Sequence[float], auc: float | None = None) -> Markup:
    title = "ROC" if auc is None else f"ROC (AUC {auc:.4f})"
    return line_chart(
        title,
        [Series("ROC", tuple(fpr), tuple(tpr))],
        "false positive rate",
        "true positive rate",
        x_range=(0.0, 1.0),
        y_range=(0.0, 1.0),
        diagonal=True,
    )


def readable_range(values: Sequence[float], jump: float = 5.0) -> tuple[float, float] | None:
    """A y range that keeps the bulk of a curve readable when a few values spike far above it.

    Hetero LR's first Taylor-loss values can be 20-50 while the rest settle below 1: drawn to
    scale, the curve that matters is a flat line at the bottom. The largest values (at most a
    third of them) are left off scale when they sit `jump` times further from the minimum than
    the next value; None when nothing spikes.
    """
    ordered = sorted((v for v in values if math.isfinite(v)), reverse=True)
    if len(ordered) < 4:
        return None
    low = ordered[-1]
    above = [v - low for v in ordered]
    best, cut = 0.0, 0
    for k in range(1, math.ceil(len(ordered) / 3) + 1):
        if above[k] > 0 and above[k - 1] / above[k] > best:
            best, cut = above[k - 1] / above[k], k
    if best < jump:
        return None
    top = ordered[cut]
    return low - 0.05 * (top - low), top + 0.15 * (top - low)


def loss_chart(loss: Sequence[float], title: str = "loss") -> Markup:
    xs = tuple(float(i) for i in range(1, len(loss) + 1))
    clipped = readable_range(loss)
    note = f"clipped: {sum(1 for v in loss if v > clipped[1])} value(s) up to {_label(max(loss))}" if clipped else ""
    return line_chart(
        title,
        [Series(title, xs, tuple(loss))],
        "iteration",
        "loss",
        x_range=(1.0, max(2.0, xs[-1])),
        y_range=clipped,
        x_step=1.0,
        dots=True,
        note=note,
    )
