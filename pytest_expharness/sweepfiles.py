"""Writing and printing sweep tables: comparison.csv, .md, .json and the terminal view.

The controller (or the lone process without xdist) calls `write_sweeps` once at
the end of the session with the records that reached it. Runs whose record
never arrived (a Ctrl-C, a worker that died) are read back from their folders,
so the table is whole whatever happened.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from . import archive
from .sweeptable import RERUN, SweepTable, build

TERMINAL_ROWS = 25


def group(records: list[dict[str, Any]]) -> dict[Path, list[dict[str, Any]]]:
    """Group run records by sweep folder (<root>/<experiment>/<session>)."""
    sweeps: dict[Path, list[dict[str, Any]]] = {}
    for record in records:
        sweeps.setdefault(Path(record["sweep"]), []).append(record)
    return sweeps


def fill_gaps(
    sweeps: dict[Path, list[dict[str, Any]]], root: Path, stamp: str
) -> dict[Path, list[dict[str, Any]]]:
    """Add the run folders of this session that sent no record (read back from disk)."""
    from .records import record_from_folder

    folders = set(sweeps) | session_folders(root, stamp)
    for folder in folders:
        known = {Path(r["path"]).name for r in sweeps.get(folder, []) if r.get("path")}
        if not folder.is_dir():
            continue
        for run in sorted(folder.iterdir()):
            if run.name in known or not archive.is_run_folder(run):
                continue
            try:
                sweeps.setdefault(folder, []).append(record_from_folder(run))
            except (OSError, ValueError):
                continue
    return sweeps


def session_folders(root: Path, stamp: str) -> set[Path]:
    """Return the sweep folders (<root>/<experiment>/<stamp>) this session made, testing too."""
    return {
        p
        for base in (root, root / archive.TESTING_DIR)
        for p in base.glob(f"*/{stamp}")
        if p.is_dir()
    }


def _cell(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.6g}")
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return "" if value is None else value


def csv_text(table: SweepTable) -> str:
    """Return comparison.csv: one row per run."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow(["" if row.get(c) is None else row.get(c) for c in table.columns])
    return out.getvalue()


def _tabulate(rows: list[list[Any]], headers: list[str], fmt: str) -> str:
    from tabulate import tabulate

    return tabulate(rows, headers=headers, tablefmt=fmt, floatfmt=".6g", missingval="")


def render(table: SweepTable, fmt: str = "github", limit: int | None = None) -> str:
    """Return the table, its pivot and its repeats summary as text (markdown or terminal)."""
    shown = table.rows if limit is None else table.rows[:limit]
    columns = [c for c in table.columns if c != "reason" or any(r.get("reason") for r in shown)]
    lines = [_tabulate([[_cell(r.get(c)) for c in columns] for r in shown], columns, fmt)]
    if limit is not None and len(table.rows) > limit:
        lines.append(f"... {len(table.rows) - limit} more rows in {table.folder}/comparison.md")
    if table.pivot:
        pivot = table.pivot
        lines += [
            "",
            f"{pivot['metric']} ({table.mode}): {pivot['rows_axis']} down, "
            f"{pivot['columns_axis']} across",
        ]
        headers = [f"{pivot['rows_axis']} \\ {pivot['columns_axis']}", *map(str, pivot["columns"])]
        body = [
            [r, *[_cell(v) for v in values]]
            for r, values in zip(pivot["rows"], pivot["values"], strict=True)
        ]
        lines.append(_tabulate(body, headers, fmt))
    if table.aggregate:
        headers = list(table.aggregate[0])
        lines += ["", "over repeats (mean, std, n completed, failures):"]
        lines.append(
            _tabulate([[_cell(e[h]) for h in headers] for e in table.aggregate], headers, fmt)
        )
    return "\n".join(lines)


def title(table: SweepTable) -> str:
    """Return the one-line header of a sweep."""
    counts: dict[str, int] = {}
    for row in table.rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    reruns = counts.pop(RERUN, 0)  # earlier attempts: told apart, not counted as runs
    states = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    if reruns:
        states += f"; {reruns} rerun{'' if reruns == 1 else 's'}"
    n = len(table.rows) - reruns
    runs = f"{n} run{'' if n == 1 else 's'}"
    parts = [f"{table.experiment}: {runs} ({states})"]
    if table.metric:
        parts.append(f"main metric {table.metric} ({table.mode})")
        if table.metric_column is None:
            parts.append("not found among the columns")
    if table.testing:
        parts.append("testing mode")
    if table.interrupted:
        parts.append("INTERRUPTED: partial table")
    return ", ".join(parts)


def markdown(table: SweepTable) -> str:
    """Return comparison.md."""
    head = [f"# {table.experiment}: session {table.session}", "", title(table), ""]
    if table.best:
        head += [f"Best run by {table.metric_column} ({table.mode}): **{table.best}**", ""]
    head += [f"Recommendation: {line}" for line in table.recommendations]
    if table.recommendations:
        head.append("")
    return "\n".join(head) + "\n" + render(table, "github") + "\n"


def write(table: SweepTable) -> None:
    """Write comparison.csv, comparison.md and comparison.json into the sweep folder."""
    folder = Path(table.folder)
    folder.mkdir(parents=True, exist_ok=True)  # every point reused: no run made it
    archive.atomic_write_text(folder / "comparison.csv", csv_text(table))
    archive.atomic_write_text(folder / "comparison.md", markdown(table))
    archive.write_json(folder / "comparison.json", table.as_json())


def write_sweeps(
    records: list[dict[str, Any]], root: Path, stamp: str, interrupted: bool
) -> tuple[list[SweepTable], list[dict[str, Any]]]:
    """Build and write the table of every sweep of the session; return them and all records."""
    sweeps = fill_gaps(group(records), root, stamp) if interrupted or records else {}
    tables = []
    for _, found in sorted(sweeps.items()):
        if not found:
            continue
        stopped = interrupted or any(r["status"] in ("interrupted", "running") for r in found)
        table = build(found, interrupted=stopped)
        write(table)
        tables.append(table)
    return tables, [record for found in sweeps.values() for record in found]
