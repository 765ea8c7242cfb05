"""report.html: one self-contained page per sweep (or any set of runs).

Inline CSS and JavaScript, images as data URIs, nothing fetched: the file can
be mailed or opened from a laptop years later. Sections: the header
(experiment, description, session, git, command line), the comparison table
(sortable by clicking a column; the best row marked), the pivot matrix, the
repeats table, the sweep analysis' files (images shown, every file linked), what
failed and why, overlaid learning curves per series, metric-versus-parameter
plots per axis, and a section per run (its labels and notes, parameters,
metrics, components, relative links to its files), which the page's script
builds from one JSON block (runsdata.py).

The learning curves are inline SVG, not images: each curve is a run's `<g
class="curve" data-run=RUN>` whose `<title>` names the run on hover. One legend
beside the charts lists every run, however many (it scrolls; a filter box
narrows it). When some grid point has two runs or more (repeats, or the same
point in several sessions), the legend groups runs by grid point, the runs of a
point share its colour, and a switch shows each point as its mean +- std band
instead of its curves. Clicking a run anywhere (its table row, its legend entry,
its curve) highlights it everywhere; a grid point's legend entry or repeats-table
row highlights all its runs. Every element that stands for runs says which in
`data-run` (one) or `data-runs` (a JSON list); the script in assets.py
needs nothing else.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...archive import layout
from ...catalog.loading import RunRecord
from ..table import OK_STATUSES, SweepTable
from .analyses import analysis_section
from .assets import CSS, SCRIPT
from .curves import plots_section
from .gates import gate_failed, gates_section
from .parts import REPORT, Raw, anchor, esc, param_name, runs_attr, table_html, table_pieces
from .resources import resources_section
from .runsdata import runs_block, shown_text
from .sample import curve_budget, parse_limit, read_bytes, read_curves
from .searchpart import search_section


def run_label(run: RunRecord) -> str:
    """The name of a run in a one-session table: its run id."""
    return run.run_id


def _header(table: SweepTable, runs: list[RunRecord]) -> str:
    from ...report.runreport import git_text
    from ..tabletext import title

    heads = [r.config.get("experiment") or {} for r in runs]
    first = heads[0] if heads else {}

    def distinct(key: str) -> str:
        values = list(dict.fromkeys(json.dumps(h.get(key), default=str) for h in heads))
        return ", ".join(json.loads(v) if v.startswith('"') else v for v in values)

    notes: dict[tuple[Any, bool], Any] = {}  # a run read from its record alone may lack git_note
    for h in heads:
        key = (h.get("git_commit"), bool(h.get("git_dirty")))
        notes[key] = notes.get(key) or h.get("git_note")
    git = ", ".join(
        git_text({"git_commit": commit, "git_note": note})
        + (" (dirty: uncommitted changes)" if dirty else "")
        for (commit, dirty), note in notes.items()
    )
    commands = list(dict.fromkeys(" ".join(h["command"]) for h in heads if h.get("command")))
    rows = [
        ("session", distinct("session")),
        ("git commit", git),
        ("command line", "<br>".join(f"<code>{esc(c)}</code>" for c in commands)),
        ("runs", esc(title(table))),
        ("written", esc(dt.datetime.now().astimezone().isoformat(timespec="seconds"))),
    ]
    items = "".join(
        f"<dt>{esc(k)}</dt><dd>{v if k in ('command line', 'runs') else esc(v)}</dd>"
        for k, v in rows
    )
    description = first.get("description")
    text = f"<p>{esc(description)}</p>" if description else ""
    return f"<h1>{esc(table.experiment)}</h1>{text}<dl class='head'>{items}</dl>"


def _axis_cell(value: Any, column: str, run: RunRecord | None) -> Any:
    """An axis cell: a None parameter reads None; an axis the run does not have stays empty."""
    if value is not None:
        return value
    if run is None or param_name(column) in run.params:
        return "None"
    return None


def _comparison(
    table: SweepTable, anchors: dict[str, str], by_label: dict[str, RunRecord]
) -> Iterator[str]:
    columns = [
        c
        for c in table.columns
        if c != "best" and (c != "reason" or any(r.get("reason") for r in table.rows))
    ]
    headers = ["best", *columns] if table.best else columns
    sort = "Click a column header to sort, a row to highlight its run's curves."
    best = (
        f"<p>Best run by {esc(table.metric_column)} ({esc(table.mode)}): <b>{esc(table.best)}</b>. "
        f"{sort}</p>"
        if table.best
        else f"<p>{sort}</p>"
    )
    yield f"<h2>Comparison</h2>{best}"
    yield from table_pieces(headers, _comparison_rows(table, columns, anchors, by_label), True)


def _comparison_rows(
    table: SweepTable,
    columns: list[str],
    anchors: dict[str, str],
    by_label: dict[str, RunRecord],
) -> Iterator[tuple[list[Any], str, str]]:
    """The comparison's rows, each with its class and its data-run (made as they are written)."""
    axes = set(table.axes)
    at = columns.index("run")
    for row in table.rows:
        is_best = table.best is not None and row.get("best") == "*"
        name = str(row.get("run"))
        run = by_label.get(name)
        cells = [_axis_cell(row.get(c), c, run) if c in axes else row.get(c) for c in columns]
        anchor = anchors.get(name)
        if anchor is not None:
            cells[at] = Raw(f'<a href="#{anchor}">{esc(row["run"])}</a>')
        status = f"status-{row['status']}" + (" gate-failed" if gate_failed(row) else "")
        yield (
            (["\u2605" if is_best else ""] if table.best else []) + cells,
            f"best {status}" if is_best else status,
            runs_attr([name]),
        )


