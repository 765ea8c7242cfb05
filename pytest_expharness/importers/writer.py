"""Writing imported runs as our run folders, then their sessions' tables, report.html, index.

Each run is written whole into a hidden staging folder under the archive root
(`.import-*`, which nothing lists), then moved into place with one rename onto
the empty folder reserved for it (`layout.make_run_dir`): a refused or
interrupted import leaves no run, whole or half, behind. A run whose
`source_id` is already in the archive is skipped, never written twice.

The folder holds what a native run's holds: config.yaml (the header says
`imported_from`), summary.json, metrics.csv, data.json, run.log, artifacts/,
code/, plots/, analysis.py and REPORT.md. The sessions are then ended as
sweep/end.finalize ends one (comparison tables, report.html, index rows),
without sweep analyses: an import runs no code it read.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..archive import layout
from ..archive.locks import run_lock
from ..archive.metricsfile import Columns, csv_text, series_stats
from ..archive.values import scalars, to_json
from ..report import runreport, runscript
from .sources import Report, SourceRun, imported_ids

LOCK_WAIT = 600.0  # seconds an import waits for another one into the same root


def iso(ts: float | None) -> str | None:
    """A time as summary.json writes it (local, with its offset); None stays None."""
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts).astimezone().isoformat(timespec="milliseconds")


def header(run: SourceRun, run_id: str, session: str, at: str) -> dict[str, Any]:
    """The config.yaml header of an imported run: a native run's keys, what is known filled."""
    return {
        "name": run.experiment,
        "description": run.description,
        "tags": [run.tool],
        "label": "exploratory",
        "notes": [],
        "run_id": run_id,
        "session": session,
        "timestamp": iso(run.started),
        "node_id": f"{run.tool}:{run.source}",
        "module": None,
        "test_class": None,
        "parent": None,
        "parent_module": None,
        "git_commit": None,
        "git_branch": None,
        "git_dirty": None,
        "git_note": f"imported from {run.tool}, which records no commit",
        "base_config": None,
        "cli_overrides": {},
        "axes": list(run.axes),
        "order": run.order,
        "repeat": 0,
        "repeats": 1,
        "seed": None,
        "attempt": 1,
        "main_metric": run.main_metric,
        "source_hash": None,
        "code": [],  # code/ holds the tool's code, which `expharness analyze` cannot run
        "reproducible": False,
        "testing": False,
        "debug": run.debug,
        "imported_from": {
            "tool": run.tool,
            "source": str(run.source),
            "source_id": run.source_id,
            "at": at,
            **run.extra,
        },
    }


_UNNAMEABLE = re.compile(r"[^A-Za-z0-9_.\-+=/ ]")


def series_name(name: str) -> str | None:
    """The name a series is kept under (run/tracking.NAME's letters), None if none is left."""
    parts = [_UNNAMEABLE.sub("_", part).strip() for part in name.split("/")]
    cleaned = "/".join(p for p in parts if p and p not in (".", ".."))
    return cleaned or None


def _columns(run: SourceRun, problems: list[str]) -> dict[str, Columns]:
    when = run.ended if run.ended is not None else (run.started or 0.0)
    out: dict[str, Columns] = {}
    for name, points in run.series.items():
        kept = series_name(name)
        if kept != name:
            said = f"as {kept!r}" if kept else "not at all"
            problems.append(
                f"series {name!r} kept {said} (a name holds A-Z a-z 0-9 _ . - + = / and spaces)"
            )
        if not points or kept is None:
            continue
        if kept in out:
            problems.append(f"series {name!r}: {kept!r} is taken by another series; not kept")
            continue
        steps = [int(step) for step, _ in points]
        out[kept] = Columns.of([float(v) for _, v in points], steps, [when] * len(points))
    return out


def _copy(files: dict[str, Path], into: Path, problems: list[str]) -> None:
    for name, source in sorted(files.items()):
        target = into / name
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            with contextlib.suppress(OSError):
                shutil.copystat(source, target)
        except OSError as error:
            problems.append(f"could not copy {source}: {error.strerror or error}")


def _log_text(run: SourceRun, problems: list[str], at: str) -> tuple[str, dict[str, int]]:
    start = dt.datetime.fromtimestamp(run.started or 0.0).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    now = dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    entries = [(stamp or start, level, text) for stamp, level, text in run.log]
    entries.append((now, "INFO", f"imported from {run.tool} {run.source} at {at}"))
    entries += [(now, "WARNING", problem) for problem in problems]
    counts = {"warnings": 0, "errors": 0}
    for _, level, _ in entries:
        if level == "WARNING":
            counts["warnings"] += 1
        elif level in ("ERROR", "CRITICAL"):
            counts["errors"] += 1
    return "".join(f"{stamp} {level} {text}\n" for stamp, level, text in entries), counts


