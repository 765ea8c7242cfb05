"""Reading run folders back, and telling a running run from one whose process died.

A summary that says `running` is judged by what can be checked (`liveness`):

- On the host that ran it (same host name and pid namespace) the process is
  looked up. A pid that exists and started when the run's process did
  (`pid_start`: field 22 of /proc/<pid>/stat, recorded when the run starts) is
  alive, however old its heartbeat: a process stopped with SIGSTOP, or in a C
  call that holds the GIL, beats no more but is not dead. A pid that is gone, a
  zombie, or a pid now held by a process that started at another moment is a
  certain crash. Without a recorded start time, a live pid counts as alive.
- Anywhere else only the heartbeat can be read: one older than STALE_AFTER
  makes the run `stale`, a suspicion that is reported but never written.

Only a certain crash is written down: `mark_crashed` checks again under the
run's lock, records status `crashed` and rebuilds metrics.csv from the journal.

Runs whose process died while finishing, after their data was final:

`Exp.finish` writes metrics.csv and data.json, then a summary that still says
`running` but carries `finishing` (the status it is about to write) with every
final value, and only then makes plots, GIFs and REPORT.md. A process that dies
after that point lost nothing of its results: such a run is recorded as what it
was (completed, failed...) with a note, its plots and report made from the
folder, instead of `crashed`. A dead run without the marker is a crash as before.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..archive import layout
from ..archive.journal import iter_journal
from ..archive.locks import run_lock
from ..archive.metricsfile import (
    Columns,
    columns_from_csv,
    csv_text,
    series_stats,
)
from . import processes

STALE_AFTER = 60.0

ALIVE = "alive"  # checked: the run's process exists on this host
RUNNING = "running"  # believed: a fresh heartbeat from where the pid cannot be checked
STALE = "stale"  # suspected dead: an old heartbeat from where the pid cannot be checked
CRASHED = "crashed"  # certain: the run's process no longer exists


@dataclass(frozen=True)
class Verdict:
    """What can be said of a summary's process: a state above, and why."""

    state: str
    reason: str | None = None


def _local(pid: int, start: Any, host: str) -> Verdict:
    """Judge a process of this host by its pid and recorded start time."""
    gone = processes.gone_reason(pid, start)
    return Verdict(ALIVE) if gone is None else Verdict(CRASHED, f"process {pid} on {host} {gone}")


def heartbeat_age(summary: dict[str, Any], now: float | None = None) -> float | None:
    """Return how many seconds ago a summary's heartbeat was written (None if it has none)."""
    beat = summary.get("heartbeat")
    if not isinstance(beat, (int, float)) or isinstance(beat, bool):
        return None
    now = time.time() if now is None else now
    try:
        age = now - float(beat)
    except OverflowError:  # an integer no clock ever gave
        return None
    return age if math.isfinite(age) else None


def liveness(summary: dict[str, Any], now: float | None = None) -> Verdict:
    """Judge whether the process of a `running` summary can still be alive (see above)."""
    pid, host = summary.get("pid"), summary.get("host")
    here = processes.this_process()
    namespace = summary.get("pid_ns")
    ours = host == here["host"] and namespace in (None, here["pid_ns"])  # None: it did not say
    if ours and type(pid) is int and 0 < pid < 2**31:
        return _local(pid, summary.get("pid_start"), str(host))
    age = heartbeat_age(summary, now)
    if age is not None and age > STALE_AFTER:
        where = f"on {host}" if host != here["host"] else f"on {host} in pid namespace {namespace}"
        process = f"process {pid}" if pid is not None else "its process"
        reason = f"no heartbeat for {age:.0f} s from {process} {where}"
        return Verdict(STALE, f"{reason}; it may still be running")
    return Verdict(RUNNING)


def crash_reason(summary: dict[str, Any], now: float | None = None) -> str | None:
    """Return why a `running` summary is certainly a dead run, or None if it may be alive."""
    if summary.get("status") != "running":
        return None
    verdict = liveness(summary, now)
    return verdict.reason if verdict.state == CRASHED else None


def _judged(summary: dict[str, Any], verdict: Verdict) -> dict[str, Any]:
    """Return the summary with the status a verdict gives it (a copy when it changes)."""
    beat = summary.get("heartbeat")
    if verdict.state == CRASHED:
        crash = {"reason": verdict.reason, "last_heartbeat": beat}
        return {**summary, "status": "crashed", "crash": crash}
    if verdict.state == STALE:
        stale = {"reason": verdict.reason, "last_heartbeat": beat}
        return {**summary, "status": "stale", "reason": verdict.reason, "stale": stale}
    return summary


