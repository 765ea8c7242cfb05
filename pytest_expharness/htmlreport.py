"""report.html: one self-contained page per sweep (or any set of runs).

Inline CSS and JavaScript, images as data URIs, nothing fetched: the file can
be mailed or opened from a laptop years later. Sections: the header
(experiment, description, session, git, command line), the comparison table
(sortable by clicking a column; the best row marked), the pivot matrix, the
repeats table, what failed and why, overlaid learning curves per series,
metric-versus-parameter plots per axis, and a section per run with relative
links to its files.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import json
import os
from pathlib import Path
from typing import Any

from . import archive
from .htmlassets import CSS, SCRIPT
from .loading import RunRecord
from .sweeptable import OK_STATUSES, SweepTable

REPORT = "report.html"
MAX_VERSUS_METRICS = 4


class Raw(str):
    """HTML put into a cell as it is (already escaped)."""


def _e(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return html.escape(f"{value:.6g}")
    if isinstance(value, (list, dict)):
        return html.escape(json.dumps(value, default=str))
    return html.escape(str(value))


def _cell(value: Any) -> str:
    if isinstance(value, Raw):
        return f"<td>{value}</td>"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f'<td class="num" data-v="{value!r}">{_e(value)}</td>'
    return f"<td>{_e(value)}</td>"


def _table(
    headers: list[str],
    rows: list[list[Any]],
    sortable: bool = False,
    classes: list[str] | None = None,
) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        css = f' class="{classes[i]}"' if classes and classes[i] else ""
        body.append(f"<tr{css}>" + "".join(_cell(v) for v in row) + "</tr>")
    kind = ' class="sortable"' if sortable else ""
    table = f"<table{kind}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    return f"<div class='wide'>{table}</div>"


def _img(svg: bytes, alt: str) -> str:
    data = base64.b64encode(svg).decode("ascii")
    return f'<img alt="{_e(alt)}" src="data:image/svg+xml;base64,{data}">'


def _anchor(run: RunRecord) -> str:
    head = run.config["experiment"]
    return "run-" + archive.safe_name(f"{head.get('name')}-{head.get('session')}-{run.run_id}")


def run_label(run: RunRecord) -> str:
    """The name of a run in a one-session table: its run id."""
    return run.run_id


def _header(table: SweepTable, runs: list[RunRecord]) -> str:
    from .sweepfiles import title

    heads = [r.config.get("experiment") or {} for r in runs]
    first = heads[0] if heads else {}

    def distinct(key: str) -> str:
        values = list(dict.fromkeys(json.dumps(h.get(key), default=str) for h in heads))
        return ", ".join(json.loads(v) if v.startswith('"') else v for v in values)

    commits = list(dict.fromkeys((h.get("git_commit"), bool(h.get("git_dirty"))) for h in heads))
    git = ", ".join(
        f"{c[0] or 'not a git repository'}" + (" (dirty: uncommitted changes)" if c[1] else "")
        for c in commits
    )
    commands = list(dict.fromkeys(" ".join(h["command"]) for h in heads if h.get("command")))
    rows = [
        ("session", distinct("session")),
        ("git commit", git),
        ("command line", "<br>".join(f"<code>{_e(c)}</code>" for c in commands)),
        ("runs", _e(title(table))),
        ("written", _e(dt.datetime.now().astimezone().isoformat(timespec="seconds"))),
    ]
    items = "".join(
        f"<dt>{_e(k)}</dt><dd>{v if k in ('command line', 'runs') else _e(v)}</dd>" for k, v in rows
    )
    description = first.get("description")
    text = f"<p>{_e(description)}</p>" if description else ""
    return f"<h1>{_e(table.experiment)}</h1>{text}<dl class='head'>{items}</dl>"


def _comparison(table: SweepTable, anchors: dict[str, str]) -> str:
    columns = [
        c
        for c in table.columns
        if c != "best" and (c != "reason" or any(r.get("reason") for r in table.rows))
    ]
    headers = ["best", *columns] if table.best else columns
    rows, classes = [], []
    for row in table.rows:
        is_best = table.best is not None and row.get("best") == "*"
        cells = [row.get(c) for c in columns]
        anchor = anchors.get(str(row.get("run")))
        if anchor is not None:
            cells[columns.index("run")] = Raw(f'<a href="#{anchor}">{_e(row["run"])}</a>')
        rows.append((["\u2605" if is_best else ""] if table.best else []) + cells)
        classes.append(f"best status-{row['status']}" if is_best else f"status-{row['status']}")
    out = _table(headers, rows, sortable=True, classes=classes)
    best = (
        f"<p>Best run by {_e(table.metric_column)} ({_e(table.mode)}): <b>{_e(table.best)}</b>. "
        "Click a column header to sort.</p>"
        if table.best
        else "<p>Click a column header to sort.</p>"
    )
    return f"<h2>Comparison</h2>{best}{out}"


def _pivot(table: SweepTable) -> str:
    pivot = table.pivot
    if not pivot:
        return ""
    headers = [f"{pivot['rows_axis']} \\ {pivot['columns_axis']}", *map(str, pivot["columns"])]
    body = [[r, *values] for r, values in zip(pivot["rows"], pivot["values"], strict=True)]
    caption = f"<p>{_e(pivot['metric'])} ({_e(table.mode)}), mean over repeats.</p>"
    return f"<h2>Pivot</h2>{caption}{_table(headers, body)}"


def _aggregate(table: SweepTable) -> str:
    if not table.aggregate:
        return ""
    headers = list(table.aggregate[0])
    body = [[entry.get(h) for h in headers] for entry in table.aggregate]
    return f"<h2>Over repeats</h2>{_table(headers, body, sortable=True)}"


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
    return f"<h2>Failed, crashed and disabled</h2>{_table(headers, rows, sortable=True)}"


def _plots(table: SweepTable, runs: list[RunRecord], label: Any) -> str:
    from .reportplots import Plotter, finite

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
        return ""
    plotter = Plotter()
    parts = []
    if series:
        best_label = table.best
        curves = []
        for name in series:
            found = [(label(r), r.metrics[name]) for r in runs if len(r.metrics.get(name, ())) >= 1]
            curves.append(_img(plotter.curves(name, found, best_label), f"curves of {name}"))
        parts.append(f"<h2>Learning curves</h2><div class='plots'>{''.join(curves)}</div>")
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
                versus.append(_img(png, f"{metric} by {axis}"))
    if versus:
        parts.append(f"<h2>Metrics by parameter</h2><div class='plots'>{''.join(versus)}</div>")
    return "".join(parts)


def _links(run: RunRecord, out_dir: Path) -> str:
    """Links to a run's files, as its summary lists them (no walk of the folder)."""
    names = [archive.CONFIG, archive.SUMMARY, archive.LOG, archive.METRICS, archive.REPORT]
    summary = run.summary
    names += [f"{archive.ARTIFACTS}/{a}" for a in summary.get("artifacts") or []]
    names += list(summary.get("plots") or [])
    names += [f"analysis/{a}" for a in (summary.get("analysis") or {}).get("files") or []]
    base = Path(os.path.relpath(run.path, out_dir)).as_posix()
    links = [f'<a href="{html.escape(f"{base}/{name}")}">{_e(name)}</a>' for name in names]
    return f"<p class='links'>{' '.join(links)}</p>"


