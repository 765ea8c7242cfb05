"""report.html's section per run, as one compact JSON block the page's own script renders.

A 10,000-run sweep written as 10,000 HTML sections made a 15 MB part of a
35 MB page and a second of the controller's time at the end of the session; as
data it is a fifth of that, and the browser builds the sections as it opens the
file (no server, nothing fetched). Each run is a JSON list (RUN_FIELDS, in
order); a cell is text, or a one-item list holding a number's text (a numeric
cell). Every text is shown as it is written here: the script escapes it.
The block is written run by run, never whole in memory.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ...archive import layout
from ...catalog.loading import RunRecord
from .analyses import ANALYSIS
from .parts import href, href_part, plain

RUN_FIELDS = (
    "id",  # the section's element id (the comparison table links to it)
    "name",  # the run as the table names it
    "base",  # the run folder's link, relative to the page (escaped already)
    "status",
    "session",
    "duration",  # seconds, as text
    "label",  # its label, or null
    "notes",  # [[at, label, note], ...], oldest first
    "params",  # [[name, value], ...]
    "metrics",  # [[series, final, min, max, count], ...]
    "components",  # [[name, status, reason, hint], ...]
    "files",  # its files beyond ALWAYS: name, or [name, href] when they differ
)
ALWAYS = [layout.CONFIG, layout.SUMMARY, layout.LOG, layout.METRICS, layout.REPORT]
CHUNK = 256  # runs written per piece of the page


def _cell(value: Any) -> Any:
    """A table cell as the script shows it (as parts.cell would)."""
    kind = type(value)
    if kind is float:
        return [f"{value:.6g}"]
    if kind is int:
        return [str(value)]
    return plain(value)


def _text(value: Any) -> str:
    """A parameter's value as a person reads it: None says None."""
    return "None" if value is None else plain(value)


def _file(name: str) -> Any:
    link = html.unescape(href_part(name))  # quoted for a URL; the script escapes it
    return name if link == name else [name, link]


def _files(summary: dict[str, Any]) -> list[Any]:
    """A run's files as its summary lists them (no walk of the folder)."""
    names = [f"{layout.ARTIFACTS}/{a}" for a in summary.get("artifacts") or []]
    names += list(summary.get("plots") or [])
    names += [f"{ANALYSIS}/{a}" for a in (summary.get("analysis") or {}).get("files") or []]
    return [_file(str(name)) for name in names]


def _notes(head: dict[str, Any]) -> list[list[str]]:
    from ...archive.labels import notes_of

    return [
        [plain(note.get("at")), plain(note.get("label")), plain(note.get("note"))]
        for note in notes_of(head)
    ]


def _base(folder: Path, out_dir: Path) -> str:
    text, parent = os.fspath(folder), os.fspath(out_dir)
    if os.path.dirname(text) == parent:
        return href(os.path.basename(text))
    return href(Path(os.path.relpath(folder, out_dir)).as_posix())


def shown_text(run: RunRecord) -> str:
    """A run's section as JSON text, from its status on (RUN_FIELDS): what does not depend on
    the page. read_runs makes it as it reads the run, so the summary need not be kept."""
    summary = run.summary
    head = run.config.get("experiment") or {}
    metrics = summary.get("metrics") or {}
    components = summary.get("components") or {}
    label = head.get("label")
    shown = [
        plain(run.status),
        plain(head.get("session")),
        plain(summary.get("duration")),
        plain(label) if label else None,
        _notes(head) if head.get("notes") or head.get("label_note") else [],
        [[plain(k), _text(v)] for k, v in run.params.items()],
        [
            [plain(n), *(_cell(s.get(k)) for k in ("final", "min", "max", "count"))]
            for n, s in metrics.items()
        ],
        [
            [plain(n), *(_cell(c.get(k)) for k in ("status", "reason", "hint"))]
            for n, c in components.items()
        ],
        _files(summary),
    ]
    return _json(shown)[1:-1]


def _entry(run: RunRecord, out_dir: Path, name: str, ident: str) -> str:
    shown = getattr(run, "shown", None) or shown_text(run)
    return f"[{_json(ident)},{_json(name)},{_json(_base(run.path, out_dir))},{shown}]"


def _json(value: Any) -> str:
    """JSON safe inside a script element (no `</script>`, no `<!--`)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c")


def runs_block(
    runs: list[RunRecord], names: list[str], idents: list[str], out_dir: Path
) -> Iterator[str]:
    """The runs' heading, the element the script fills, and the JSON block, piece by piece."""
    yield (
        "<h2>Runs</h2><div id='runs' class='runs'></div>"
        f'<script type="application/json" id="run-data">{{"always":{_json(ALWAYS)},"runs":['
    )
    for start in range(0, len(runs), CHUNK):
        entries = (
            _entry(run, out_dir, name, ident)
            for run, name, ident in zip(
                runs[start : start + CHUNK],
                names[start : start + CHUNK],
                idents[start : start + CHUNK],
                strict=True,
            )
        )
        yield ("," if start else "") + ",".join(entries)
    yield "]}</script>"
