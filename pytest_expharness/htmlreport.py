"""report.html: one self-contained page per sweep (or any set of runs).

Inline CSS and JavaScript, images as data URIs, nothing fetched: the file can
be mailed or opened from a laptop years later. Sections: the header
(experiment, description, session, git, command line), the comparison table
(sortable by clicking a column; the best row marked), the pivot matrix, the
repeats table, the sweep analysis' files (images shown, every file linked), what
failed and why, overlaid learning curves per series, metric-versus-parameter
plots per axis, and a section per run (its labels and notes, parameters,
metrics, components, relative links to its files).

The learning curves are inline SVG, not images: each curve is a run's `<g
class="curve" data-run=RUN>` whose `<title>` names the run on hover. One legend
beside the charts lists every run, however many (it scrolls; a filter box
narrows it). When some grid point has two runs or more (repeats, or the same
point in several sessions), the legend groups runs by grid point, the runs of a
point share its colour, and a switch shows each point as its mean +- std band
instead of its curves. Clicking a run anywhere (its table row, its legend entry,
its curve) highlights it everywhere; a grid point's legend entry or repeats-table
row highlights all its runs. Every element that stands for runs says which in
`data-run` (one) or `data-runs` (a JSON list); the script in htmlassets.py
needs nothing else.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from . import archive
from .htmlassets import CSS, SCRIPT
from .loading import RunRecord
from .sweeptable import OK_STATUSES, SweepTable

REPORT = "report.html"
ANALYSIS = "analysis"  # analyses.FOLDER (the report sits below the code that runs analyses)
MAX_VERSUS_METRICS = 4
MAX_INLINE_IMAGE = 4_000_000  # bytes: a larger analysis image is linked from its file, not embedded
MAX_SHOWN_TEXT = 64_000  # bytes: a larger analysis text file is only linked
IMAGE_TYPES = {
    ".png": "image/png",
    ".gif": "image/gif",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".svg": "image/svg+xml",
    ".webp": "image/webp",
}
TEXT_SUFFIXES = (".json", ".txt", ".csv", ".md", ".yaml", ".yml", ".log", ".tsv")


class Raw(str):
    """HTML put into a cell as it is (already escaped)."""


def _plain(value: Any) -> str:
    """A value as the page shows it, before escaping (None: nothing)."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value, default=str)
    return str(value)


def _e(value: Any) -> str:
    return html.escape(_plain(value))


def _text(value: Any) -> str:
    """A parameter value as a person reads it: None says None (an empty cell means no value)."""
    return "None" if value is None else _e(value)


def _href(path: str) -> str:
    """A relative link, escaped for an attribute (characters a path may hold quoted)."""
    return html.escape(quote(path, safe="/=,;:@+$!*'()~&"))


def _runs_attr(keys: list[str]) -> str:
    """The attribute saying which runs an element stands for (see the module docstring)."""
    if len(keys) == 1:
        return f' data-run="{_e(keys[0])}"'
    return f' data-runs="{_e(json.dumps(keys))}"'


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
    attrs: list[str] | None = None,
) -> str:
    """A table; `attrs` are extra attributes of each body row (already escaped)."""
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        css = f' class="{classes[i]}"' if classes and classes[i] else ""
        css += attrs[i] if attrs else ""
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
    from .report import git_text
    from .sweepfiles import title

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


def _param_name(column: str) -> str:
    return column.removesuffix(" (axis)")  # sweeptable renames an axis named like a fixed column


def _axis_cell(value: Any, column: str, run: RunRecord | None) -> Any:
    """An axis cell: a None parameter reads None; an axis the run does not have stays empty."""
    if value is not None:
        return value
    if run is None or _param_name(column) in run.params:
        return "None"
    return None


