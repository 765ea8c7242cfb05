"""The server's HTML pages: experiments and sessions, runs, one run; report.html's look."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..archive import layout
from ..sweep.html.assets import CSS, SCRIPT
from ..sweep.html.parts import Raw, esc, table_html
from .readonly import Session

EXTRA_CSS = (
    "nav a{margin-right:1em}svg.chart.live{max-width:620px}"
    ".damaged td{background:#fde8e8}form input{width:40em}"
)


def page(title: str, body: str) -> bytes:
    """A whole page: report.html's CSS and script inline, nothing fetched."""
    nav = '<nav><a href="/">experiments</a><a href="/runs">runs</a></nav>'
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title>"
        f"<style>{CSS}{EXTRA_CSS}</style></head><body>{nav}<h1>{esc(title)}</h1>{body}"
        f"<script>{SCRIPT}</script></body></html>\n"
    ).encode()


def link(url: str, label: Any) -> Raw:
    return Raw(f'<a href="{esc(quote(url, safe="/?=&:"))}">{esc(label)}</a>')


def _counts(statuses: dict[str, int]) -> str:
    return ", ".join(f"{n} {s}" for s, n in sorted(statuses.items()))


def home(sessions: list[Session], damaged: list[Any]) -> bytes:
    """The front page: each experiment with its run count and latest session; every session."""
    experiments: dict[str, list[Session]] = {}
    for one in sessions:
        experiments.setdefault(one.experiment, []).append(one)
    rows = [
        [
            link(f"/runs?experiment={name}", name),
            sum(s.runs for s in found),
            link(f"/session/{found[0].stamp}/", found[0].stamp),
        ]
        for name, found in sorted(experiments.items())
    ]
    body = "<h2>Experiments</h2>" + table_html(["experiment", "runs", "latest session"], rows)
    listed = [
        [
            link(f"/session/{s.stamp}/", s.stamp),
            s.experiment,
            s.runs,
            _counts(s.statuses),
            link(f"/files/{s.experiment}/{s.stamp}/report.html", "report.html")
            if s.report
            else ("running" if s.statuses.get("running") else ""),
        ]
        for s in sessions
    ]
    body += "<h2>Sessions</h2>" + table_html(
        ["session", "experiment", "runs", "statuses", "report"], listed, sortable=True
    )
    if damaged:
        body += "<h2>Damaged run folders</h2>" + _damaged(damaged)
    return page("Archive", body)


def _damaged(damaged: list[Any]) -> str:
    rows = [[str(getattr(d, "folder", "")), str(d)] for d in damaged]
    return table_html(["folder", "what is wrong"], rows, classes=["damaged"] * len(rows))


def runs(
    found: list[dict[str, Any]],
    headers: list[str],
    shown: list[list[Any]],
    filters: list[str],
    damaged: list[Any],
    experiment: str | None,
) -> bytes:
    """The runs table, filtered as `expharness list` filters."""
    value = esc(" ".join(filters))
    form = (
        f"<form action='/runs'><input name='filter' value='{value}' "
        "placeholder='lr<0.01 latent=vq (one filter per word)'> <button>filter</button></form>"
    )
    body_rows = [
        [
            r["experiment"],
            link(f"/session/{r['session']}/", r["session"]),
            link(f"/run/{r['path']}/", r["run_id"]),
            r["status"],
            r["label"] or "",
            *extra,
            r["duration"],
        ]
        for r, extra in zip(found, shown, strict=True)
    ]
    head = ["experiment", "session", "run", "status", "label", *headers, "duration_s"]
    title = f"Runs of {experiment}" if experiment else "Runs"
    body = form + f"<p>{len(found)} runs</p>" + table_html(head, body_rows, sortable=True)
    if damaged and not filters:
        body += "<h2>Damaged run folders</h2>" + _damaged(damaged)
    return page(title, body)


def run(root: Path, folder: Path, relative: str) -> bytes:
    """One run: its parameters, status, final values, plots and files (links)."""
    from ..catalog.damage import DamagedRun, read_config, read_summary

    try:
        config = read_config(folder)
        summary = read_summary(folder, repair=False)
    except (DamagedRun, OSError, ValueError) as error:
        return page(f"Run {relative}", f"<p class='status-failed'>damaged: {esc(error)}</p>")
    status = summary.get("status")
    params = config.get("parameters") or {}
    body = f"<p>status: <span class='status-{esc(status)}'>{esc(status)}</span>"
    body += f" · session {link('/session/' + folder.parent.name + '/', folder.parent.name)}</p>"
    body += "<h2>Parameters</h2>" + table_html(
        ["name", "value"], [[k, json.dumps(v, default=str)] for k, v in params.items()]
    )
    metrics = summary.get("metrics") or {}
    rows = [
        [n, s.get("final"), s.get("min"), s.get("max"), s.get("count")]
        for n, s in metrics.items()
        if isinstance(s, dict)
    ]
    body += "<h2>Summary</h2>" + table_html(["series", "final", "min", "max", "points"], rows)
    results = {k: v for k, v in (summary.get("results") or {}).items()}
    if results:
        body += table_html(
            ["result", "value"], [[k, json.dumps(v, default=str)] for k, v in results.items()]
        )
    plots = (
        sorted((folder / layout.PLOTS).glob("*.svg")) if (folder / layout.PLOTS).is_dir() else []
    )
    if plots:
        body += (
            "<h2>Curves</h2><div class='plots'>"
            + "".join(
                f"<img alt='{esc(p.stem)}' src='{esc(quote(f'/files/{relative}/plots/{p.name}'))}'>"
                for p in plots
            )
            + "</div>"
        )
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink())
    links = [
        link(
            f"/files/{relative}/{p.relative_to(folder).as_posix()}",
            p.relative_to(folder).as_posix(),
        )
        for p in files[:500]
    ]
    body += "<h2>Files</h2><ul>" + "".join(f"<li>{a}</li>" for a in links) + "</ul>"
    return page(f"Run {relative}", body)


def session_index(stamp: str, folders: list[Path]) -> bytes:
    """A finished session of several experiments: a link to each one's report."""
    items = [
        f"<li>{link(f'/files/{f.parent.name}/{stamp}/report.html', f.parent.name)}</li>"
        if (f / "report.html").is_file()
        else f"<li>{esc(f.parent.name)} (no report.html)</li>"
        for f in folders
    ]
    return page(f"Session {stamp}", "<ul>" + "".join(items) + "</ul>")


def error(status: int, message: str) -> bytes:
    """An error page: the status and one line, never a traceback."""
    return page(f"{status}", f"<p>{esc(message)}</p>")
