"""The sweep analysis section of report.html: what ran, how it ended, every file it wrote."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

from ...catalog.loading import RunRecord
from ..table import SweepTable
from .parts import IMAGE_TYPES, MAX_INLINE_IMAGE, MAX_SHOWN_TEXT, TEXT_SUFFIXES, esc, href

ANALYSIS = "analysis"  # analyses.FOLDER (the report sits below the code that runs analyses)


def stored_analysis(
    table: SweepTable, runs: list[RunRecord], fresh: bool = False
) -> dict[str, Any] | None:
    """The sweep analysis outcome of a table: its own, or its session's comparison.json.

    `expharness report` builds its table again from the runs; when they are all
    runs of the table's session (reused ones aside), the analysis the session
    recorded is theirs. A `fresh` table (the end of its session) has no other.
    """
    if table.analysis is not None or fresh:
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
    link = f'<a href="{href(f"{base}/{name}")}">{esc(name)}</a>'
    if not path.is_file():
        return f"<p class='missing'>{esc(name)}: listed but no longer in {esc(folder)}</p>"
    size = path.stat().st_size
    kind = IMAGE_TYPES.get(path.suffix.lower())
    if kind is not None:
        if size <= MAX_INLINE_IMAGE:
            data = base64.b64encode(path.read_bytes()).decode("ascii")
            src = f"data:{kind};base64,{data}"
        else:  # too large to embed: shown from its file
            src = href(f"{base}/{name}")
        return (
            f'<figure class="analysis"><img alt="{esc(name)}" src="{src}">'
            f"<figcaption>{link}</figcaption></figure>"
        )
    if path.suffix.lower() in TEXT_SUFFIXES and size <= MAX_SHOWN_TEXT:
        text = path.read_text("utf-8", errors="replace")
        opened = " open" if text.count("\n") <= 40 else ""
        return (
            f"<details class='analysis'{opened}><summary>{link}</summary>"
            f"<pre>{esc(text)}</pre></details>"
        )
    return f"<p class='analysis'>{link} ({size:,} bytes)</p>"


def analysis_section(
    table: SweepTable, runs: list[RunRecord], out_dir: Path, fresh: bool = False
) -> str:
    """The @sweep_analysis: what ran, how it ended, and every file it wrote."""
    outcome = stored_analysis(table, runs, fresh)
    if not outcome:
        return ""
    status = str(outcome.get("status"))
    parts = [
        "<h2>Sweep analysis</h2>",
        f"<p>{esc(outcome.get('function'))}: <b class='status-{esc(status)}'>{esc(status)}</b></p>",
    ]
    if outcome.get("error"):
        parts.append(f"<pre class='error'>{esc(outcome['error'])}</pre>")
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