def _comparison(table: SweepTable, anchors: dict[str, str], by_label: dict[str, RunRecord]) -> str:
    columns = [
        c
        for c in table.columns
        if c != "best" and (c != "reason" or any(r.get("reason") for r in table.rows))
    ]
    headers = ["best", *columns] if table.best else columns
    rows, classes, attrs = [], [], []
    for row in table.rows:
        is_best = table.best is not None and row.get("best") == "*"
        run = by_label.get(str(row.get("run")))
        cells = [_axis_cell(row.get(c), c, run) if c in table.axes else row.get(c) for c in columns]
        anchor = anchors.get(str(row.get("run")))
        if anchor is not None:
            cells[columns.index("run")] = Raw(f'<a href="#{anchor}">{_e(row["run"])}</a>')
        rows.append((["\u2605" if is_best else ""] if table.best else []) + cells)
        classes.append(f"best status-{row['status']}" if is_best else f"status-{row['status']}")
        attrs.append(_runs_attr([str(row.get("run"))]))
    out = _table(headers, rows, sortable=True, classes=classes, attrs=attrs)
    sort = "Click a column header to sort, a row to highlight its run's curves."
    best = (
        f"<p>Best run by {_e(table.metric_column)} ({_e(table.mode)}): <b>{_e(table.best)}</b>. "
        f"{sort}</p>"
        if table.best
        else f"<p>{sort}</p>"
    )
    return f"<h2>Comparison</h2>{best}{out}"


def _pivot(table: SweepTable) -> str:
    pivot = table.pivot
    if not pivot:
        return ""
    headers = [f"{pivot['rows_axis']} \\ {pivot['columns_axis']}", *map(str, pivot["columns"])]
    body = [
        ["None" if r is None else r, *values]
        for r, values in zip(pivot["rows"], pivot["values"], strict=True)
    ]
    caption = f"<p>{_e(pivot['metric'])} ({_e(table.mode)}), mean over repeats.</p>"
    return f"<h2>Pivot</h2>{caption}{_table(headers, body)}"


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
        attrs.append(_runs_attr(runs) if runs else "")
    return f"<h2>Over repeats</h2>{_table(headers, body, sortable=True, attrs=attrs)}"


def stored_analysis(table: SweepTable, runs: list[RunRecord]) -> dict[str, Any] | None:
    """The sweep analysis outcome of a table: its own, or its session's comparison.json.

    `expharness report` builds its table again from the runs; when they are all
    runs of the table's session (reused ones aside), the analysis the session
    recorded is theirs.
    """
    if table.analysis is not None:
        return table.analysis
    folder = Path(table.folder)
    if not runs or any(r.path.parent != folder for r in runs if r.status != "reused"):
        return None
    try:
        found = json.loads((folder / "comparison.json").read_text("utf-8")).get("analysis")
    except (OSError, ValueError, AttributeError):
        return None
    return found if isinstance(found, dict) else None


def _analysis_file(folder: Path, name: str, base: str) -> str:
    path = folder / name
    link = f'<a href="{_href(f"{base}/{name}")}">{_e(name)}</a>'
    if not path.is_file():
        return f"<p class='missing'>{_e(name)}: listed but no longer in {_e(folder)}</p>"
    size = path.stat().st_size
    kind = IMAGE_TYPES.get(path.suffix.lower())
    if kind is not None:
        if size <= MAX_INLINE_IMAGE:
            data = base64.b64encode(path.read_bytes()).decode("ascii")
            src = f"data:{kind};base64,{data}"
        else:  # too large to embed: shown from its file
            src = _href(f"{base}/{name}")
        return (
            f'<figure class="analysis"><img alt="{_e(name)}" src="{src}">'
            f"<figcaption>{link}</figcaption></figure>"
        )
    if path.suffix.lower() in TEXT_SUFFIXES and size <= MAX_SHOWN_TEXT:
        text = path.read_text("utf-8", errors="replace")
        opened = " open" if text.count("\n") <= 40 else ""
        return (
            f"<details class='analysis'{opened}><summary>{link}</summary>"
            f"<pre>{_e(text)}</pre></details>"
        )
    return f"<p class='analysis'>{link} ({size:,} bytes)</p>"


