"""Small SVG charts: lines, bands, points and bars with axes and ticks.

Every run draws its series' plots with it (seriesplots.py), and the controller
the charts of report.html (sweep/html/plots.py). Drawing them as SVG text keeps
matplotlib (0.4 s to import, 35 ms a PNG) and PNG encoding out of both paths,
and gives crisp, small, self-contained images.

A line given a `key` is a run's curve: a `<g class="curve" data-run=KEY>` with a
`<title>` (the tooltip naming the run) around its polylines, and a wide
transparent copy of each (`<use class="hit">`, the same points, not repeated) so
that a 1-pixel line is easy to point at. A curve whose run a band sums up is
also `banded` (the page hides it when it shows bands). The page's script finds
curves by their `data-run` to highlight them; the chart itself has no script
and no legend: the page lists the runs beside the charts, however many.
"""

from __future__ import annotations

import html
import json
import math
import re
import sys
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
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
LINES_A_PIECE = 1000  # curves of a chart joined into one piece of its document
GRADIENT = ((68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (223, 227, 24))


_NOT_XML = re.compile("[\x00-\x08\x0b-\x1f\ud800-\udfff\ufffe\uffff]")  # and CR
BIG = sys.float_info.max


def escape(text: str) -> str:
    """Text as SVG text or an attribute: escaped, what XML cannot hold replaced by U+FFFD.

    A carriage return is replaced too: XML reads it back as a newline.
    """
    return html.escape(_NOT_XML.sub("\ufffd", text))


def _doubles(values: Any) -> Any:
    """Values as floats: an array of doubles itself (a report's curves), else a list."""
    if isinstance(values, array) and values.typecode == "d":
        return values
    return [float(v) for v in values]


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
    raw = hi / count - lo / count  # no overflow, whatever the range
    if raw <= 0:  # a span below float precision
        return [lo]
    step = 10.0 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= step * factor:
            step *= factor
            break
    first = math.ceil(lo / step) * step
    found: list[float] = []
    for i in range(4 * count):  # bounded: near 1e16, adding a step may not change a value
        value = first + i * step
        if not value <= hi + step * 1e-9 or not math.isfinite(value):
            break
        if not found or round(value, 12) != found[-1]:
            found.append(round(value, 12))
    return found


def _flat_y(middle: float) -> float:
    return abs(middle) * 0.05 if abs(middle) >= 1e-300 else 0.05


def _flat_x(middle: float) -> float:
    return 1.0 if abs(middle) < 1e15 else abs(middle) * 0.05  # +-1 is no width at 1e16


def _limits(lo: float, hi: float, pad: float, flat: Any) -> tuple[float, float]:
    """An axis' range: [lo, hi] and `pad` of its span each side; around it when it has no span.

    Spans are taken in halves (hi / 2 - lo / 2), finite for any two floats.
    """
    if hi / 2 - lo / 2 <= max(abs(lo), abs(hi)) * 1e-12:  # no span, or one below precision
        middle = lo / 2 + hi / 2
        lo, hi = max(middle - flat(middle), -BIG), min(middle + flat(middle), BIG)
    if pad:
        margin = (hi / 2 - lo / 2) * 2 * pad
        lo, hi = max(lo - margin, -BIG), min(hi + margin, BIG)
    return lo, hi


def _label(value: float) -> str:
    return f"{value:.4g}"


@dataclass(slots=True)
class Line:
    """A line; with a key, a run's curve (hoverable, highlightable). Slots: 10,000 a chart."""

    xs: list[float]
    ys: list[float]
    colour: str
    width: float
    key: str | None = None  # the run it draws: data-run
    title: str | None = None  # the tooltip (defaults to the key)


@dataclass
class Band:
    """A group's mean with a band of mean +- std (hidden until the page shows bands)."""

    xs: list[float]
    mean: list[float]
    std: list[float]
    colour: str
    keys: list[str]  # the runs it sums up: data-runs
    title: str


@dataclass
class Chart:
    """One chart; add lines, bands, points or bars, then render it as SVG text."""

    title: str
    xlabel: str = ""
    ylabel: str = ""
    xlog: bool = False
    ident: str = "c"  # prefix of the element ids (unique on a page holding many charts)
    lines: list[Line] = field(default_factory=list)
    bands: list[Band] = field(default_factory=list)
    points: list[tuple[list[float], list[float], str]] = field(default_factory=list)
    bars: list[tuple[str, float]] = field(default_factory=list)

    def line(
        self,
        xs: Any,
        ys: Any,
        colour: str,
        width: float = 1.2,
        key: str | None = None,
        title: str | None = None,
    ) -> None:
        """Add a line (non-finite values break it); a key makes it a run's curve."""
        self.lines.append(Line(_doubles(xs), _doubles(ys), colour, width, key, title))

    def band(self, xs: Any, mean: Any, std: Any, colour: str, keys: list[str], title: str) -> None:
        """Add a mean line with a band of mean +- std."""
        xs_, mean_, std_ = ([float(v) for v in values] for values in (xs, mean, std))
        self.bands.append(Band(xs_, mean_, std_, colour, list(keys), title))

    def scatter(self, xs: Any, ys: Any, colour: str) -> None:
        """Add points."""
        self.points.append(([float(x) for x in xs], [float(y) for y in ys], colour))

    def bar(self, label: str, value: float) -> None:
        """Add a bar (categorical x)."""
        self.bars.append((label, float(value)))

    def _xs(self, x: float) -> float:
        return math.log10(x) if self.xlog else x

    def _shown(self, x: float, y: float) -> bool:
        return math.isfinite(x) and math.isfinite(y) and (x > 0 or not self.xlog)

    def render(self, css_class: str = "chart") -> str:
        """Return the chart as an SVG document (its root element of class css_class)."""
        return "".join(self.pieces(css_class))

    def pieces(self, css_class: str = "chart") -> Iterator[str]:
        """The SVG document of `render`, piece by piece: a chart of 10,000 curves is never whole."""
        finite = math.isfinite
        if self.bars:
            xs = [float(i) for i in range(len(self.bars))]
            ys = [v for _, v in self.bars if finite(v)] + [0.0]
            xlo, xhi = -0.6, len(self.bars) - 0.4
        else:
            series = [(ln.xs, ln.ys) for ln in self.lines] + [(p[0], p[1]) for p in self.points]
            for b in self.bands:
                series.append((b.xs, [m - s for m, s in zip(b.mean, b.std, strict=True)]))
                series.append((b.xs, [m + s for m, s in zip(b.mean, b.std, strict=True)]))
            xs, ys = self._extent(series)
            xlo, xhi = min(xs), max(xs)
        ylo, yhi = _limits(min(ys), max(ys), 0.05, _flat_y)
        xlo, xhi = _limits(xlo, xhi, 0.0, _flat_x)
        w, h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
        xspan, yspan = xhi / 2 - xlo / 2, yhi / 2 - ylo / 2  # halves: finite for any floats

        def px(x: float) -> float:
            return LEFT + (x / 2 - xlo / 2) / xspan * w

        def py(y: float) -> float:
            return TOP + (yhi / 2 - y / 2) / yspan * h

        def where(x: float, y: float) -> str:
            return f"{px(self._xs(x)):.1f},{py(y):.1f}"

        xl2, yh2 = xlo / 2, yhi / 2

        def places(xs: list[float], ys: list[float]) -> list[str] | None:
            """Every point's place (as `where`), when all are finite on linear axes; else None."""
            if self.xlog or not (finite(sum(xs)) and finite(sum(ys))):
                return None
            return [
                f"{LEFT + (x / 2 - xl2) / xspan * w:.1f},{TOP + (yh2 - y / 2) / yspan * h:.1f}"
                for x, y in zip(xs, ys, strict=True)
            ]

        out = [
            f'<svg xmlns="http://www.w3.org/2000/svg" class="{escape(css_class)}" '
            f'width="{WIDTH}" height="{HEIGHT}" '
            f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="11">',
            f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
            f'<text class="title" x="{WIDTH / 2}" y="18" text-anchor="middle" font-size="13">'
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
        if self.bands:
            out.append('<g class="bands">')
            out += [self._band(band, where) for band in self.bands]
            out.append("</g>")
        banded = {key for band in self.bands for key in band.keys}
        for number, line in enumerate(self.lines):
            ident = f"{self.ident}-{number}"
            out.append(self._line(line, where, ident, line.key in banded, places))
            if len(out) >= LINES_A_PIECE:
                yield "\n".join(out) + "\n"
                out = []
        for xs_, ys_, colour in self.points:
            for x, y in zip(xs_, ys_, strict=True):
                if self._shown(x, y):
                    out.append(
                        f'<circle cx="{px(self._xs(x)):.1f}" cy="{py(y):.1f}" r="3" '
                        f'fill="{colour}" fill-opacity="0.6"/>'
                    )
        out.append(
            f'<text class="xlabel" x="{LEFT + w / 2}" y="{HEIGHT - 8}" text-anchor="middle">'
            f"{escape(self.xlabel)}</text>"
        )
        if self.ylabel:
            middle = TOP + h / 2
            out.append(
                f'<text class="ylabel" x="14" y="{middle}" text-anchor="middle" '
                f'transform="rotate(-90 14 {middle})">{escape(self.ylabel)}</text>'
            )
        out.append("</svg>")
        yield "\n".join(out)

    def _extent(
        self, series: list[tuple[list[float], list[float]]]
    ) -> tuple[list[float], list[float]]:
        """The plottable xs (x scale) and ys of some lines; a line of finite values on linear
        axes (its sums say so, with no Python loop) its extremes alone."""
        finite = math.isfinite
        xs: list[float] = []
        ys: list[float] = []
        for xs_, ys_ in series:
            if not xs_:
                continue
            if not self.xlog and finite(sum(xs_)) and finite(sum(ys_)):
                xs += (min(xs_), max(xs_))
                ys += (min(ys_), max(ys_))
                continue
            for x, y in zip(xs_, ys_, strict=True):
                if self._shown(x, y):
                    xs.append(self._xs(x))
                    ys.append(y)
        return xs or [0.0], ys or [0.0]

    def _segments(
        self, xs: list[float], ys: list[float], where: Any, places: Any = None
    ) -> list[list[str]]:
        """The runs of plottable points of a line (a non-finite value breaks it; `places`
        places a whole line at once, or says None)."""
        whole = places(xs, ys) if places is not None else None
        if whole is not None:
            return [whole] if whole else []
        found: list[list[str]] = [[]]
        for x, y in zip(xs, ys, strict=True):
            if self._shown(x, y):
                found[-1].append(where(x, y))
            elif found[-1]:
                found.append([])
        return [s for s in found if s]

    def _line(
        self, line: Line, where: Any, ident: str, banded: bool = False, places: Any = None
    ) -> str:
        stroke = f'stroke="{line.colour}" stroke-width="{line.width}"'
        parts = []
        for i, segment in enumerate(self._segments(line.xs, line.ys, where, places)):
            if len(segment) == 1:
                cx, cy = segment[0].split(",")
                parts.append(f'<circle cx="{cx}" cy="{cy}" r="2" fill="{line.colour}"/>')
            elif line.key is None:
                parts.append(f'<polyline fill="none" {stroke} points="{" ".join(segment)}"/>')
            else:  # the stroke is the group's: CSS can widen it; the hit area keeps its own
                parts.append(f'<polyline id="{ident}-{i}" points="{" ".join(segment)}"/>')
                parts.append(
                    f'<use href="#{ident}-{i}" class="hit" stroke="transparent" stroke-width="8"/>'
                )
        if line.key is None:
            return "".join(parts)
        title = escape(line.title if line.title is not None else line.key)
        return (
            f'<g class="curve{" banded" if banded else ""}" data-run="{escape(line.key)}" '
            f'fill="none" {stroke}>'
            f"<title>{title}</title>{''.join(parts)}</g>"
        )

    def _band(self, band: Band, where: Any) -> str:
        kept = [
            (x, m + s, m - s)
            for x, m, s in zip(band.xs, band.mean, band.std, strict=True)
            if self._shown(x, m + s) and self._shown(x, m - s)
        ]
        shapes = []
        if len(kept) >= 2:
            outline = [where(x, up) for x, up, _ in kept]
            outline += [where(x, down) for x, _, down in reversed(kept)]
            shapes.append(
                f'<path d="M{" L".join(outline)} Z" fill="{band.colour}" '
                'fill-opacity="0.2" stroke="none"/>'
            )
        for segment in self._segments(band.xs, band.mean, where):
            shapes.append(
                f'<polyline fill="none" stroke="{band.colour}" stroke-width="1.6" '
                f'points="{" ".join(segment)}"/>'
            )
        runs = escape(json.dumps(band.keys))
        return (
            f'<g class="band" data-runs="{runs}"><title>{escape(band.title)}</title>'
            f"{''.join(shapes)}</g>"
        )
