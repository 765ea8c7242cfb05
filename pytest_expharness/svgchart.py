"""Small SVG charts for report.html: lines, points and bars with axes, ticks and a legend.

report.html is written by the controller at the end of every session; drawing
its charts as SVG text keeps matplotlib (0.6 s to import) and PNG encoding out
of that path, and gives crisp, small, self-contained images.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape
from typing import Any

WIDTH, HEIGHT = 640, 360
LEFT, RIGHT, TOP, BOTTOM = 70, 16, 30, 46
TAB10 = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
GRADIENT = ((68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (223, 227, 24))
MAX_LEGEND = 12


def colours(n: int) -> list[str]:
    """Distinct colours for up to 10 series, a viridis-like gradient beyond."""
    if n <= len(TAB10):
        return list(TAB10[:n])
    out = []
    for i in range(n):
        t = i / (n - 1) * (len(GRADIENT) - 1) * 0.95
        k = min(int(t), len(GRADIENT) - 2)
        a, b, f = GRADIENT[k], GRADIENT[k + 1], t - k
        rgb = (round(a[j] + (b[j] - a[j]) * f) for j in range(3))
        out.append("#{:02x}{:02x}{:02x}".format(*rgb))
    return out


def ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi]."""
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / count
    step = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= step * factor:
            step *= factor
            break
    first = math.ceil(lo / step) * step
    found = []
    value = first
    while value <= hi + step * 1e-9:
        found.append(round(value, 12))
        value += step
    return found


def _label(value: float) -> str:
    return f"{value:.4g}"


