"""The comparison table of a sweep, as plain data: rows, main metric, pivot, repeats.

A sweep is every run of one experiment in one session. Its table has a row per
run (failed, skipped, crashed and reused runs included, with their reason), a
column per axis, the duration, the final value of every tracked series and
every scalar stored under `exp["results/..."]`. With a main metric the rows are
sorted by it and the best is marked; a two-axis grid also gets a pivot matrix
of the main metric; repeats get a table of mean, std, n and failures per point.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OK_STATUSES = ("completed", "reused")
RERUN = "rerun"  # an earlier attempt (pytest-rerunfailures) of a point a later attempt ran


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
        }


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return None if math.isnan(value) else float(value)


def build(records: list[dict[str, Any]], interrupted: bool = False) -> SweepTable:
    """Build the table of one sweep from its run records."""
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
        series.extend(n for n in record["metrics"] if n not in series)
        results.extend(k for k in record["results"] if k not in results)
    attempts = any((r.get("attempt") or 1) > 1 for r in records)
    fixed = {"best", "run", "status", "repeat", "seed", "attempt", "duration_s", "reason"}
    axis_col = {name: f"{name} (axis)" if name in fixed else name for name in axes}
    series_col = {name: f"{name} (series)" if name in fixed else name for name in series}
    columns = ["run", "status", *axis_col.values()]
    if repeats > 1:
        columns += ["repeat", "seed"]
    if attempts:
        columns.append("attempt")
    columns += ["duration_s", *series_col.values(), *results, "reason"]
    rows = []
    for record in records:
        row: dict[str, Any] = {"run": record["run_id"], "status": record["status"]}
        row.update({axis_col[name]: record["axes"].get(name) for name in axes})
        if repeats > 1:
            row["repeat"], row["seed"] = record.get("repeat"), record.get("seed")
        if attempts:
            row["attempt"] = record.get("attempt") or 1
        duration = record.get("duration")
        row["duration_s"] = round(duration, 3) if isinstance(duration, (int, float)) else None
        row.update({series_col[name]: record["metrics"].get(name) for name in series})
        row.update({key: record["results"].get(key) for key in results})
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
    )
    grid_order = list(table.rows)
    _rank(table)
    if len(axes) == 2 and table.metric_column:
        table.pivot = _pivot(table, grid_order)
    if repeats > 1:
        table.aggregate = _aggregate(table, [*series, *results])
    return table


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
    return tuple(repr(row.get(name)) for name in axes)


def _pivot(table: SweepTable, grid_order: list[dict[str, Any]]) -> dict[str, Any]:
    """Main metric (mean over repeats) with the first axis down and the second across.

    Numbers are sorted; categories keep the grid's order (a baseline listed first stays first).
    """
    down, across = table.axes
    column = table.metric_column
    assert column is not None
    row_values: list[Any] = []
    col_values: list[Any] = []
    cells: dict[tuple[str, str], list[float]] = {}
    for row in grid_order:
        r, c = row.get(down), row.get(across)
        if r not in row_values:
            row_values.append(r)
        if c not in col_values:
            col_values.append(c)
    for row in table.rows:
        r, c = row.get(down), row.get(across)
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
        entry: dict[str, Any] = {name: found[0].get(name) for name in table.axes}
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
