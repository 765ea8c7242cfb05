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
import os
import re
import sys
from pathlib import Path
from typing import Any

from . import archive
from .sweeptable import RERUN, SweepTable, build

TERMINAL_ROWS = 25
CELL_WIDTH = 40  # terminal: the widest a cell is (one line; comparison.md/csv/json keep it whole)
TEXT_WIDTH = 80  # terminal: the widest a reason is (prose, in the last column)
MIN_CELL = 16  # terminal: cells narrow down to this to fit the terminal's width, no further
FAILED_SHOWN = 10  # failed components named at the end of a session; then how many more
ELLIPSIS = "\u2026"
MARKDOWN = "github"
CONTROL = re.compile(r"[\x00-\x08\x0e-\x1b\x1f\x7f-\x84\x86-\x9f]")  # but line breaks
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp")


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


def with_components(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return the records, each with its run's components (copies where they were read).

    A record that does not carry `components` yet has them read from its run's
    summary.json: one small file per run, at the end of the session only.
    """
    found = []
    for record in records:
        if "components" not in record and record.get("path"):
            record = {**record, "components": _components_in(Path(record["path"]))}
        found.append(record)
    return found


def _components_in(folder: Path) -> dict[str, Any] | None:
    try:
        summary = json.loads((folder / archive.SUMMARY).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    components = summary.get("components") if isinstance(summary, dict) else None
    if not isinstance(components, dict):
        return None
    return {
        str(name): {key: c.get(key) for key in ("status", "reason", "hint")}
        for name, c in components.items()
        if isinstance(c, dict)
    }


def session_folders(root: Path, stamp: str) -> set[Path]:
    """Return the sweep folders (<root>/<experiment>/<stamp>) this session made, testing too."""
    return {
        p
        for base in (root, root / archive.TESTING_DIR)
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


def one_line(text: str, width: int) -> str:
    """Return text as one line of at most `width` characters: its first line, `…` if cut.

    A control character left in the line (an escape sequence) shows as `?`.
    """
    text = CONTROL.sub("?", text.replace("\t", " "))
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    if not lines:
        return ""
    first = lines[0]
    if len(first) > width or (len(lines) > 1 and len(first) >= width):
        return first[: width - 1].rstrip() + ELLIPSIS
    return first + ELLIPSIS if len(lines) > 1 else first


def _middle(text: str, width: int) -> str:
    """Return text cut in its middle to `width` characters (a run id keeps its distinct end)."""
    if len(text) <= width:
        return text
    head = (width - 1) // 2
    return text[:head] + ELLIPSIS + text[len(text) - (width - 1 - head) :]


def _text(value: Any) -> str:
    return json.dumps(value) if isinstance(value, (list, dict)) else str(value)


def _terminal_cell(value: Any, column: str, width: int = CELL_WIDTH, text: int = TEXT_WIDTH) -> Any:
    """A cell as the terminal shows it: one line of at most `width` (a reason: `text`) characters.

    A run id is cut in its middle (its end tells runs apart); numbers short enough stay numbers.
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        shown = float(f"{value:.6g}") if isinstance(value, float) else value
        if len(str(shown)) <= width:
            return shown
    found = _text(value)
    if column == "run":
        return _middle(one_line(found, len(found)), width)
    return one_line(found, text if column == "reason" else width)


def _markdown_cell(value: Any) -> Any:
    """A cell of comparison.md: the whole value, its line breaks and pipes kept inside the cell."""
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return float(f"{value:.6g}")
    text = re.sub(r"(\\*)\|", lambda m: m.group(1) * 2 + "\\|", _text(value))  # \| stays text
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "<br>")


def _tabulate(rows: list[list[Any]], headers: list[str], fmt: str) -> str:
    """Tabulate; a column holding text shows it as it is (tabulate would read '007' as 7)."""
    from tabulate import tabulate

    text = [i for i in range(len(headers)) if any(isinstance(r[i], str) for r in rows)]
    return tabulate(
        rows,
        headers=headers,
        tablefmt=fmt,
        floatfmt=".6g",
        missingval="",
        disable_numparse=text or False,
    )


def _widest(text: str) -> int:
    return max((len(line) for line in text.splitlines()), default=0)


def _table_text(
    headers: list[str], rows: list[list[Any]], fmt: str, width: int | None, keep: set[str]
) -> list[str]:
    """Return the lines of one table; in the terminal, cells on one line and fitted to `width`.

    To fit, the rightmost columns not in `keep` go first (named below the table),
    then the reason narrows to CELL_WIDTH, then every text cell, down to MIN_CELL.
    A table still wider is printed as it is (the terminal wraps it).
    """
    if fmt == MARKDOWN:
        heads = [str(_markdown_cell(h)) for h in headers]
        return [_tabulate([[_markdown_cell(v) for v in r] for r in rows], heads, fmt)]
    shown = list(range(len(headers)))

    def text(cell: int = CELL_WIDTH, reason: int = TEXT_WIDTH) -> str:
        heads = [one_line(headers[i], cell) for i in shown]
        body = [[_terminal_cell(r[i], headers[i], cell, reason) for i in shown] for r in rows]
        return _tabulate(body, heads, fmt)

    found = text()
    if width is None or _widest(found) <= width:
        return [found]
    droppable = [i for i in shown if headers[i] not in keep]
    while droppable and _widest(found) > width:
        shown.remove(droppable.pop())
        found = text()
    narrower = [(CELL_WIDTH, r) for r in range(TEXT_WIDTH - 8, CELL_WIDTH - 1, -8)]
    narrower += [(c, c) for c in range(CELL_WIDTH - 4, MIN_CELL - 1, -4)]
    for cell, reason in narrower:
        if _widest(found) <= width:
            break
        found = text(cell, reason)
    lines = [found]
    hidden = [headers[i] for i in range(len(headers)) if i not in shown]
    if hidden:
        n = len(hidden)
        say = f"({n} more column{'' if n == 1 else 's'} in comparison.md, or with -vv: "
        lines.append(say + one_line(", ".join(hidden), max(width - len(say) - 1, CELL_WIDTH)) + ")")
    return lines