@dataclass
class Chart:
    """One chart; add lines, points or bars, then render it as SVG text."""

    title: str
    xlabel: str = ""
    ylabel: str = ""
    xlog: bool = False
    lines: list[tuple[list[float], list[float], str, float, str | None]] = field(
        default_factory=list
    )
    points: list[tuple[list[float], list[float], str]] = field(default_factory=list)
    bars: list[tuple[str, float]] = field(default_factory=list)

    def line(
        self, xs: Any, ys: Any, colour: str, width: float = 1.2, label: str | None = None
    ) -> None:
        """Add a line (non-finite values break it)."""
        self.lines.append(([float(x) for x in xs], [float(y) for y in ys], colour, width, label))

    def scatter(self, xs: Any, ys: Any, colour: str) -> None:
        """Add points."""
        self.points.append(([float(x) for x in xs], [float(y) for y in ys], colour))

    def bar(self, label: str, value: float) -> None:
        """Add a bar (categorical x)."""
        self.bars.append((label, float(value)))

    def _xs(self, x: float) -> float:
        return math.log10(x) if self.xlog else x

    def render(self) -> str:
        """Return the chart as an SVG document."""
        finite = math.isfinite
        if self.bars:
            xs = [float(i) for i in range(len(self.bars))]
            ys = [v for _, v in self.bars if finite(v)] + [0.0]
            xlo, xhi = -0.6, len(self.bars) - 0.4
        else:
            series = [(ln[0], ln[1]) for ln in self.lines] + [(p[0], p[1]) for p in self.points]
            pairs = [
                (self._xs(x), y)
                for xs_, ys_ in series
                for x, y in zip(xs_, ys_, strict=True)
                if finite(x) and finite(y) and (x > 0 or not self.xlog)
            ]
            xs = [p[0] for p in pairs] or [0.0]
            ys = [p[1] for p in pairs] or [0.0]
            xlo, xhi = min(xs), max(xs)
        ylo, yhi = min(ys), max(ys)
        if yhi == ylo:
            ylo, yhi = ylo - (abs(ylo) or 1) * 0.05, yhi + (abs(yhi) or 1) * 0.05
        if xhi == xlo:
            xlo, xhi = xlo - 1, xhi + 1
        pad = (yhi - ylo) * 0.05
        ylo, yhi = ylo - pad, yhi + pad
        w, h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

        def px(x: float) -> float:
            return LEFT + (x - xlo) / (xhi - xlo) * w

        def py(y: float) -> float:
            return TOP + (yhi - y) / (yhi - ylo) * h

        out = [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
            f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="11">',
            f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
            f'<text x="{WIDTH / 2}" y="18" text-anchor="middle" font-size="13">'
            f"{escape(self.title)}</text>",
        ]
        for y in ticks(ylo, yhi):
            out.append(
                f'<line x1="{LEFT}" x2="{LEFT + w}" y1="{py(y):.1f}" y2="{py(y):.1f}" '
                'stroke="#e5e5e5"/>'
            )
            out.append(
                f'<text x="{LEFT - 6}" y="{py(y) + 4:.1f}" text-anchor="end">{_label(y)}</text>'
            )
        if self.bars:
            xticks = [(float(i), label) for i, (label, _) in enumerate(self.bars)]
        elif self.xlog:
            xticks = [(float(e), f"1e{e}") for e in range(math.ceil(xlo), math.floor(xhi) + 1)]
        else:
            xticks = [(x, _label(x)) for x in ticks(xlo, xhi)]
        for x, text in xticks:
            out.append(
                f'<line x1="{px(x):.1f}" x2="{px(x):.1f}" y1="{TOP}" y2="{TOP + h}" '
                'stroke="#f0f0f0"/>'
            )
            out.append(
                f'<text x="{px(x):.1f}" y="{TOP + h + 15}" text-anchor="middle">'
                f"{escape(text)}</text>"
            )
        out.append(
            f'<rect x="{LEFT}" y="{TOP}" width="{w}" height="{h}" fill="none" stroke="#444"/>'
        )
        base = py(max(ylo, min(0.0, yhi)))
        for i, (_, value) in enumerate(self.bars):
            if finite(value):
                top, left = py(value), px(i - 0.35)
                width = px(i + 0.35) - left
                out.append(
                    f'<rect x="{left:.1f}" y="{min(top, base):.1f}" width="{width:.1f}" '
                    f'height="{abs(base - top):.1f}" fill="#4c72b0"/>'
                )
        for xs_, ys_, colour, width, _ in self.lines:
            segment: list[str] = []
            for x, y in [*zip(xs_, ys_, strict=True), (math.nan, math.nan)]:
                if finite(x) and finite(y) and (x > 0 or not self.xlog):
                    segment.append(f"{px(self._xs(x)):.1f},{py(y):.1f}")
                    continue
                if len(segment) > 1:
                    out.append(
                        f'<polyline fill="none" stroke="{colour}" stroke-width="{width}" '
                        f'points="{" ".join(segment)}"/>'
                    )
                elif segment:
                    cx, cy = segment[0].split(",")
                    out.append(f'<circle cx="{cx}" cy="{cy}" r="2" fill="{colour}"/>')
                segment = []
        for xs_, ys_, colour in self.points:
            for x, y in zip(xs_, ys_, strict=True):
                if finite(x) and finite(y) and (x > 0 or not self.xlog):
                    out.append(
                        f'<circle cx="{px(self._xs(x)):.1f}" cy="{py(y):.1f}" r="3" '
                        f'fill="{colour}" fill-opacity="0.6"/>'
                    )
        out.append(
            f'<text x="{LEFT + w / 2}" y="{HEIGHT - 8}" text-anchor="middle">'
            f"{escape(self.xlabel)}</text>"
        )
        middle = TOP + h / 2
        out.append(
            f'<text x="14" y="{middle}" text-anchor="middle" '
            f'transform="rotate(-90 14 {middle})">{escape(self.ylabel)}</text>'
        )
        labelled = [(c, lab) for *_, c, _, lab in self.lines if lab]
        total = WIDTH
        if 0 < len(labelled) <= MAX_LEGEND:  # beside the plot, never over the curves
            width_px = 30 + 6 * max(len(lab) for _, lab in labelled)
            x0 = WIDTH - RIGHT + 10
            total = x0 + width_px
            out.append(
                f'<rect x="{x0}" y="{TOP}" width="{width_px}" '
                f'height="{14 * len(labelled) + 8}" fill="white" stroke="#ccc"/>'
            )
            for i, (colour, lab) in enumerate(labelled):
                y = TOP + 18 + 14 * i
                out.append(
                    f'<line x1="{x0 + 4}" x2="{x0 + 18}" y1="{y - 4}" y2="{y - 4}" '
                    f'stroke="{colour}" stroke-width="2"/>'
                )
                out.append(f'<text x="{x0 + 22}" y="{y}" font-size="10">{escape(lab)}</text>')
        out.append("</svg>")
        if total != WIDTH:  # widen the canvas for the legend
            out[0] = out[0].replace(f'width="{WIDTH}"', f'width="{total}"', 1)
            out[0] = out[0].replace(f'viewBox="0 0 {WIDTH}', f'viewBox="0 0 {total}', 1)
            out[1] = out[1].replace(f'width="{WIDTH}"', f'width="{total}"', 1)
        return "\n".join(out)
