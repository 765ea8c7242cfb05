"""The charts of report.html: learning curves with their legend, metrics by parameter."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ...catalog.loading import RunRecord
from ..table import OK_STATUSES, SweepTable
from .parts import esc, img, param_name, plain, runs_attr, runs_text

MAX_VERSUS_METRICS = 4
LEGEND_PIECE = 1000  # legend entries joined into one piece of the page


def _groups(
    table: SweepTable, runs: list[RunRecord], labels: list[str]
) -> dict[str, list[str]] | None:
    """Runs by grid point (name -> labels), when some point has two runs or more; else None."""
    rows = {str(r["run"]): r for r in table.rows}
    several = len({run.experiment for run in runs}) > 1
    if not several and _all_apart(rows, labels, table.axes):
        return None  # a point a run (no repeats): nothing to group
    found: dict[str, list[str]] = {}
    for run, name in zip(runs, labels, strict=True):
        row = rows.get(name)
        values = [
            row.get(axis) if row is not None else run.params.get(param_name(axis))
            for axis in table.axes
        ]
        parts = [
            f"{axis}={'None' if v is None else plain(v)}"
            for axis, v in zip(table.axes, values, strict=True)
        ]
        point = ", ".join(([run.experiment] if several else []) + parts)
        found.setdefault(point or "all runs", []).append(name)
    if not found or max(len(names) for names in found.values()) < 2:
        return None
    return found


def _all_apart(rows: dict[str, dict[str, Any]], labels: list[str], axes: list[str]) -> bool:
    """Whether every run has a table row and no two rows share their axes' values."""
    seen = set()
    try:
        for name in labels:
            row = rows[name]
            values = (row.get(axis) for axis in axes)  # as _groups names a point
            seen.add(tuple("None" if v is None else plain(v) for v in values))
    except KeyError:
        return False
    return len(seen) == len(labels)


def _legend(
    labels: list[str], groups: dict[str, list[str]] | None, colour_of: dict[str, str], best: Any
) -> Iterator[str]:
    """The list of every run beside the charts (scrolls; grouped by grid point when it helps)."""

    def entry(name: str, grouped: bool) -> str:
        is_best = name == best
        colour = "black" if is_best else colour_of.get(name, "#4c72b0")
        css = "legend-run grouped" if grouped else "legend-run"
        text = f"{esc(name)} \u2605" if is_best else esc(name)
        return (
            f'<li class="{css}"{runs_attr([name])} title="{esc(name)}">'
            f'<span class="swatch" style="background:{colour}"></span>{text}</li>'
        )

    def items() -> Iterator[str]:
        if not groups:
            yield from (entry(name, False) for name in labels)
            return
        for point, members in groups.items():
            colour = colour_of.get(members[0], "#4c72b0")
            yield (
                f'<li class="legend-group"{runs_attr(members)} title="{esc(point)}">'
                f'<span class="swatch" style="background:{colour}"></span>{esc(point)} '
                f"<span class='n'>({runs_text(len(members))})</span></li>"
            )
            yield from (entry(name, True) for name in members)

    bands = (
        "<label><input type='checkbox' class='show-bands'> repeats as mean \u00b1 std</label>"
        if groups
        else ""
    )
    yield (
        f"<aside class='legend'><div class='legend-tools'><b>{runs_text(len(labels))}</b> "
        "<input type='search' class='legend-filter' placeholder='filter runs' "
        "aria-label='filter runs'>"
        f"{bands}<button type='button' class='legend-clear'>clear</button></div>"
        "<ul class='legend-list'>"
    )
    piece: list[str] = []
    for item in items():  # made as they are written
        piece.append(item)
        if len(piece) == LEGEND_PIECE:
            yield "".join(piece)
            piece = []
    yield "".join(piece) + "</ul></aside>"


def _thinned_note(runs: list[RunRecord]) -> str:
    """Say plainly when curves were drawn from fewer points than their runs tracked."""
    from .sample import CHART_FLOOR, curve_budget

    if not any(getattr(run.metrics, "thinned", False) for run in runs):
        return ""
    budget = curve_budget(len(runs))
    many = f"{runs_text(len(runs))} share each chart, so " if budget < CHART_FLOOR else ""
    return (
        f"<p class='thinned'>{many}every curve is drawn from at most {budget} of its points "
        "(a long series: each stretch's lowest and highest, or evenly spaced ones, "
        "its last point always); metrics.csv holds every point.</p>"
    )


def plots_section(table: SweepTable, runs: list[RunRecord], label: Any) -> Iterator[str]:
    """The learning curves and metrics-by-parameter charts, chart by chart (never whole)."""
    from .plots import Plotter, finite, run_colours

    series: list[str] = []
    for run in runs:
        series.extend(n for n in run.metrics if n not in series)
    ok_rows = [r for r in table.rows if r["status"] in OK_STATUSES]
    metric_names = (
        [table.metric_column]
        if table.metric_column
        else [c for c in table.columns if c in series][:MAX_VERSUS_METRICS]
    )
    if not series and not (table.axes and metric_names):
        return
    plotter = Plotter()
    if series:
        shown = [r for r in runs if any(len(v) for v in r.metrics.values())]
        labels = [label(r) for r in shown]
        groups = _groups(table, shown, labels)
        colour_of = run_colours(labels, groups)
        hint = (
            "<p>Hover a curve to name its run. Click a curve, a legend entry or a table row "
            "to highlight that run everywhere (click again to let go).</p>"
        )
        yield f"<h2>Learning curves</h2>{hint}{_thinned_note(shown)}<div class='curves'>"
        yield "<div class='charts'>"
        for number, name in enumerate(series):
            found = [
                (named, r.metrics[name])
                for named, r in zip(labels, shown, strict=True)
                if len(r.metrics.get(name, ())) >= 1
            ]
            yield f"<figure class='chart' data-series='{esc(name)}'>"
            yield from plotter.curves(name, found, table.best, colour_of, groups, f"s{number}")
            yield "</figure>"
        yield "</div>"
        yield from _legend(labels, groups, colour_of, table.best)
        yield "</div>"
    versus = []
    for axis in table.axes:
        for metric in metric_names:
            points = [
                (row.get(axis), float(row[metric]))
                for row in ok_rows
                if finite(row.get(metric)) and row.get(axis) is not None
            ]
            if len({repr(x) for x, _ in points}) >= 2:
                png = plotter.versus(axis, metric, points, table.mode)
                versus.append(img(png, f"{metric} by {axis}"))
    if versus:
        yield f"<h2>Metrics by parameter</h2><div class='plots'>{''.join(versus)}</div>"
