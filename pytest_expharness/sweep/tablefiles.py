"""Writing sweep tables: comparison.csv, .md and .json (tabletext.py renders the terminal view).

The controller (or the lone process without xdist) calls `write_sweeps` once at
the end of the session with the records that reached it. Runs whose record
never arrived (a Ctrl-C, a worker that died) are read back from their folders,
so the table is whole whatever happened.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..archive import layout
from .table import SweepTable, build
from .tabletext import MARKDOWN, markdown_cell, render, title

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp")


def group(records: list[dict[str, Any]]) -> dict[Path, list[dict[str, Any]]]:
    """Group run records by sweep folder (<root>/<experiment>/<session>)."""
    sweeps: dict[Path, list[dict[str, Any]]] = {}
    paths: dict[str, Path] = {}  # one Path a sweep, not one a record
    for record in records:
        text = record["sweep"]
        folder = paths.get(text) or paths.setdefault(text, Path(text))
        sweeps.setdefault(folder, []).append(record)
    return sweeps


def fill_gaps(
    sweeps: dict[Path, list[dict[str, Any]]], root: Path, stamp: str
) -> dict[Path, list[dict[str, Any]]]:
    """Add the run folders of this session that sent no record (read back from disk), but
    not a run another run resumed (a preempted SLURM task's, labelled superseded)."""
    from ..catalog.records import record_from_folder

    folders = set(sweeps) | session_folders(root, stamp)
    for folder in folders:
        known = {os.path.basename(r["path"]) for r in sweeps.get(folder, []) if r.get("path")}
        try:
            names = sorted(os.listdir(folder))  # names, not Paths: 10,000 runs' worth
        except (NotADirectoryError, FileNotFoundError):
            continue
        for name in names:
            if name in known:
                continue
            run = folder / name
            if not layout.is_run_folder(run):
                continue
            try:
                record = record_from_folder(run)
            except (OSError, ValueError):
                continue
            if record.get("label") != "superseded":  # the run that resumed it stands for it
                sweeps.setdefault(folder, []).append(record)
    return sweeps


def session_folders(root: Path, stamp: str) -> set[Path]:
    """Return the sweep folders (<root>/<experiment>/<stamp>) this session made, testing too."""
    return {
        p
        for base in (root, root / layout.TESTING_DIR)
        for p in base.glob(f"*/{stamp}")
        if p.is_dir()
    }


def csv_text(table: SweepTable) -> str:
    """Return comparison.csv: one row per run, every cell whole (an axis holding None: None)."""
    lines = [_csv_line(table.columns)]
    for row in table.rows:
        cells = (table.cell(row, c) for c in table.columns)
        lines.append(_csv_line(["" if value is None else value for value in cells]))
    return "".join(lines)


def _csv_line(cells: list[Any]) -> str:
    """One CSV row ending in \\n; a cell holding a lone \\r is quoted too (it ends a row else)."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(cells)
    return out.getvalue()[:-2] + "\n"


# -- cells: whole in comparison.md, one short line in the terminal ----------------


def _md_text(value: Any) -> str:
    return str(markdown_cell("" if value is None else str(value)))


def _code(value: Any) -> str:
    text = " ".join(str(value).split())
    return _md_text(text) if "`" in text else f"`{text}`"


def _failed_section(table: SweepTable) -> list[str]:
    if not table.failed_components:
        return []
    lines = ["## Failed components", ""]
    for failed in table.failed_components:
        line = f"- {_code(failed['run'])}: component {_code(failed['component'])} failed"
        line += f": {_md_text(failed.get('reason') or 'no reason given')}"
        if failed.get("hint"):
            line += f" (hint: {_md_text(failed['hint'])})"
        lines.append(line)
    return [*lines, ""]


def _analysis_section(table: SweepTable) -> list[str]:
    """The sweep analysis and a relative link to each file it wrote (images shown inline)."""
    from urllib.parse import quote

    from .analyses import FOLDER

    analysis = table.analysis
    if not analysis:
        return []
    said = f"{_code(analysis.get('function'))}: **{_md_text(analysis.get('status'))}**"
    if analysis.get("error"):
        said += f": {_md_text(analysis['error'])}"
    lines = ["## Sweep analysis", "", said, ""]
    files = [str(name) for name in analysis.get("files") or []]
    links = {name: f"{FOLDER}/{quote(name)}" for name in files}
    alt = {name: re.sub(r"([\\\[\]])", r"\\\1", name) for name in files}
    lines += [f"- [{alt[name]}]({links[name]})" for name in files]
    for name in files:
        if Path(name).suffix.lower() in IMAGE_SUFFIXES:
            lines += ["", f"![{alt[name]}]({links[name]})"]
    return [*lines, ""] if files else lines


def markdown(table: SweepTable) -> str:
    """Return comparison.md."""
    head = [f"# {table.experiment}: session {table.session}", "", title(table), ""]
    if table.best:
        head += [f"Best run by {table.metric_column} ({table.mode}): **{table.best}**", ""]
    head += [f"Recommendation: {line}" for line in table.recommendations]
    if table.recommendations:
        head.append("")
    gates = ["## Expectations and baselines", "", *(f"- {line}" for line in table.gates), ""]
    tail = [*(gates if table.gates else []), *_failed_section(table), *_analysis_section(table)]
    text = "\n".join(head) + "\n" + render(table, MARKDOWN) + "\n"
    return text + ("\n" + "\n".join(tail) if tail else "")


def write(table: SweepTable) -> None:
    """Write comparison.csv, comparison.md and comparison.json into the sweep folder."""
    folder = Path(table.folder)
    folder.mkdir(parents=True, exist_ok=True)  # every point reused: no run made it
    layout.atomic_write_text(folder / "comparison.csv", csv_text(table))
    layout.atomic_write_text(folder / "comparison.md", markdown(table))
    layout.atomic_write_text(folder / "comparison.json", json_text(table.as_json()))


LINE_PER_ITEM = ("rows", "aggregate")  # comparison.json's lists written an item a line


def json_text(found: dict[str, Any]) -> str:
    """comparison.json: indented, but each row on one line of its own.

    Indented JSON is encoded in Python, a line a value (10,000 rows: most of a
    second); a row a line is encoded in C, and reads and diffs as well.
    """
    parts = []
    for key, value in found.items():
        if key in LINE_PER_ITEM and isinstance(value, list) and value:
            text = "[\n" + ",\n".join(f"    {json.dumps(item)}" for item in value) + "\n  ]"
        else:
            text = json.dumps(value, indent=2).replace("\n", "\n  ")
        parts.append(f"  {json.dumps(key)}: {text}")
    return "{\n" + ",\n".join(parts) + "\n}\n"


def write_sweeps(
    records: list[dict[str, Any]],
    root: Path,
    stamp: str,
    interrupted: bool,
    columns: Sequence[str] = (),
) -> tuple[list[SweepTable], list[dict[str, Any]]]:
    """Build and write the table of every sweep of the session; return them and all records.

    `columns`: what --exp-columns adds (session/columns.py).
    """
    sweeps = fill_gaps(group(records), root, stamp) if interrupted or records else {}
    tables = []
    for _, found in sorted(sweeps.items()):
        if not found:
            continue
        stopped = interrupted or any(r["status"] in ("interrupted", "running") for r in found)
        table = build(found, interrupted=stopped, extra=columns)
        write(table)
        tables.append(table)
    return tables, [record for found in sweeps.values() for record in found]