def _pivot(table: SweepTable) -> str:
    pivot = table.pivot
    if not pivot:
        return ""
    headers = [f"{pivot['rows_axis']} \\ {pivot['columns_axis']}", *map(str, pivot["columns"])]
    body = [
        ["None" if r is None else r, *values]
        for r, values in zip(pivot["rows"], pivot["values"], strict=True)
    ]
    caption = f"<p>{esc(pivot['metric'])} ({esc(table.mode)}), mean over repeats.</p>"
    return f"<h2>Pivot</h2>{caption}{table_html(headers, body)}"


def _point(row: dict[str, Any], axes: list[str]) -> tuple[str, ...]:
    return tuple(repr(row.get(axis)) for axis in axes)


def _aggregate(table: SweepTable) -> str:
    if not table.aggregate:
        return ""
    headers = list(table.aggregate[0])
    members: dict[tuple[str, ...], list[str]] = {}
    for row in table.rows:
        members.setdefault(_point(row, table.axes), []).append(str(row["run"]))
    body, attrs = [], []
    for entry in table.aggregate:
        body.append(
            ["None" if h in table.axes and entry.get(h) is None else entry.get(h) for h in headers]
        )
        runs = members.get(_point(entry, table.axes)) or []
        attrs.append(runs_attr(runs) if runs else "")
    return f"<h2>Over repeats</h2>{table_html(headers, body, sortable=True, attrs=attrs)}"


def _problems(runs: list[RunRecord], label: Any) -> str:
    rows = []
    for run in runs:
        summary = run.summary
        if run.status not in OK_STATUSES:
            error = summary.get("error") or {}
            crash = summary.get("crash") or {}
            reason = (
                f"{error.get('type')}: {error.get('message')}"
                if error
                else crash.get("reason") or summary.get("reason")
            )
            rows.append([label(run), run.status, "", reason, ""])
        for name, component in (summary.get("components") or {}).items():
            if component.get("status") in ("disabled", "failed"):
                rows.append(
                    [label(run), component["status"], name, component.get("reason"),
                     component.get("hint")]
                )  # fmt: skip
    if not rows:
        return ""
    headers = ["run", "status", "component", "reason", "hint"]
    return f"<h2>Failed, crashed and disabled</h2>{table_html(headers, rows, sortable=True)}"


def _pieces(
    table: SweepTable, runs: list[RunRecord], out_dir: Path, label: Any, fresh: bool = False
) -> Iterator[str]:
    """The page, piece by piece (a run's section is made when it is written)."""
    idents = [anchor(run) for run in runs]
    anchors = {label(run): ident for run, ident in zip(runs, idents, strict=True)}
    by_label = {label(run): run for run in runs}
    recommend = "".join(f"<p class='recommend'>{esc(line)}</p>" for line in table.recommendations)
    yield (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{esc(table.experiment)}: {esc(table.session)}</title><style>{CSS}</style></head>"
        "<body>"
    )
    yield _header(table, runs)
    yield recommend
    yield from _comparison(table, anchors, by_label)
    yield _pivot(table)
    yield _aggregate(table)
    yield search_section(table)
    yield analysis_section(table, runs, out_dir, fresh)
    yield _problems(runs, label)
    yield gates_section(table)
    yield resources_section(runs, label)
    yield from plots_section(table, runs, label)
    yield from runs_block(runs, [label(run) for run in runs], idents, out_dir)
    yield f"<script>{SCRIPT}</script></body></html>\n"


def render(table: SweepTable, runs: list[RunRecord], out_dir: Path, label: Any = run_label) -> str:
    """Return the whole page for a table and its runs (links relative to out_dir).

    `label(run)` names a run as the table's run column does.
    """
    return "".join(_pieces(table, runs, out_dir, label))


