"""Inline SVG charts for the report: a line chart and a scatter plot, written by hand (a plotting library
would be a large dependency for two chart types, and its output would not be self-contained)."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf")
Point = tuple[float, float]


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round values spanning [low, high]."""
    if high <= low:
        return [low]
    raw = (high - low) / count
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 2.5, 5, 10) if step * m >= raw)
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step + 1e-9) + 1)]


def _label(value: float) -> str:
    return f"{value:g}" if abs(value) < 1e5 else f"{value:.2g}"


class _Axes:
    """Maps data to pixels inside a frame with margins for the labels; x can be logarithmic."""

    def __init__(self, xs: Sequence[float], ys: Sequence[float], width: int, height: int, log_x: bool,
                 y_range: tuple[float, float] | None):
        self.width, self.height, self.log_x = width, height, log_x
        self.left, self.right, self.top, self.bottom = 52, 12, 12, 38
        fx = [math.log10(x) for x in xs] if log_x else list(xs)
        self.x0, self.x1 = min(fx), max(fx)
        self.y0, self.y1 = y_range if y_range else (min(ys), max(ys))
        if self.x1 == self.x0:
            self.x0, self.x1 = self.x0 - 1, self.x1 + 1
        if self.y1 == self.y0:
            self.y0, self.y1 = self.y0 - 1, self.y1 + 1

    def x(self, value: float) -> float:
        value = math.log10(value) if self.log_x else value
        return self.left + (value - self.x0) / (self.x1 - self.x0) * (self.width - self.left - self.right)

    def y(self, value: float) -> float:
        return self.height - self.bottom - (value - self.y0) / (self.y1 - self.y0) * (self.height - self.top - self.bottom)

    def frame(self, x_label: str, y_label: str) -> list[str]:
        parts = [f"<rect x='{self.left}' y='{self.top}' width='{self.width - self.left - self.right}' "
                 f"height='{self.height - self.top - self.bottom}' fill='none' stroke='#999'/>"]
        x_ticks = ([10 ** e for e in range(math.floor(self.x0), math.ceil(self.x1) + 1)
                    if self.x0 - 1e-9 <= e <= self.x1 + 1e-9] if self.log_x else _ticks(self.x0, self.x1))
        for tick in x_ticks:
            px = self.x(tick)
            parts.append(f"<line x1='{px:.1f}' x2='{px:.1f}' y1='{self.height - self.bottom}' "
                         f"y2='{self.height - self.bottom + 4}' stroke='#999'/>"
                         f"<text x='{px:.1f}' y='{self.height - self.bottom + 16}' text-anchor='middle'>{_label(tick)}</text>")
        for tick in _ticks(self.y0, self.y1):
            py = self.y(tick)
            parts.append(f"<line x1='{self.left - 4}' x2='{self.width - self.right}' y1='{py:.1f}' y2='{py:.1f}' "
                         f"stroke='#eee'/><text x='{self.left - 6}' y='{py + 4:.1f}' text-anchor='end'>{_label(tick)}</text>")
        parts.append(f"<text x='{(self.left + self.width - self.right) / 2:.0f}' y='{self.height - 4}' "
                     f"text-anchor='middle'>{html.escape(x_label)}</text>"
                     f"<text transform='translate(12,{(self.top + self.height - self.bottom) / 2:.0f}) rotate(-90)' "
                     f"text-anchor='middle'>{html.escape(y_label)}</text>")
        return parts


def _svg(width: int, height: int, parts: list[str], title: str) -> str:
    return (f"<svg class='chart' width='{width}' height='{height}' "
            f"viewBox='0 0 {width} {height}' role='img' aria-label='{html.escape(title, quote=True)}'>"
            f"<title>{html.escape(title)}</title>{''.join(parts)}</svg>")


def _legend(names: Sequence[str], axes: _Axes) -> list[str]:
    parts = []
    for index, name in enumerate(names):
        y = axes.top + 14 + 16 * index
        parts.append(f"<rect x='{axes.width - axes.right - 150}' y='{y - 9}' width='10' height='10' "
                     f"fill='{PALETTE[index % len(PALETTE)]}'/><text x='{axes.width - axes.right - 135}' y='{y}'>"
                     f"{html.escape(name)}</text>")
    return parts


def line_chart(series: dict[str, Sequence[Point]], x_label: str, y_label: str, title: str, width: int = 640,
               height: int = 260, log_x: bool = False, y_range: tuple[float, float] | None = None) -> str:
    """One polyline (with a dot per point) for each named series of (x, y) points."""
    points = [p for values in series.values() for p in values if math.isfinite(p[1])]
    if not points:
        return ""
    axes = _Axes([x for x, _ in points], [y for _, y in points], width, height, log_x, y_range)
    parts = axes.frame(x_label, y_label)
    for index, values in enumerate(series.values()):
        colour = PALETTE[index % len(PALETTE)]
        finite = [(axes.x(x), axes.y(y), x, y) for x, y in values if math.isfinite(y)]
        parts.append(f"<polyline fill='none' stroke='{colour}' stroke-width='2' points='"
                     + " ".join(f"{px:.1f},{py:.1f}" for px, py, _, _ in finite) + "'/>")
        parts += [f"<circle cx='{px:.1f}' cy='{py:.1f}' r='2.5' fill='{colour}'><title>{_label(x)}: {y:.4g}</title></circle>"
                  for px, py, x, y in finite]
    if len(series) > 1:
        parts += _legend(list(series), axes)
    return _svg(width, height, parts, title)


def scatter(groups: dict[str, Sequence[Point]], x_label: str, y_label: str, title: str, size: int = 300) -> str:
    """A dot per point, one colour per named group, both axes from 0 to 1 (fractions)."""
    axes = _Axes([0, 1], [0, 1], size, size, False, (0.0, 1.0))
    parts = axes.frame(x_label, y_label)
    for index, points in enumerate(groups.values()):
        colour = PALETTE[index % len(PALETTE)]
        parts += [f"<circle cx='{axes.x(x):.1f}' cy='{axes.y(y):.1f}' r='2.2' fill='{colour}' fill-opacity='0.55'/>"
                  for x, y in points]
    parts += _legend(list(groups), axes)
    return _svg(size, size, parts, title)