def render(
    table: SweepTable, fmt: str = MARKDOWN, limit: int | None = None, width: int | None = None
) -> str:
    """Return the table, its pivot and its repeats summary as text (markdown or terminal).

    In markdown every cell is whole. Any other tabulate format is the terminal's:
    every cell one line of at most CELL_WIDTH characters (a reason TEXT_WIDTH, a
    run id cut in its middle), and with a `width`, the tables fitted to it.
    """
    shown = table.rows if limit is None else table.rows[:limit]
    columns = [c for c in table.columns if c != "reason" or any(r.get("reason") for r in shown)]
    essential = {"best", "run", "status", *table.axes, "components", "log", "reason"}
    essential |= {table.metric_column} if table.metric_column else set()
    body = [[table.cell(r, c) for c in columns] for r in shown]
    lines = _table_text(columns, body, fmt, width, essential)
    if limit is not None and len(table.rows) > limit:
        lines.append(f"... {len(table.rows) - limit} more rows in {table.folder}/comparison.md")
    if table.pivot:
        pivot = table.pivot
        lines += [
            "",
            f"{pivot['metric']} ({table.mode}): {pivot['rows_axis']} down, "
            f"{pivot['columns_axis']} across",
        ]
        label = f"{pivot['rows_axis']} \\ {pivot['columns_axis']}"
        headers = [label, *map(_text, pivot["columns"])]  # an axis value None reads None
        body = [
            [_label(r), *values] for r, values in zip(pivot["rows"], pivot["values"], strict=True)
        ]
        lines += _table_text(headers, body, fmt, width, {label})
    if table.aggregate:
        headers = list(dict.fromkeys(h for e in table.aggregate for h in e))
        lines += ["", "over repeats (mean, std, n completed, failures):"]
        body = [[table.cell(e, h) for h in headers] for e in table.aggregate]
        main = f"{table.metric_column} " if table.metric_column else None
        keep = {h for h in headers if h in table.axes or h in ("n", "failures")}
        keep |= {h for h in headers if main and h.startswith(main)}
        lines += _table_text(headers, body, fmt, width, keep)
    return "\n".join(lines)


def _label(value: Any) -> Any:
    """An axis value as a pivot's row label: a number stays one, None reads None."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    return _text(value)


def fit_width(verbose: int = 0) -> int | None:
    """Return the terminal width to fit tables to, or None to show every column.

    As pytest does for its short test summary: tables are fitted when the output
    is a terminal (a log or a pipe does not wrap lines), not on CI (CI or
    BUILD_NUMBER set) and not with -vv.
    """
    import shutil

    if verbose >= 2 or any(os.environ.get(name) for name in ("CI", "BUILD_NUMBER")):
        return None
    try:
        if not sys.stdout.isatty():
            return None
    except (AttributeError, ValueError):  # replaced, or closed
        return None
    return max(shutil.get_terminal_size().columns, CELL_WIDTH)


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
    failed = len(table.failed_components)
    if failed:
        parts.append(f"{failed} failed component{'' if failed == 1 else 's'}")
    if table.metric:
        parts.append(f"main metric {table.metric} ({table.mode})")
        if table.metric_column is None:
            parts.append("not found among the columns")
    if table.testing:
        parts.append("testing mode")
    if table.interrupted:
        parts.append("INTERRUPTED: partial table")
    return ", ".join(parts)


def failed_component_lines(tables: list[SweepTable], limit: int = FAILED_SHOWN) -> list[str]:
    """Return a line per failed component of the tables' runs (`limit` at most, then a count)."""
    found = [(table, failed) for table in tables for failed in table.failed_components]
    lines = []
    for table, failed in found[:limit]:
        reason = one_line(str(failed.get("reason") or "no reason given"), TEXT_WIDTH)
        name = one_line(str(failed["component"]), CELL_WIDTH)
        run = _middle(str(failed["run"]), CELL_WIDTH)
        lines.append(f"{table.experiment}/{run}: component {name} failed: {reason}")
    if len(found) > limit:
        more = len(found) - limit
        lines.append(
            f"... and {more} more failed component{'' if more == 1 else 's'} "
            "(each sweep's comparison.md lists them all)"
        )
    return lines


def _md_text(value: Any) -> str:
    return str(_markdown_cell("" if value is None else str(value)))


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
    tail = [*_failed_section(table), *_analysis_section(table)]
    text = "\n".join(head) + "\n" + render(table, MARKDOWN) + "\n"
    return text + ("\n" + "\n".join(tail) if tail else "")


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
        table = build(with_components(found), interrupted=stopped)
        write(table)
        tables.append(table)
    return tables, [record for found in sweeps.values() for record in found]
