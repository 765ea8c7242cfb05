"""The figures of report.html: overlaid learning curves and metric-versus-parameter plots.

Drawn as SVG (svgchart.py), not with matplotlib: the controller writes the
report at the end of every session, and importing matplotlib there alone
would cost more than every chart. Long series are thinned like the per-run plots.
"""

from __future__ import annotations

import math
from typing import Any

from .svgchart import Chart, colours

MAX_POINTS = 1000
POINTS_PER_CHART = 20_000  # over all its lines: keeps report.html small with many runs


def _thin(
    steps: list[float], values: list[float], limit: int = MAX_POINTS
) -> tuple[list[float], list[float]]:
    """A long series thinned to about `limit` points, keeping each bucket's extremes."""
    n = len(values)
    if n <= limit:
        return steps, values
    bucket = math.ceil(n / (limit // 2))
    xs: list[float] = []
    ys: list[float] = []
    for start in range(0, n, bucket):
        chunk = [v for v in values[start : start + bucket] if math.isfinite(v)]
        if chunk:
            xs += [steps[start], steps[start]]
            ys += [min(chunk), max(chunk)]
    return xs, ys


class Plotter:
    """Makes the report's charts as SVG documents (bytes)."""

    def curves(self, series: str, runs: list[tuple[str, Any]], best: str | None) -> bytes:
        """Every run's curve of one series, the best run drawn on top in black."""
        chart = Chart(series, xlabel="step")
        labelled = len(runs) <= 12
        ordered = sorted(runs, key=lambda r: r[0] == best)  # the best last: drawn on top
        palette = dict(zip([r[0] for r in runs], colours(len(runs)), strict=True))
        limit = max(100, min(MAX_POINTS, POINTS_PER_CHART // max(len(runs), 1)))
        for label, values in ordered:
            steps = [float(s) for s in values.steps]
            xs, ys = _thin(steps, [float(v) for v in values], limit)
            is_best = label == best
            chart.line(
                xs,
                ys,
                "black" if is_best else palette[label],
                2.0 if is_best else 1.1,
                (f"{label} (best)" if is_best else label) if labelled else None,
            )
        return chart.render().encode()

    def versus(self, axis: str, metric: str, points: list[tuple[Any, float]], mode: str) -> bytes:
        """A final metric against one sweep axis: a line for numbers, bars for categories."""
        chart = Chart(f"{metric} by {axis} (mean over other axes)", axis, f"{metric} ({mode})")
        numeric = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x, _ in points)
        if numeric:
            groups: dict[float, list[float]] = {}
            for x, y in points:
                groups.setdefault(float(x), []).append(y)
            xs = sorted(groups)
            chart.xlog = len(xs) > 2 and min(xs) > 0 and max(xs) / min(xs) >= 100
            chart.scatter([x for x, _ in points], [y for _, y in points], "#4c72b0")
            chart.line(xs, [sum(groups[x]) / len(groups[x]) for x in xs], "#4c72b0", 1.6)
        else:
            values: dict[str, list[float]] = {}
            for x, y in points:
                values.setdefault(str(x), []).append(y)
            for key, found in values.items():
                chart.bar(key, sum(found) / len(found))
        return chart.render().encode()


def finite(value: Any) -> bool:
    """Whether a value is a finite number (plottable)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
