"""The comparison table of a sweep, as plain data: rows, main metric, pivot, repeats.

A sweep is every run of one experiment in one session. Its table has a row per
run (failed, skipped, crashed and reused runs included, with their reason), a
column per axis, the duration, the final value of every tracked series and
every scalar stored under `exp["results/..."]`; when some run has components,
a `components` column counts their statuses (`2 ok, 1 failed, 1 disabled`) and
the table lists each failed one with its reason; when some run's log holds
warnings or errors, a `log` column counts them. With a main metric the rows are
sorted by it and the best is marked; a two-axis grid with two values or more on
each axis also gets a pivot matrix of the main metric; repeats get a table of
mean, std, n and failures per point.

A parameter whose value is None and a parameter a run does not have are two
things: a row holds the key of every axis its run has (None included) and no
key for an axis it lacks. `SweepTable.cell` is the one rule every writer shows
cells by: an axis holding None reads `None`, an absent one is empty.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..gates.text import DELTA, EXPECT, delta_cell, expect_cell, shown_baseline, sweep_lines
from ..session import columns as extra_columns

OK_STATUSES = ("completed", "reused")
SYS = "sys/"  # the resource series of every run (session/resources.py): not table columns
RERUN = "rerun"  # an earlier attempt (pytest-rerunfailures) of a point a later attempt ran
COMPONENT_WORDS = {"success": "ok"}  # how a component status is counted in its column
COMPONENT_ORDER = ("ok", "failed", "disabled", "pending")  # then any other, as first seen


@dataclass
class SweepTable:
    """Everything written about one sweep."""

    experiment: str
    session: str
    folder: str
    testing: bool
    interrupted: bool
    axes: list[str]
    columns: list[str]
    rows: list[dict[str, Any]]
    metric: str | None = None
    mode: str = "min"
    metric_column: str | None = None
    best: str | None = None
    pivot: dict[str, Any] | None = None
    aggregate: list[dict[str, Any]] = field(default_factory=list)
    recommendations: list[str] = field(default_factory=list)
    analysis: dict[str, Any] | None = None
    failed_components: list[dict[str, Any]] = field(default_factory=list)
    gates: list[str] = field(default_factory=list)  # expectations and baselines (gates/text.py)

    def cell(self, row: dict[str, Any], column: str) -> Any:
        """Return what a cell shows: its value, `"None"` for an axis holding None, None if empty.

        Writers format the values they get (floats, lists) and leave a None cell empty.
        """
        if column in self.axes and column in row and row[column] is None:
            return "None"
        return row.get(column)

    def as_json(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment,
            "session": self.session,
            "testing": self.testing,
            "interrupted": self.interrupted,
            "axes": self.axes,
            "main_metric": {"name": self.metric, "column": self.metric_column, "mode": self.mode}
            if self.metric
            else None,
            "best": self.best,
            "columns": self.columns,
            "rows": self.rows,
            "pivot": self.pivot,
            "aggregate": self.aggregate,
            "recommendations": self.recommendations,
            "analysis": self.analysis,
            "failed_components": self.failed_components,
            "gates": self.gates,
        }


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return None if math.isnan(value) else float(value)


def build(
    records: list[dict[str, Any]], interrupted: bool = False, extra: Sequence[str] = ()
) -> SweepTable:
    """Build the table of one sweep from its run records; `extra`: --exp-columns' columns."""
    records = sorted(
        mark_reruns(records),
        key=lambda r: (r.get("order", 0), r.get("repeat", 0), r.get("attempt") or 1, r["run_id"]),
    )
    first = records[0]
    axes: list[str] = []
    for record in records:
        axes.extend(name for name in record["axes"] if name not in axes)
    repeats = max(int(r.get("repeats") or 1) for r in records)
    series: list[str] = []
    results: list[str] = []
    for record in records:
        series.extend(n for n in record["metrics"] if n not in series and not n.startswith(SYS))
        results.extend(k for k in record["results"] if k not in results)
    attempts = any((r.get("attempt") or 1) > 1 for r in records)
    extra = extra_columns.expand(extra, records)
    components = any(r.get("components") for r in records)
    logs = any(log_text(r.get("log")) for r in records)
    fixed = {"best", "run", "status", "repeat", "seed", "attempt", "duration_s", "reason"}
    fixed |= {name for name, shown in (("components", components), ("log", logs)) if shown}
    fixed |= set(extra)
    expects = any(r.get("expectations") for r in records)
    compared = any(shown_baseline(r.get("baseline")) for r in records)
    gated = [name for name, shown in ((EXPECT, expects), (DELTA, compared)) if shown]
    fixed |= set(gated)
    axis_col = {name: f"{name} (axis)" if name in fixed else name for name in axes}
    series_col = {name: f"{name} (series)" if name in fixed else name for name in series}
    columns = ["run", "status", *axis_col.values()]
    if repeats > 1:
        columns += ["repeat", "seed"]
    if attempts:
        columns.append("attempt")
    columns += ["duration_s", *series_col.values(), *results, *extra, *gated]
    columns += [name for name, shown in (("components", components), ("log", logs)) if shown]
    columns.append("reason")
    rows = []
    for record in records:
        row: dict[str, Any] = {"run": record["run_id"], "status": record["status"]}
        row.update({axis_col[name]: value for name, value in record["axes"].items()})
        if repeats > 1:
            row["repeat"], row["seed"] = record.get("repeat"), record.get("seed")
        if attempts:
            row["attempt"] = record.get("attempt") or 1
        duration = record.get("duration")
        row["duration_s"] = round(duration, 3) if isinstance(duration, (int, float)) else None
        row.update({series_col[name]: record["metrics"].get(name) for name in series})
        row.update({key: record["results"].get(key) for key in results})
        row.update({name: extra_columns.cell(record, name) for name in extra})
        if expects:
            row[EXPECT] = expect_cell(record.get("expectations"))
        if compared:
            row[DELTA] = delta_cell(record.get("baseline"))
        if components:
            row["components"] = components_text(record.get("components"))
        if logs:
            row["log"] = log_text(record.get("log"))
        row["reason"] = record.get("reason")
        rows.append(row)
    axes = list(axis_col.values())
    series = list(series_col.values())
    table = SweepTable(
        experiment=first["experiment"],
        session=Path(first["sweep"]).name,
        folder=str(first["sweep"]),
        testing=bool(first.get("testing")),
        interrupted=interrupted,
        axes=axes,
        columns=columns,
        rows=rows,
        metric=next((r["metric"] for r in records if r.get("metric")), None),
        mode=next((r["mode"] for r in records if r.get("metric")), "min"),
        failed_components=_failed_components(records),
        gates=sweep_lines(records),
    )
    grid_order = list(table.rows)
    _rank(table)
    if len(axes) == 2 and table.metric_column and "trial" not in axes:  # a search has no grid
        table.pivot = _pivot(table, grid_order)
    if repeats > 1:
        table.aggregate = _aggregate(table, [*series, *results])
    return table


