"""Reading run folders back, and telling a running run from one whose process died.

A summary that says `running` is believed only while its process can be alive:
on the same host the pid must exist, and on any host the heartbeat (refreshed
every few seconds by the flusher) must be younger than STALE_AFTER seconds.
Otherwise the run reads as `crashed`, and `read_run(..., repair=True)` writes
that down and rebuilds metrics.csv from the journal.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from . import archive
from .tracking import Columns, columns_from_csv, csv_text, rebuild_from_journal, series_stats

STALE_AFTER = 60.0


def pid_alive(pid: int) -> bool:
    """Return whether a process with this pid exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def crash_reason(summary: dict[str, Any], now: float | None = None) -> str | None:
    """Return why a `running` summary is really a dead run, or None if it may be alive."""
    if summary.get("status") != "running":
        return None
    now = time.time() if now is None else now
    beat = summary.get("heartbeat")
    same_host = summary.get("host") == socket.gethostname()
    if same_host and isinstance(summary.get("pid"), int) and not pid_alive(summary["pid"]):
        return f"process {summary['pid']} on {summary['host']} is gone"
    if isinstance(beat, (int, float)) and now - beat > STALE_AFTER:
        return f"no heartbeat for {now - beat:.0f} s"
    return None


def read_summary(folder: Path) -> dict[str, Any]:
    """Return a run's summary with its status as it really is (`crashed` inferred)."""
    summary: dict[str, Any] = json.loads((folder / archive.SUMMARY).read_text("utf-8"))
    why = crash_reason(summary)
    if why is not None:
        summary["status"] = "crashed"
        summary["crash"] = {"reason": why, "last_heartbeat": summary.get("heartbeat")}
    return summary


def rebuild_metrics(folder: Path) -> dict[str, Columns]:
    """Rebuild metrics.csv from the journal of a dead run; return its series.

    Without a journal the run died after writing metrics.csv (it removes the
    journal only then), so the CSV is complete and is read instead.
    """
    journal_path, csv_path = folder / archive.JOURNAL, folder / archive.METRICS
    if journal_path.exists():
        try:
            return rebuild_from_journal(journal_path, csv_path)
        except ValueError:  # not a journal at all: keep it, say so, lose nothing else
            with open(folder / archive.LOG, "a", encoding="utf-8") as log:
                log.write(f"WARNING {journal_path.name} is not a metrics journal; left as is\n")
    elif csv_path.exists():
        return columns_from_csv(csv_path)
    archive.atomic_write_text(csv_path, csv_text({}))
    return {}


def mark_crashed(folder: Path, reason: str, **details: Any) -> dict[str, Any]:
    """Record a dead run as crashed, writing what it could not: metrics.csv, plots, REPORT.md."""
    from . import artifacts, report, yamltext
    from .store import scalars

    summary: dict[str, Any] = json.loads((folder / archive.SUMMARY).read_text("utf-8"))
    if summary.get("status") != "running":
        return summary
    columns = rebuild_metrics(folder)
    plots, _ = report.make_plots(folder, columns)
    data_path = folder / archive.DATA
    data = json.loads(data_path.read_text("utf-8")) if data_path.exists() else {}
    times = [cols.times[-1] for cols in columns.values() if len(cols)]
    summary.update(
        status="crashed",
        crash={
            "reason": reason,
            "last_heartbeat": summary.get("heartbeat"),
            "last_point": max(times) if times else None,
            **details,
        },
        duration=None,
        metrics={name: series_stats(cols) for name, cols in columns.items()},
        results=dict(scalars(data)),
        artifacts=artifacts.listing(folder),
        plots=plots,
    )
    archive.write_json(folder / archive.SUMMARY, summary)
    config = yamltext.load((folder / archive.CONFIG).read_text("utf-8"))
    report.write_report(folder, config, summary)
    return summary


def read_run(folder: str | Path, repair: bool = True) -> dict[str, Any]:
    """Read a run folder's summary; a dead run is reported (and, with repair, recorded) crashed."""
    path = Path(folder)
    if not archive.is_run_folder(path):
        raise FileNotFoundError(f"{path} is not a run folder (no config.yaml and summary.json)")
    summary = read_summary(path)
    if repair and summary["status"] == "crashed" and "crash" in summary:
        return mark_crashed(path, summary["crash"]["reason"])
    return summary
