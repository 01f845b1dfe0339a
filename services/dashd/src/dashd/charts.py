"""Bar charts drawn on the server as inline SVG: no script, no CDN, colours from the stylesheet's
variables (so light and dark mode both read), every text escaped. One chart is a row of slots
(hours, days), each with one or more bars side by side, a y axis of round steps and a label
under every few slots; the page shows the same numbers as a table beside it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from markupsafe import Markup, escape

WIDTH: Final = 720
HEIGHT: Final = 220
LEFT: Final = 48  # room for the y labels
BOTTOM: Final = 28  # room for the x labels
TOP: Final = 12
TICKS: Final = 4


@dataclass(frozen=True, slots=True)
class Series:
    name: str  # legend text
    css: str  # class of its bars: series-a, series-b, ... (colours in style.css)
    values: Sequence[float]


def nice_top(value: float) -> float:
    """The smallest 1/2/5 × 10^k at or above `value` (1 for nothing): a y axis step."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    return next(float(m * power) for m in (1, 2, 5, 10) if m * power >= value)


def number(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:.2g}"


def bar_chart(title: str, labels: Sequence[str], series: Sequence[Series], unit: str) -> Markup:
    """An SVG of `series` over the slots `labels` (each series one value per label)."""
    slots = max(1, len(labels))
    step = nice_top(max((v for s in series for v in s.values), default=0.0) / TICKS)
    top = step * TICKS
    plot_w, plot_h = WIDTH - LEFT - 8, HEIGHT - TOP - BOTTOM
    slot_w = plot_w / slots
    bar_w = max(1.0, slot_w * 0.8 / max(1, len(series)))
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for i in range(TICKS + 1):
        y = TOP + plot_h - plot_h * i / TICKS
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - 8}" y1="{y:.1f}" y2="{y:.1f}"/>')
        label = f"{number(top * i / TICKS)}{unit if i == TICKS else ''}"
        parts.append(
            f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(label)}</text>"
        )
    every = max(1, math.ceil(slots / 8))
    for n, label in enumerate(labels):
        x0 = LEFT + n * slot_w + slot_w * 0.1
        for k, s in enumerate(series):
            value = s.values[n] if n < len(s.values) else 0.0
            h = plot_h * value / top
            x = x0 + k * bar_w
            parts.append(
                f'<rect class="bar {escape(s.css)}" x="{x:.1f}" y="{TOP + plot_h - h:.1f}" '
                f'width="{bar_w:.1f}" height="{h:.1f}"><title>{escape(label)} {escape(s.name)}: '
                f"{escape(number(value))}{escape(unit)}</title></rect>"
            )
        if n % every == 0:
            parts.append(
                f'<text class="axis" x="{x0 + slot_w * 0.4:.1f}" y="{HEIGHT - 8}" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 (every text above is escaped)