def _status_of(component: Any) -> tuple[str, Any, Any]:
    """(status, reason, hint) of a component as a record carries it (a dict, or its status)."""
    if isinstance(component, dict):
        return str(component.get("status")), component.get("reason"), component.get("hint")
    return str(component), None, None


def components_text(components: Any) -> str | None:
    """Return the components cell of a run, e.g. '2 ok, 1 failed, 1 disabled' (None: none)."""
    if not isinstance(components, dict) or not components:
        return None
    counts: dict[str, int] = {}
    for component in components.values():
        status = _status_of(component)[0]
        word = COMPONENT_WORDS.get(status, status)
        counts[word] = counts.get(word, 0) + 1
    order = [w for w in COMPONENT_ORDER if w in counts] + [
        w for w in counts if w not in COMPONENT_ORDER
    ]
    return ", ".join(f"{counts[word]} {word}" for word in order)


def log_text(log: Any) -> str | None:
    """Return the log cell of a run, e.g. '2 warnings, 1 error' (None: nothing to count)."""
    if not isinstance(log, dict):
        return None
    parts = []
    for key, one in (("warnings", "warning"), ("errors", "error")):
        n = log.get(key)
        if isinstance(n, int) and not isinstance(n, bool) and n > 0:
            parts.append(f"{n} {one}" if n == 1 else f"{n} {key}")
    return ", ".join(parts) or None