def write(
    table: SweepTable,
    runs: list[RunRecord],
    target: Path,
    label: Any = run_label,
    fresh: bool = False,
) -> Path:
    """Write report.html (atomically, piece by piece: never whole in memory) and return its path.

    `fresh`: the table was made just now, at the end of its session (its analysis is its own).
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{os.urandom(3).hex()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as handle:
            handle.writelines(_pieces(table, runs, target.parent, label, fresh))
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def _fast_run(
    record: dict[str, Any], config: dict[str, Any] | None, budget: int, limit: int
) -> RunRecord:
    """A run as the report needs it, from its record, summary.json and metrics.csv.

    No YAML and no numpy: the controller writes the report at the end of every
    session. `config` is the run's own config.yaml when already read. Each curve
    holds `budget` points at most (see sample.py).
    """
    base = record["path"]
    whole = json.loads(read_bytes(os.path.join(base, layout.SUMMARY)))
    folder = Path(base)
    summary = {key: whole[key] for key in SHOWN if key in whole}  # what is shown alone
    summary["status"] = record["status"]  # crashes inferred when the record was made
    if config is None:
        head = {
            "name": record["experiment"],
            "session": record["session"],
            "run_id": os.path.basename(base),  # the record's run_id may be prefixed for a table
            "label": record.get("label"),
            "notes": record.get("notes"),
            "tags": record.get("tags"),
            "git_commit": record.get("git_commit"),
            "git_dirty": record.get("git_dirty"),
            "git_note": record.get("git_note"),
        }
        config = {"experiment": head, "parameters": record.get("params") or {}}
    curves = read_curves(base, summary, budget, limit)
    run = ShownRun(folder, config, summary, {}, curves)
    run.shown = shown_text(run)
    run.summary = {key: summary[key] for key in KEPT if key in summary}
    components = summary.get("components") or {}
    if any(c.get("status") in ("disabled", "failed") for c in components.values()):
        run.summary["components"] = components
    return run


@dataclass
class ShownRun(RunRecord):
    """A run as report.html holds it: its section as JSON text already (runsdata.shown_text),
    its summary cut to what the rest of the page reads (10,000 runs: tens of MB less)."""

    shown: str = ""


KEPT = ("status", "error", "crash", "reason", "resources")  # and components, when one failed
# or is disabled; resources: the resources table (sweep/html/resources.py)


SHOWN = (
    "duration",
    "metrics",
    "components",
    "error",
    "crash",
    "reason",
    "artifacts",
    "plots",
    "analysis",
    "resources",
)  # what the page reads of a summary.json
NO_NOTES = "\n  notes: []\n"  # how config.yaml says a run has no notes


def _has_notes(text: str) -> bool:
    """Whether config.yaml may hold notes (a list that is not empty, or an old label_note)."""
    return "note" in text and (NO_NOTES not in text or "label_note" in text)


def read_runs(records: list[dict[str, Any]]) -> list[RunRecord]:
    """Read what the report shows of some runs, in the records' order (unreadable ones left out).

    The first run's config.yaml is read whole, for the page's header, and so is
    that of a run whose record does not carry its notes and whose config.yaml
    holds some (parsing costs ~1 ms a run; finding the words, microseconds).
    Curves are read no further than their chart can show (sample.curve_budget).
    """
    from ...archive.yamltext import load

    with_folder = [r for r in records if r.get("path")]
    budget = curve_budget(len(with_folder))
    widest = max((len(r.get("metrics") or ()) for r in records), default=1)
    limit = parse_limit(len(with_folder), widest)
    runs: list[RunRecord] = []
    for record in with_folder:
        try:
            config = None
            if not runs or "notes" not in record:
                with open(os.path.join(record["path"], layout.CONFIG), encoding="utf-8") as handle:
                    text = handle.read()
                if not runs or _has_notes(text):
                    config = load(text)
            runs.append(_fast_run(record, config, budget, limit))
        except (OSError, ValueError, KeyError):
            continue
    return runs


def write_sweep_reports(tables: list[SweepTable], records: list[dict[str, Any]]) -> list[str]:
    """Write report.html beside each sweep's comparison table; return any problems."""
    problems = []
    for table in tables:
        mine = [r for r in records if r.get("sweep") == table.folder]
        order = {row["run"]: i for i, row in enumerate(table.rows)}
        mine.sort(key=lambda r: order.get(r.get("run_id"), len(order)))
        try:
            write(table, read_runs(mine), Path(table.folder) / REPORT, fresh=True)
        except Exception as error:  # the tables are written; a report must not cost them
            problems.append(f"{table.folder}/{REPORT}: {type(error).__name__}: {error}")
    return problems