def _run_section(run: RunRecord, out_dir: Path, label: Any) -> str:
    summary = run.summary
    head = run.config.get("experiment") or {}
    parts = [
        f"<section class='run' id='{_anchor(run)}'><h3>{_e(label(run))} "
        f"<span class='status-{_e(run.status)}'>{_e(run.status)}</span></h3>",
        f"<p>session {_e(head.get('session'))}, duration {_e(summary.get('duration'))} s"
        + (f", label {_e(head.get('label'))}" if head.get("label") else "")
        + "</p>",
    ]
    parts.append(_table(["parameter", "value"], [[k, v] for k, v in run.params.items()]))
    metrics = summary.get("metrics") or {}
    if metrics:
        rows = [
            [n, s.get("final"), s.get("min"), s.get("max"), s.get("count")]
            for n, s in metrics.items()
        ]
        parts.append(_table(["series", "final", "min", "max", "count"], rows))
    components = summary.get("components") or {}
    if components:
        rows = [[n, c.get("status"), c.get("reason"), c.get("hint")] for n, c in components.items()]
        parts.append(_table(["component", "status", "reason", "hint"], rows))
    parts.append(_links(run, out_dir))
    return "".join(parts) + "</section>"


def render(table: SweepTable, runs: list[RunRecord], out_dir: Path, label: Any = run_label) -> str:
    """Return the whole page for a table and its runs (links relative to out_dir).

    `label(run)` names a run as the table's run column does.
    """
    anchors = {label(run): _anchor(run) for run in runs}
    recommend = "".join(f"<p class='recommend'>{_e(line)}</p>" for line in table.recommendations)
    body = [
        _header(table, runs),
        recommend,
        _comparison(table, anchors),
        _pivot(table),
        _aggregate(table),
        _problems(runs, label),
        _plots(table, runs, label),
        "<h2>Runs</h2>",
        *(_run_section(run, out_dir, label) for run in runs),
    ]
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{_e(table.experiment)}: {_e(table.session)}</title><style>{CSS}</style></head>"
        f"<body>{''.join(body)}<script>{SCRIPT}</script></body></html>\n"
    )


