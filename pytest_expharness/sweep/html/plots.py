"""The figures of report.html: overlaid learning curves and metric-versus-parameter plots.

A curves chart keys every line by its run (see svgchart) and draws no legend of
its own: the page lists the runs beside the charts, however many there are.

Drawn as SVG (svgchart.py), not with matplotlib: the controller writes the
report at the end of every session, and importing matplotlib there alone
would cost more than every chart. Long series are thinned like the per-run plots.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterator
from typing import Any

from ...report.svgchart import Chart, colours

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


def run_colours(labels: list[str], groups: dict[str, list[str]] | None) -> dict[str, str]:
    """A colour per run, the same in every chart; with groups, one per group (its runs share it)."""
    if not groups:
        return dict(zip(labels, colours(len(labels)), strict=True))
    palette = colours(len(groups))
    return {run: palette[i] for i, members in enumerate(groups.values()) for run in members}


def mean_std(
    curves: list[Any], limit: int = MAX_POINTS
) -> tuple[list[float], list[float], list[float]]:
    """Steps, mean and sample std of some runs' curves, at each step two or more of them reached."""
    by_step: dict[float, list[float]] = {}
    for values in curves:
        for step, value in zip(values.steps, values, strict=True):
            if math.isfinite(float(value)):
                by_step.setdefault(float(step), []).append(float(value))
    xs = sorted(step for step, found in by_step.items() if len(found) >= 2)
    if len(xs) > limit:  # evenly thinned: a band has no spikes to keep
        xs = [xs[i * len(xs) // limit] for i in range(limit)]
    means = [statistics.fmean(by_step[x]) for x in xs]
    stds = [statistics.stdev(by_step[x]) for x in xs]
    return xs, means, stds


def _final(values: Any) -> str:
    """The last finite value of a curve, and its step, as a tooltip line."""
    if len(values) and math.isfinite(float(values[-1])):
        return f"final {float(values[-1]):.6g} at step {values.steps[-1]}"
    for step, value in reversed(list(zip(values.steps, values, strict=True))):
        if math.isfinite(float(value)):
            return f"final {float(value):.6g} at step {step}"
    return "no finite value"


class Plotter:
    """Makes the report's charts as SVG documents."""

    def curves(
        self,
        series: str,
        runs: list[tuple[str, Any]],
        best: str | None,
        colour_of: dict[str, str] | None = None,
        groups: dict[str, list[str]] | None = None,
        ident: str = "c",
    ) -> Iterator[str]:
        """Every run's curve of one series, the best run drawn on top in black, as SVG pieces.

        Each curve is keyed by its run's label (hover names it; the page
        highlights it). With `groups` (grid point -> its runs' labels), each
        group of two or more runs also gets a mean +- std band.
        """
        chart = Chart(series, xlabel="step", ylabel=series, ident=ident)
        if colour_of is None:
            colour_of = run_colours([r[0] for r in runs], groups)
        ordered = sorted(runs, key=lambda r: r[0] == best)  # the best last: drawn on top
        limit = max(100, min(MAX_POINTS, POINTS_PER_CHART // max(len(runs), 1)))
        for label, values in ordered:
            xs, ys = values.steps, values  # Chart.line makes them floats
            if len(values) > limit:
                xs, ys = _thin([float(s) for s in xs], [float(v) for v in ys], limit)
            is_best = label == best
            name = f"{label} (best)" if is_best else label
            chart.line(
                xs,
                ys,
                "black" if is_best else colour_of.get(label, "#4c72b0"),
                2.0 if is_best else 1.1,
                key=label,
                title=f"{name}\n{series}: {_final(values)}",
            )
        found = dict(runs)
        for group, members in (groups or {}).items():
            curves = [found[m] for m in members if m in found]
            if len(curves) < 2:
                continue
            xs, means, stds = mean_std(curves, limit)
            if xs:
                title = f"{group}\n{series}: mean \u00b1 std of {len(curves)} runs"
                chart.band(xs, means, stds, colour_of.get(members[0], "#4c72b0"), members, title)
        return chart.pieces(css_class="chart curves")

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
