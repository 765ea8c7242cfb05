"""The comparison table as text: one-line cells, the terminal fit, titles, failed components.

One renderer for the terminal and comparison.md (`render(..., fmt)`): the
terminal cuts cells to one line with an ellipsis and fits its width;
comparison.md keeps every cell whole.
"""

from __future__ import annotations

import json
import os
import re
import sys
from typing import Any

from .table import RERUN, SweepTable

TERMINAL_ROWS = 25


CELL_WIDTH = 40  # terminal: the widest a cell is (one line; comparison.md/csv/json keep it whole)


TEXT_WIDTH = 80  # terminal: the widest a reason is (prose, in the last column)


MIN_CELL = 16  # terminal: cells narrow down to this to fit the terminal's width, no further


FAILED_SHOWN = 10  # failed components named at the end of a session; then how many more


ELLIPSIS = "\u2026"


MARKDOWN = "github"


CONTROL = re.compile(r"[\x00-\x08\x0e-\x1b\x1f\x7f-\x84\x86-\x9f]")  # but line breaks


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


def cell_text(value: Any) -> str:
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
    found = cell_text(value)
    if column == "run":
        return _middle(one_line(found, len(found)), width)
    return one_line(found, text if column == "reason" else width)


def markdown_cell(value: Any) -> Any:
    """A cell of comparison.md: the whole value, its line breaks and pipes kept inside the cell."""
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return float(f"{value:.6g}")
    text = cell_text(value)
    if "|" in text:
        text = re.sub(r"(\\*)\|", lambda m: m.group(1) * 2 + "\\|", text)  # \| stays text
    if "\r" in text or "\n" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "<br>")
    return text


def tabulated(rows: list[list[Any]], headers: list[str], fmt: str) -> str:
    """Tabulate; a column holding text shows it as it is (tabulate would read '007' as 7).

    comparison.md's tables go through mdtable.github (the same bytes, faster) when it can.
    """
    text = [i for i in range(len(headers)) if any(isinstance(r[i], str) for r in rows)]
    if fmt == MARKDOWN:
        from .mdtable import github

        found = github(rows, headers, text)
        if found is not None:
            return found
    from tabulate import tabulate

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
        heads = [str(markdown_cell(h)) for h in headers]
        return [tabulated([[markdown_cell(v) for v in r] for r in rows], heads, fmt)]
    shown = list(range(len(headers)))

    def text(cell: int = CELL_WIDTH, reason: int = TEXT_WIDTH) -> str:
        heads = [one_line(headers[i], cell) for i in shown]
        body = [[_terminal_cell(r[i], headers[i], cell, reason) for i in shown] for r in rows]
        return tabulated(body, heads, fmt)

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
        headers = [label, *map(cell_text, pivot["columns"])]  # an axis value None reads None
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
    return cell_text(value)


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
