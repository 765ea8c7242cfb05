"""Reading PyComex archive folders (pycomex.functional.experiment.Experiment's) as runs.

A PyComex run folder holds experiment_meta.json (status, start_time, end_time,
parameters with their values, `__track__`, the names tracked), and, once it
ended, experiment_data.json (the data store: nested dicts from slash keys,
tracked series as lists), its log (experiment_out.log; experiment_log.txt in
older versions), the code (experiment_code.py, analysis.py, the modules it
extends or includes) and every file it committed. A debug run's folder is
named `debug`.

Two things PyComex leaves for a reader to work out:

- `track("a/b", v)` checks `"a/b" not in data`, which is always true for a slash
  name, so every call starts the list again: only the last value is kept,
  while `__track__` lists the name once per call. The importer imports that
  one value and says how many were lost.
- A run whose process died stays `running` with no end time. It is imported
  as `crashed`, unless its files changed within the last STALE_AFTER seconds
  (it may be alive): then it is left for a later import.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

from ..archive import layout
from .sources import (
    ImportRefused,
    Report,
    SourceRun,
    files_under,
    fingerprint,
    log_entries,
    read_bytes,
    readable_file,
    walk,
)

META = "experiment_meta.json"
DATA = "experiment_data.json"
LOGS = ("experiment_out.log", "experiment_log.txt")
CODE_FILES = ("experiment_code.py", "analysis.py", "experiment_config.yml", ".dependencies.json")
TRACK = ".track"
STALE_AFTER = 60.0
STATUSES = {"done": "completed", "failed": "failed"}
ERROR_LINE = "EXPERIMENT ERROR:"  # PyComex's log line naming a failed run's error


def find_runs(top: Path, report: Report) -> list[Path]:
    """Every PyComex run folder at or under top (a results folder, an experiment's, a run's)."""
    if os.path.lexists(top / META):
        return [top]
    found = []
    for here, dirs, files in walk(top, top, report):
        if META in files:
            found.append(here)
            dirs.clear()  # a run's own folders (.track) hold no runs
        else:
            dirs[:] = [d for d in dirs if not d.startswith(".")]  # PyComex's .cache
    if not found:
        raise ImportRefused(
            f"{top}: no PyComex run folder here (a folder holding {META}); give a PyComex "
            "results folder, one experiment's folder in it, or one run's"
        )
    return found


def _value(data: dict[str, Any], name: str) -> Any:
    current: Any = data
    for part in name.split("/"):
        if not isinstance(current, dict) or part not in current:
            return None
        current = current[part]
    return current


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _series(meta: dict[str, Any], data: dict[str, Any], problems: list[str]) -> dict[str, Any]:
    listed = meta.get("__track__")
    tracked = [n for n in listed if isinstance(n, str)] if isinstance(listed, list) else []
    series: dict[str, list[tuple[int, float]]] = {}
    for name in dict.fromkeys(tracked):
        values = _value(data, name)
        if not isinstance(values, list):
            if data:
                problems.append(f"tracked {name!r} is not in {DATA}; no series imported")
            continue
        numbers = [(i, float(v)) for i, v in enumerate(values) if _number(v)]
        if not numbers:
            if values:
                problems.append(f"tracked {name!r} holds figures, copied with the artifacts")
            continue
        calls = tracked.count(name)
        if "/" in name and calls > len(values):
            problems.append(
                f"PyComex kept only the last of {calls} values of {name!r} (with a slash in "
                f"its name, track() starts the list again each time); imported {len(values)}"
            )
        if len(numbers) < len(values):
            problems.append(f"{name!r}: {len(values) - len(numbers)} values are not numbers")
        series[name] = numbers
    return series


def _status(meta: dict[str, Any]) -> tuple[str, str | None]:
    found = meta.get("status")
    if isinstance(found, str) and found in STATUSES:
        return STATUSES[found], None
    if found == "running":
        return "crashed", "PyComex left it running: its process ended before it finished"
    return "crashed", f"PyComex status {found!r}"


def _error(meta: dict[str, Any], log: list[tuple[str, str, str]]) -> dict[str, Any]:
    said = [text for _, _, text in log if ERROR_LINE in text]
    message = said[0].partition(ERROR_LINE)[2].strip() if said else ""
    return {"type": str(meta.get("error_type") or "Error"), "message": message, "traceback": None}


def _newest_change(folder: Path) -> float:
    stamps = []
    for name in (META, DATA, *LOGS):
        try:
            stamps.append(os.lstat(folder / name).st_mtime)
        except OSError:
            continue
    return max(stamps, default=0.0)


def _read_json(top: Path, path: Path, report: Report) -> Any:
    if not readable_file(top, path, report):
        raise OSError("not a readable file (a link out of the folder?)")
    return json.loads(read_bytes(path).decode("utf-8"))


def read_run(top: Path, folder: Path, report: Report, now: float | None = None) -> SourceRun | None:
    """The run of one PyComex folder; None (and why, in the report) when it cannot be read."""
    try:
        if not readable_file(top, folder / META, report):
            raise OSError(f"not a file inside {top}")
        meta_bytes = read_bytes(folder / META)
        meta = json.loads(meta_bytes.decode("utf-8"))
        if not isinstance(meta, dict) or not isinstance(meta.get("parameters", {}), dict):
            raise ValueError(f"{META} is not a PyComex metadata object")
    except (OSError, ValueError) as error:
        report.unreadable.append(f"{folder}: {META}: {error}")
        return None
    now = time.time() if now is None else now
    if meta.get("status") == "running" and now - _newest_change(folder) < STALE_AFTER:
        age = now - _newest_change(folder)
        report.notes.append(
            f"{folder}: skipped, PyComex says running and its files changed {age:.0f} s ago "
            "(it may be alive); import again once it has ended"
        )
        return None
    declared: dict[str, Any] = meta.get("parameters") or {}
    problems: list[str] = []
    data: dict[str, Any] = {}
    if os.path.lexists(folder / DATA):
        try:
            found = _read_json(top, folder / DATA, report)
            if not isinstance(found, dict):
                raise ValueError("not a JSON object")
            data = found
        except (OSError, ValueError) as error:
            problems.append(f"{DATA} could not be read ({error}); no data store or series imported")
    params = {
        name: p["value"]
        for name, p in declared.items()
        if isinstance(p, dict) and "value" in p and not name.startswith("__")
    }
    log: list[tuple[str, str, str]] = []
    for log_name in LOGS:
        if readable_file(top, folder / log_name, report):
            try:
                log = log_entries(read_bytes(folder / log_name).decode("utf-8", "replace"))
            except OSError as error:
                problems.append(f"{log_name} could not be read ({error})")
            break
    status, reason = _status(meta)
    debug_meta = declared.get("__DEBUG__")
    debug_value = debug_meta.get("value") if isinstance(debug_meta, dict) else None
    named = meta.get("name") if isinstance(meta.get("name"), str) else None
    run = SourceRun(
        tool="pycomex",
        source=folder,
        source_id=fingerprint(folder, meta_bytes),
        experiment=layout.safe_name(named or folder.parent.name) or "pycomex",
        name=folder.name,
        params=params,
        status=status,
        started=_time(meta.get("start_time")),
        ended=_time(meta.get("end_time")),
        description=str(meta.get("short_description") or meta.get("description") or ""),
        series=_series(meta, data, problems),
        data=data,
        log=log,
        reason=reason,
        error=_error(meta, log) if status == "failed" else None,
        problems=problems,
        debug=folder.name == "debug" or debug_value is True,
        extra={"status": meta.get("status"), "folder": folder.name},
    )
    _files(top, folder, run, report)
    return run


def _time(value: Any) -> float | None:
    """A Unix time PyComex wrote; anything else (text, NaN, year 10,000) is none."""
    if not _number(value) or not math.isfinite(value) or not 0 <= value < 253_402_300_800:
        return None
    return float(value)


def _files(top: Path, folder: Path, run: SourceRun, report: Report) -> None:
    skip = (META, DATA, *LOGS)
    for path in files_under(top, folder, report, skip):
        relative = path.relative_to(folder).as_posix()
        if relative in CODE_FILES or ("/" not in relative and relative.endswith(".py")):
            run.code[relative] = path
        elif relative.startswith(TRACK + "/"):
            run.artifacts["track/" + relative[len(TRACK) + 1 :]] = path
        else:
            run.artifacts[relative] = path


def assign_axes(runs: list[SourceRun]) -> None:
    """Give each experiment's runs (debug ones apart) the parameters that differ as axes."""
    groups: dict[tuple[str, bool], list[SourceRun]] = {}
    for run in runs:
        groups.setdefault((run.experiment, run.debug), []).append(run)
    for group in groups.values():
        group.sort(key=lambda r: (r.started or 0.0, r.name))
        names = list(dict.fromkeys(n for r in group for n in r.params))
        axes = [
            n
            for n in names
            if len({json.dumps(r.params.get(n), sort_keys=True, default=str) for r in group}) > 1
        ]
        for order, run in enumerate(group):
            run.axes, run.order = axes, order
