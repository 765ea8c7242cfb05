"""Runs whose process died while finishing, after their data was final.

`Exp.finish` writes metrics.csv and data.json, then a summary that still says
`running` but carries `finishing` (the status it is about to write) with every
final value, and only then makes plots, GIFs and REPORT.md. A process that dies
after that point lost nothing of its results: such a run is recorded as what it
was (completed, failed...) with a note, its plots and report made from the
folder, instead of `crashed`. A dead run without the marker is a crash as before.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..archive import layout

FINISHING = "finishing"
NOTE = "died_while_finishing"


def data_final(summary: dict[str, Any]) -> bool:
    """Return whether a `running` summary says its run's data and metrics were final."""
    return summary.get("status") == "running" and isinstance(summary.get(FINISHING), str)


def complete(folder: Path, who: str | None = None, **details: Any) -> dict[str, Any] | None:
    """Record a dead run whose data was final as what it was; None if it is not such a run.

    `who` names the process that died (a worker xdist saw die); without it the
    run's own pid must be certainly gone on this host, else nothing is written.
    """
    from ..archive.locks import run_lock
    from .reading import crash_reason

    if not data_final(_read(folder)):  # the common case, without taking the lock
        return None
    with run_lock(folder):
        summary = _read(folder)
        if not data_final(summary):
            return None
        if who is None:
            gone = crash_reason(summary)
            if gone is None:  # its process may be alive, finishing right now
                return None
            who = f"its process ({gone})"
        note = f"{who} died while finishing the run; its data and metrics were complete"
        _finish(folder, summary, note, details)
    return summary


def _read(folder: Path) -> dict[str, Any]:
    try:
        found: dict[str, Any] = json.loads((folder / layout.SUMMARY).read_text("utf-8"))
    except (OSError, ValueError):
        return {}  # unreadable here: reading.py says what is wrong with it
    return found


def _finish(folder: Path, summary: dict[str, Any], note: str, details: dict[str, Any]) -> None:
    from ..archive import yamltext
    from ..archive.logline import append_entry
    from ..report import runreport
    from ..run.tracking import columns_from_csv

    columns = columns_from_csv(folder / layout.METRICS)
    plots, plot_problem = runreport.make_plots(folder, columns)
    gifs, gif_problem = runreport.make_gifs(folder, dict(summary.get("frames") or {}))
    problems = [*summary.get("problems", []), note]
    problems += [p for p in (plot_problem, gif_problem) if p]
    summary["status"] = summary.pop(FINISHING)
    summary.pop("heartbeat", None)
    summary.update(
        plots=[*plots, *gifs],
        problems=problems,
        reason=summary.get("reason") or note,
        **{NOTE: {"reason": note, **details}},
    )
    layout.write_json(folder / layout.SUMMARY, summary)
    append_entry(folder, "WARNING", f"{note}; plots and REPORT.md made from the folder")
    config = yamltext.load((folder / layout.CONFIG).read_text("utf-8"))
    runreport.write_report(folder, config, summary)