def write(table: SweepTable, runs: list[RunRecord], target: Path, label: Any = run_label) -> Path:
    """Write report.html (atomically) and return its path."""
    target.parent.mkdir(parents=True, exist_ok=True)
    archive.atomic_write_text(target, render(table, runs, target.parent, label))
    return target


class Curve(list):  # type: ignore[type-arg]
    """A series' values, with `.steps`, as the report's charts read them."""

    steps: Any


def _fast_run(record: dict[str, Any], config: dict[str, Any] | None) -> RunRecord:
    """A run as the report needs it, from its record, summary.json and metrics.csv.

    No YAML and no numpy: the controller writes the report at the end of every
    session. `config` is the run's own config.yaml when already read.
    """
    from .tracking import columns_from_csv

    folder = Path(record["path"])
    summary = json.loads((folder / archive.SUMMARY).read_text("utf-8"))
    summary["status"] = record["status"]  # crashes inferred when the record was made
    if config is None:
        head = {
            "name": record["experiment"],
            "session": record["session"],
            "run_id": folder.name,  # the record's run_id may be prefixed for a table
            "label": record.get("label"),
            "tags": record.get("tags"),
            "git_commit": record.get("git_commit"),
            "git_dirty": record.get("git_dirty"),
        }
        config = {"experiment": head, "parameters": record.get("params") or {}}
    metrics: dict[str, Any] = {}
    csv_path = folder / archive.METRICS
    if csv_path.exists():
        for name, columns in columns_from_csv(csv_path).items():
            curve = Curve(columns.values)
            curve.steps = list(columns.steps)
            metrics[name] = curve
    return RunRecord(folder, config, summary, {}, metrics)


def read_runs(records: list[dict[str, Any]]) -> list[RunRecord]:
    """Read what the report shows of some runs, in the records' order (unreadable ones left out).

    The first run's config.yaml is read whole, for the page's header.
    """
    from .yamltext import load

    runs: list[RunRecord] = []
    for record in records:
        if not record.get("path"):
            continue
        try:
            config = None
            if not runs:
                config = load((Path(record["path"]) / archive.CONFIG).read_text("utf-8"))
            runs.append(_fast_run(record, config))
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
            write(table, read_runs(mine), Path(table.folder) / REPORT)
        except Exception as error:  # the tables are written; a report must not cost them
            problems.append(f"{table.folder}/{REPORT}: {type(error).__name__}: {error}")
    return problems