def _failed_components(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every failed component of the sweep's runs (not of earlier attempts), in grid order."""
    found = []
    for record in records:
        if record.get("status") == RERUN or not isinstance(record.get("components"), dict):
            continue
        for name, component in record["components"].items():
            status, reason, hint = _status_of(component)
            if status == "failed":
                found.append(
                    {"run": record["run_id"], "component": name, "reason": reason, "hint": hint}
                )
    return found


def mark_reruns(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return the records with every attempt but a test's last marked `rerun` (copies).

    pytest-rerunfailures runs a failed test again; each attempt keeps its
    folder and its status there. The last attempt is the point's run, as pytest
    counts it; the reason of an earlier one says how it ended.
    """
    last: dict[str, int] = {}
    for record in records:
        if record.get("node_id"):
            attempt = record.get("attempt") or 1
            last[record["node_id"]] = max(last.get(record["node_id"], 1), attempt)
    marked = []
    for record in records:
        attempt = record.get("attempt") or 1
        if record.get("node_id") and attempt < last[record["node_id"]]:
            how = record.get("status")
            if record.get("reason"):
                how = f"{how}: {record['reason']}"
            record = {**record, "status": RERUN, "reason": f"attempt {attempt} {how}"}
        marked.append(record)
    return marked


def metric_column(columns: list[str], metric: str) -> str | None:
    """Find the column of the main metric: a series name, or a key under results/."""
    for candidate in (metric, f"results/{metric}"):
        if candidate in columns:
            return candidate
    return None


def _rank(table: SweepTable) -> None:
    if not table.metric:
        return
    column = metric_column(table.columns, table.metric)
    table.metric_column = column
    if column is None:
        return
    sign = 1.0 if table.mode == "min" else -1.0

    def key(row: dict[str, Any]) -> tuple[int, float]:
        value = _number(row.get(column))
        usable = row["status"] in OK_STATUSES and value is not None
        return (0, sign * value) if usable and value is not None else (1, 0.0)

    table.rows.sort(key=key)
    best = table.rows[0] if table.rows else None
    if best is not None and key(best)[0] == 0:
        table.best = best["run"]
        table.columns.insert(0, "best")
        for row in table.rows:
            row["best"] = "*" if row is best else ""


def _point_key(row: dict[str, Any], axes: list[str]) -> tuple[str, ...]:
    return tuple(repr(row[name]) if name in row else "absent" for name in axes)


def _add(values: list[Any], seen: set[Any], value: Any) -> None:
    """Append value unless an equal one is there (a set finds it; a list, the unhashable)."""
    try:
        if value in seen:
            return
        seen.add(value)
    except TypeError:  # a list or a dict: equal only to its own kind, which the set never holds
        if value in values:
            return
    values.append(value)


def _pivot(table: SweepTable, grid_order: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Main metric (mean over repeats) with the first axis down and the second across.

    Numbers are sorted; categories keep the grid's order (a baseline listed first stays first).
    A run without one of the two axes is not on the grid. With fewer than two values on
    either axis (a line, or one point after -k) there is nothing to pivot: None.
    """
    down, across = table.axes
    column = table.metric_column
    assert column is not None
    row_values: list[Any] = []
    col_values: list[Any] = []
    seen: tuple[set[Any], set[Any]] = (set(), set())
    cells: dict[tuple[str, str], list[float]] = {}
    for row in grid_order:
        if down not in row or across not in row:
            continue
        _add(row_values, seen[0], row[down])
        _add(col_values, seen[1], row[across])
    if len(row_values) < 2 or len(col_values) < 2:
        return None
    for row in table.rows:
        if down not in row or across not in row:
            continue
        r, c = row[down], row[across]
        value = _number(row.get(column))
        cell = cells.setdefault((repr(r), repr(c)), [])
        if row["status"] in OK_STATUSES and value is not None:
            cell.append(value)
    for values in (row_values, col_values):
        if all(_number(v) is not None for v in values):  # categories keep the grid's order
            values.sort()
    matrix = [
        [
            statistics.fmean(cells[(repr(r), repr(c))]) if cells.get((repr(r), repr(c))) else None
            for c in col_values
        ]
        for r in row_values
    ]
    return {
        "metric": column,
        "rows_axis": down,
        "columns_axis": across,
        "rows": row_values,
        "columns": col_values,
        "values": matrix,
    }


def _aggregate(table: SweepTable, metrics: list[str]) -> list[dict[str, Any]]:
    """Per grid point: n completed, failures, and mean and std of every metric."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in table.rows:
        groups.setdefault(_point_key(row, table.axes), []).append(row)
    out = []
    for found in groups.values():
        rows = [r for r in found if r["status"] != RERUN]  # the point's runs, not its reruns
        good = [r for r in rows if r["status"] in OK_STATUSES]
        entry: dict[str, Any] = {name: found[0][name] for name in table.axes if name in found[0]}
        entry["n"] = len(good)
        entry["failures"] = len(rows) - len(good)
        for name in metrics:
            values = [v for v in (_number(r.get(name)) for r in good) if v is not None]
            entry[f"{name} mean"] = statistics.fmean(values) if values else None
            entry[f"{name} std"] = statistics.stdev(values) if len(values) > 1 else None
        out.append(entry)
    if table.metric_column:
        sign = 1.0 if table.mode == "min" else -1.0
        key = f"{table.metric_column} mean"
        out.sort(key=lambda e: (e[key] is None, sign * (e[key] or 0.0)))
    return out