def _analysis(table: SweepTable, runs: list[RunRecord], out_dir: Path) -> str:
    """The @sweep_analysis: what ran, how it ended, and every file it wrote."""
    outcome = stored_analysis(table, runs)
    if not outcome:
        return ""
    status = str(outcome.get("status"))
    parts = [
        "<h2>Sweep analysis</h2>",
        f"<p>{_e(outcome.get('function'))}: <b class='status-{_e(status)}'>{_e(status)}</b></p>",
    ]
    if outcome.get("error"):
        parts.append(f"<pre class='error'>{_e(outcome['error'])}</pre>")
    folder = Path(table.folder) / ANALYSIS
    base = Path(os.path.relpath(folder, out_dir)).as_posix()
    files = [str(f) for f in outcome.get("files") or []]
    images = [f for f in files if Path(f).suffix.lower() in IMAGE_TYPES]
    others = [f for f in files if f not in images]
    if images:
        shown = "".join(_analysis_file(folder, f, base) for f in images)
        parts.append(f"<div class='plots'>{shown}</div>")
    parts += [_analysis_file(folder, f, base) for f in others]
    return "".join(parts)


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


def _groups(table: SweepTable, runs: list[RunRecord], label: Any) -> dict[str, list[str]] | None:
    """Runs by grid point (name -> labels), when some point has two runs or more; else None."""
    rows = {str(r["run"]): r for r in table.rows}
    several = len({run.experiment for run in runs}) > 1
    found: dict[str, list[str]] = {}
    for run in runs:
        name = label(run)
        row = rows.get(name)
        values = [
            row.get(axis) if row is not None else run.params.get(_param_name(axis))
            for axis in table.axes
        ]
        parts = [
            f"{axis}={'None' if v is None else _plain(v)}"
            for axis, v in zip(table.axes, values, strict=True)
        ]
        point = ", ".join(([run.experiment] if several else []) + parts)
        found.setdefault(point or "all runs", []).append(name)
    if not found or max(len(names) for names in found.values()) < 2:
        return None
    return found


def _runs_text(n: int) -> str:
    return f"{n} run{'' if n == 1 else 's'}"


def _legend(
    labels: list[str], groups: dict[str, list[str]] | None, colour_of: dict[str, str], best: Any
) -> str:
    """The list of every run beside the charts (scrolls; grouped by grid point when it helps)."""

    def entry(name: str, grouped: bool) -> str:
        is_best = name == best
        colour = "black" if is_best else colour_of.get(name, "#4c72b0")
        css = "legend-run grouped" if grouped else "legend-run"
        text = f"{_e(name)} \u2605" if is_best else _e(name)
        return (
            f'<li class="{css}"{_runs_attr([name])} title="{_e(name)}">'
            f'<span class="swatch" style="background:{colour}"></span>{text}</li>'
        )

    items = []
    if groups:
        for point, members in groups.items():
            colour = colour_of.get(members[0], "#4c72b0")
            items.append(
                f'<li class="legend-group"{_runs_attr(members)} title="{_e(point)}">'
                f'<span class="swatch" style="background:{colour}"></span>{_e(point)} '
                f"<span class='n'>({_runs_text(len(members))})</span></li>"
            )
            items += [entry(name, True) for name in members]
    else:
        items = [entry(name, False) for name in labels]
    bands = (
        "<label><input type='checkbox' class='show-bands'> repeats as mean \u00b1 std</label>"
        if groups
        else ""
    )
    return (
        f"<aside class='legend'><div class='legend-tools'><b>{_runs_text(len(labels))}</b> "
        "<input type='search' class='legend-filter' placeholder='filter runs' "
        "aria-label='filter runs'>"
        f"{bands}<button type='button' class='legend-clear'>clear</button></div>"
        f"<ul class='legend-list'>{''.join(items)}</ul></aside>"
    )


