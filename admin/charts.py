"""Server-side SVG charts (no JavaScript needed): stacked bars and lines with gaps.

Colours come from classes styled in ``static/admin.css``; every mark has a ``<title>``
so hovering shows its value.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import ceil, log10

from markupsafe import Markup, escape

W, H = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 14, 34


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    exp = 10 ** int(log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * exp:
            return step * exp
    return ceil(value / exp) * exp


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


def _frame(labels: Sequence[str], ymax: float, unit: str) -> list[str]:
    out = []
    plot_h = H - TOP - BOTTOM
    for i in range(5):
        v = ymax * i / 4
        y = TOP + plot_h - plot_h * i / 4
        out.append(f'<line class="grid" x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_fmt(v)}{escape(unit)}</text>')
    n = len(labels)
    step = max(1, ceil(n / 8))
    slot = (W - LEFT - RIGHT) / max(n, 1)
    for i, label in enumerate(labels):
        if (n - 1 - i) % step == 0:  # counted from the end: the last day always has its label
            x = LEFT + slot * (i + 0.5)
            out.append(f'<text class="axis" x="{x:.1f}" y="{H - BOTTOM + 16}" text-anchor="middle">{escape(label)}</text>')
    return out


def _svg(body: list[str], title: str, legend: Sequence[tuple[str, str]]) -> Markup:
    items = "".join(f'<span class="legend-item"><i class="swatch {escape(cls)}"></i>{escape(name)}</span>'
                    for name, cls in legend)
    return Markup(
        f'<figure class="chart"><figcaption>{escape(title)}<span class="legend">{items}</span></figcaption>'
        f'<svg viewBox="0 0 {W} {H}" role="img" aria-label="{escape(title)}" preserveAspectRatio="xMidYMid meet">'
        + "".join(body) + "</svg></figure>"
    )


def stacked_bars(labels: Sequence[str], series: Sequence[tuple[str, Sequence[float], str]], title: str,
                 unit: str = "") -> Markup:
    """Bars per label, one stacked segment per series (name, values, css class)."""
    totals = [sum(s[1][i] for s in series) for i in range(len(labels))]
    ymax = _nice_max(max(totals, default=0))
    plot_h = H - TOP - BOTTOM
    slot = (W - LEFT - RIGHT) / max(len(labels), 1)
    bar_w = max(2.0, slot * 0.7)
    body = _frame(labels, ymax, unit)
    for i, label in enumerate(labels):
        x = LEFT + slot * i + (slot - bar_w) / 2
        base = TOP + plot_h
        for name, values, cls in series:
            v = values[i]
            if v <= 0:
                continue
            h = plot_h * v / ymax
            base -= h
            body.append(f'<rect class="{escape(cls)}" x="{x:.1f}" y="{base:.1f}" width="{bar_w:.1f}" height="{h:.1f}">'
                        f'<title>{escape(label)}: {escape(name)} {_fmt(v)}{escape(unit)}</title></rect>')
    if not any(totals):
        body.append(f'<text class="empty" x="{W / 2}" y="{H / 2}" text-anchor="middle">no calls in this period</text>')
    return _svg(body, title, [(s[0], s[2]) for s in series])


def lines(labels: Sequence[str], series: Sequence[tuple[str, Sequence[float | None], str]], title: str,
          unit: str = "", ymax: float | None = None) -> Markup:
    """One polyline per series (name, values with None for gaps, css class), with dots."""
    values = [v for s in series for v in s[1] if v is not None]
    top = ymax if ymax is not None else _nice_max(max(values, default=0))
    plot_h = H - TOP - BOTTOM
    slot = (W - LEFT - RIGHT) / max(len(labels), 1)
    body = _frame(labels, top, unit)
    polylines: list[str] = []
    dots: list[str] = []
    for name, vals, cls in series:
        runs: list[list[tuple[float, float]]] = [[]]
        for i, v in enumerate(vals):
            if v is None:
                runs.append([])
                continue
            x = LEFT + slot * (i + 0.5)
            y = TOP + plot_h - plot_h * min(v, top) / top
            runs[-1].append((x, y))
            dots.append(f'<circle class="dot {escape(cls)}" cx="{x:.1f}" cy="{y:.1f}" r="3">'
                        f'<title>{escape(labels[i])}: {escape(name)} {_fmt(v)}{escape(unit)}</title></circle>')
        for run in runs:
            if len(run) > 1:
                pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
                polylines.append(f'<polyline class="line {escape(cls)}" points="{pts}"/>')
    body += polylines + dots
    if not values:
        body.append(f'<text class="empty" x="{W / 2}" y="{H / 2}" text-anchor="middle">no data in this period</text>')
    return _svg(body, title, [(s[0], s[2]) for s in series])