def _read(folder: Path) -> dict[str, Any]:
    summary: dict[str, Any] = json.loads((folder / layout.SUMMARY).read_text("utf-8"))
    return summary


def read_summary(folder: Path) -> dict[str, Any]:
    """Return a run's summary with its status as it really is (`crashed` or `stale` inferred)."""
    summary = _read(folder)
    if summary.get("status") != "running":
        return summary
    return _judged(summary, liveness(summary))


def rebuild_metrics(folder: Path) -> dict[str, Columns]:
    """Rebuild series/ and metrics.csv from the journal of a dead run; return its series.

    The files are the ones a finished run writes (archive/seriesfiles.write),
    and the columns a sample of each series carrying its exact summary. Without
    a journal the run died after writing both (it removes the journal only
    then), so they are read instead.
    """
    from ..archive import seriesfiles

    journal_path, csv_path = folder / layout.JOURNAL, folder / layout.METRICS
    if journal_path.exists():
        try:
            columns = seriesfiles.write(folder, iter_journal(journal_path))
        except ValueError:  # not a journal at all: keep it, say so, lose nothing else
            from ..archive.logline import append_entry

            append_entry(
                folder, "WARNING", f"{journal_path.name} is not a metrics journal; left as is"
            )
        else:
            journal_path.unlink()
            return columns
    elif csv_path.exists():
        return seriesfiles.read(folder) or columns_from_csv(csv_path)
    layout.atomic_write_text(csv_path, csv_text({}))
    return {}


def mark_crashed(folder: Path, reason: str, ended: bool = False, **details: Any) -> dict[str, Any]:
    """Record a dead run as crashed, writing what it could not: metrics.csv, plots, REPORT.md.

    Under the run's lock the summary is judged again, and only a run still
    `running` whose process is certainly gone is written. `ended=True` is for a
    caller that knows the process ended (its SLURM task is over): it also
    writes a run that is stale or running elsewhere, but never one whose
    process is alive on this host. Otherwise the summary is returned as judged.
    """
    from ..archive import yamltext
    from ..archive.values import scalars
    from ..report import runreport

    with run_lock(folder):
        summary = _read(folder)
        if summary.get("status") != "running":
            return summary
        verdict = liveness(summary)
        if verdict.state == ALIVE or (verdict.state != CRASHED and not ended):
            return _judged(summary, verdict)
        if data_final(summary):  # it died after its data was final: it was that
            done = complete(folder, f"its process ({verdict.reason or reason})")
            if done is not None:
                return done
        columns = rebuild_metrics(folder)
        plots, _ = runreport.make_plots(folder, columns)
        data_path = folder / layout.DATA
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
            artifacts=layout.artifact_names(folder),
            plots=plots,
        )
        layout.write_json(folder / layout.SUMMARY, summary)
        config = yamltext.load((folder / layout.CONFIG).read_text("utf-8"))
        runreport.write_report(folder, config, summary)
    return summary


def read_run(folder: str | Path, repair: bool = True) -> dict[str, Any]:
    """Read a run folder's summary; a certain crash is reported (and, with repair, recorded)
    crashed, a suspected one (an old heartbeat from another host) only reported stale."""
    path = Path(folder)
    if not layout.is_run_folder(path):
        raise FileNotFoundError(f"{path} is not a run folder (no config.yaml and summary.json)")
    summary = _read(path)
    if summary.get("status") != "running":
        return summary
    verdict = liveness(summary)
    if repair and verdict.state == CRASHED:
        return mark_crashed(path, str(verdict.reason))
    return _judged(summary, verdict)


# Runs whose process died while finishing (see the module's docstring).

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
    if not data_final(_read_or_empty(folder)):  # the common case, without taking the lock
        return None
    with run_lock(folder):
        summary = _read_or_empty(folder)
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


def _read_or_empty(folder: Path) -> dict[str, Any]:
    try:
        found: dict[str, Any] = json.loads((folder / layout.SUMMARY).read_text("utf-8"))
    except (OSError, ValueError):
        return {}  # unreadable here: read_run says what is wrong with it
    return found


def _finish(folder: Path, summary: dict[str, Any], note: str, details: dict[str, Any]) -> None:
    from ..archive import seriesfiles, yamltext
    from ..archive.logline import append_entry
    from ..report import runreport

    columns = seriesfiles.read(folder) or columns_from_csv(folder / layout.METRICS)
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