def fill(folder: Path, run: SourceRun, run_id: str, session: str, at: str) -> None:
    """Write every file of one imported run into folder (a staging folder)."""
    problems = list(run.problems)
    head = header(run, run_id, session, at)
    config = {"experiment": head, "parameters": dict(run.params)}
    (folder / layout.ARTIFACTS).mkdir()
    _copy(run.artifacts, folder / layout.ARTIFACTS, problems)
    _copy(run.code, folder / "code", problems)
    columns = _columns(run, problems)
    layout.atomic_write_text(folder / layout.METRICS, csv_text(columns))
    if run.data:
        layout.atomic_write_text(folder / layout.DATA, to_json(run.data))
    runscript.write(folder, head)
    plots, problem = runreport.make_plots(folder, columns)
    if problem:
        problems.append(problem)
    log, counts = _log_text(run, problems, at)
    layout.atomic_write_text(folder / layout.LOG, log)
    written = runreport.write_config(folder / layout.CONFIG, config, {})
    counts["warnings"] += len(written)
    duration = None
    if run.started is not None and run.ended is not None:
        duration = round(run.ended - run.started, 6)
    summary: dict[str, Any] = {
        "run_id": run_id,
        "experiment": run.experiment,
        "session": session,
        "node_id": head["node_id"],
        "attempt": 1,
        "started": iso(run.started),
        "started_unix": run.started,
        "status": run.status,
        "ended": iso(run.ended),
        "duration": duration,
        "metrics": {name: series_stats(cols) for name, cols in columns.items()},
        "frames": {},
        "components": {},
        "cache": None,
        "data_file": layout.DATA if run.data else None,
        "results": dict(scalars(run.data)),
        "artifacts": layout.artifact_names(folder),
        "log": counts,
        "resources": None,
        "plots": plots,
        "problems": problems,
    }
    if run.reason:
        summary["reason"] = run.reason
    if run.error:
        summary["error"] = run.error
    layout.write_json(folder / layout.SUMMARY, summary)
    runreport.write_report(folder, config, summary)


def _base_id(run: SourceRun) -> str:
    if run.axes:
        return layout.run_id_for({name: run.params.get(name) for name in run.axes})
    return layout.safe_name(run.name) or "run"


def _fresh(root: Path, runs: list[SourceRun], report: Report | None) -> list[SourceRun]:
    """The runs whose source_id the archive does not hold yet (each source once)."""
    known = imported_ids(root)
    fresh = []
    for run in runs:
        if run.source_id not in known:
            fresh.append(run)
            known[run.source_id] = run.source
        elif report is not None:
            report.already.append(f"{run.source} (as {_shown(known[run.source_id], root)})")
    return fresh


def write_runs(root: Path, runs: list[SourceRun], stamp: str, report: Report) -> list[Path]:
    """Write the runs not imported yet as run folders of root; return the folders made.

    Imports into one root take turns (a lock on the root folder, LOCK_WAIT at most),
    and each looks again for what the one before it imported.
    """
    if not _fresh(root, runs, None):
        _fresh(root, runs, report)
        return []
    layout.create_root(root)
    with run_lock(root, wait=LOCK_WAIT):
        return _write(root, _fresh(root, runs, report), stamp, report)


def _write(root: Path, fresh: list[SourceRun], stamp: str, report: Report) -> list[Path]:
    if not fresh:
        return []
    at = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    staging = Path(tempfile.mkdtemp(prefix=".import-", dir=root))
    placed: list[Path] = []
    try:
        for n, run in enumerate(fresh):
            session = run.session_hint or stamp
            parent = layout.experiment_parent(
                root, run.experiment, session, testing=False, debug=run.debug
            )
            path, run_id = layout.make_run_dir(parent, _base_id(run))  # reserved, empty
            stage = staging / str(n)
            try:
                stage.mkdir()
                fill(stage, run, run_id, session, at)
                os.rename(stage, path)  # onto our own empty folder: the run appears whole
            except (OSError, ValueError) as error:
                with contextlib.suppress(OSError):
                    path.rmdir()
                report.unreadable.append(f"{run.source}: could not be written ({error})")
                continue
            except BaseException:
                with contextlib.suppress(OSError):
                    path.rmdir()
                raise
            placed.append(path)
            report.imported.append(f"{run.source} -> {_shown(path, root)} ({run.status})")
            report.notes.extend(f"{_shown(path, root)}: {problem}" for problem in run.problems)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return placed


def _shown(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def finish_sessions(root: Path, placed: list[Path]) -> list[Any]:
    """Write the tables and report.html of every session the new runs are in; index them.

    As sweep/end.finalize does for a native session (the runs of a sweep folder
    imported before are read back from it too), without sweep analyses.
    """
    from ..catalog.index import index_records
    from ..catalog.records import record_from_folder
    from ..sweep.html.page import write_sweep_reports
    from ..sweep.tablefiles import write_sweeps

    by_session: dict[str, list[dict[str, Any]]] = {}
    for path in placed:
        record = record_from_folder(path)
        by_session.setdefault(str(record["session"]), []).append(record)
    tables = []
    for stamp, records in sorted(by_session.items()):
        made, every = write_sweeps(records, root, stamp, False)
        for problem in write_sweep_reports(made, every):
            print(f"expharness: {problem}")
        indexed = [r for r in every if os.path.basename(r["sweep"]) != layout.DEBUG_DIR]
        if indexed:
            index_records(root, indexed, stamp)
        tables.extend(made)
    return tables


def sessions_of(placed: list[Path]) -> Iterator[str]:
    """The session folders (experiment/session) the placed runs are in, each once."""
    seen: set[Path] = set()
    for path in placed:
        if path.parent not in seen:
            seen.add(path.parent)
            yield f"{path.parent.parent.name}/{path.parent.name}"