def _plots(table: SweepTable, runs: list[RunRecord], label: Any) -> str:
    from .reportplots import Plotter, finite, run_colours

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
        shown = [r for r in runs if any(len(v) for v in r.metrics.values())]
        labels = [label(r) for r in shown]
        groups = _groups(table, shown, label)
        colour_of = run_colours(labels, groups)
        charts = []
        for number, name in enumerate(series):
            found = [
                (label(r), r.metrics[name]) for r in shown if len(r.metrics.get(name, ())) >= 1
            ]
            svg = plotter.curves(name, found, table.best, colour_of, groups, ident=f"s{number}")
            charts.append(f"<figure class='chart' data-series='{_e(name)}'>{svg}</figure>")
        hint = (
            "<p>Hover a curve to name its run. Click a curve, a legend entry or a table row "
            "to highlight that run everywhere (click again to let go).</p>"
        )
        parts.append(
            f"<h2>Learning curves</h2>{hint}<div class='curves'><div class='charts'>"
            f"{''.join(charts)}</div>{_legend(labels, groups, colour_of, table.best)}</div>"
        )
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
    names += [f"{ANALYSIS}/{a}" for a in (summary.get("analysis") or {}).get("files") or []]
    base = Path(os.path.relpath(run.path, out_dir)).as_posix()
    links = [f'<a href="{_href(f"{base}/{name}")}">{_e(name)}</a>' for name in names]
    return f"<p class='links'>{' '.join(links)}</p>"


def _notes(head: dict[str, Any]) -> str:
    """A run's timed notes, oldest first (an old label_note included)."""
    from .labels import notes_of

    items = []
    for note in notes_of(head):
        when = f"<time>{_e(note.get('at'))}</time> " if note.get("at") else ""
        label = f"<b>{_e(note.get('label'))}</b>: " if note.get("label") else ""
        items.append(f"<li>{when}{label}{_e(note.get('note'))}</li>")
    return f"<ul class='notes'>{''.join(items)}</ul>" if items else ""


def _run_section(run: RunRecord, out_dir: Path, label: Any) -> str:
    summary = run.summary
    head = run.config.get("experiment") or {}
    parts = [
        f"<section class='run' id='{_anchor(run)}'><h3>{_e(label(run))} "
        f"<span class='status-{_e(run.status)}'>{_e(run.status)}</span></h3>",
        f"<p>session {_e(head.get('session'))}, duration {_e(summary.get('duration'))} s"
        + (f", label <b class='label'>{_e(head.get('label'))}</b>" if head.get("label") else "")
        + "</p>",
        _notes(head),
    ]
    parts.append(_table(["parameter", "value"], [[k, _text(v)] for k, v in run.params.items()]))
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
    by_label = {label(run): run for run in runs}
    recommend = "".join(f"<p class='recommend'>{_e(line)}</p>" for line in table.recommendations)
    body = [
        _header(table, runs),
        recommend,
        _comparison(table, anchors, by_label),
        _pivot(table),
        _aggregate(table),
        _analysis(table, runs, out_dir),
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
            "notes": record.get("notes"),
            "tags": record.get("tags"),
            "git_commit": record.get("git_commit"),
            "git_dirty": record.get("git_dirty"),
            "git_note": record.get("git_note"),
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

    The first run's config.yaml is read whole, for the page's header, and so is
    that of a run whose record does not carry its notes and whose config.yaml
    mentions a note (parsing costs ~4 ms a run; finding the word, microseconds).
    """
    from .yamltext import load

    runs: list[RunRecord] = []
    for record in records:
        if not record.get("path"):
            continue
        try:
            config = None
            if not runs or "notes" not in record:
                text = (Path(record["path"]) / archive.CONFIG).read_text("utf-8")
                if not runs or "note" in text:  # notes, or an old label_note
                    config = load(text)
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
