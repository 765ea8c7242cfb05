"""The resources section of report.html: per run, wall and CPU time, peak memory, GPU memory."""

from __future__ import annotations

from typing import Any

from ...catalog.loading import RunRecord
from ...session.columns import cell
from .parts import table_html

NOTE = "<p>CPU time and peak RSS are those of the process that ran the run.</p>"
HEADERS = ["run", "wall s", "CPU s (user + system)", "peak RSS MB", "GPU memory peak MB"]


def _gpu_peak(found: Any) -> str | None:
    """Each GPU's memory peak, as `gpu0: 812.5`; None when the run had no GPU readings."""
    if not isinstance(found, list) or not found:
        return None
    return ", ".join(
        f"gpu{g.get('id')}: {g.get('memory_peak_mb')}" for g in found if isinstance(g, dict)
    )


def _row(run: RunRecord, label: Any) -> list[Any] | None:
    used = run.summary.get("resources")
    if not isinstance(used, dict):
        return None
    found = {"resources": used}  # what --exp-columns reads (session/columns.py), rounded alike
    return [
        label(run),
        *(cell(found, name) for name in ("wall_s", "cpu_s", "peak_rss_mb")),
        _gpu_peak(used.get("gpus")),
    ]


def resources_section(runs: list[RunRecord], label: Any) -> str:
    """A small table of what each run used; nothing when no run recorded its resources."""
    rows = [row for row in (_row(run, label) for run in runs) if row is not None]
    if not rows:
        return ""
    headers = HEADERS
    if all(row[-1] is None for row in rows):  # no GPU anywhere: no empty column
        headers, rows = HEADERS[:-1], [row[:-1] for row in rows]
    return f"<h2>Resources</h2>{table_html(headers, rows, sortable=True)}{NOTE}"
