"""The points of a session's runs since where a page last stood, for /api/live/<session>.

A running run's points come from its journal (archive/journal.py), read from
the byte offset the page gives (`since`); the journal's automatic steps
follow the step before them, so the state at each offset handed out (series
names, last step of each) is kept in a small cache, and rebuilt by reading
the journal from its start when the cache has forgotten it. A finished run's
points come from series/ or metrics.csv, once. A reply carries at most
MAX_POINTS points of a series: more are thinned evenly, keeping the last.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

from ..archive import layout
from ..archive.journal import MAGIC, Reader, open_journal

MAX_POINTS = 1000  # of a series, in one reply
CACHED_OFFSETS = 4096
QUIET_S = 60.0  # a session with no running run and nothing written for this long is over
DONE = -1  # the `since` of a run whose finished points the page holds


class _State:
    """Where a journal was read to: series names and each series' last step."""

    def __init__(self, names: dict[int, str], last: dict[int, int]) -> None:
        self.names, self.last = names, last


_cache: OrderedDict[tuple[str, int, int], _State] = OrderedDict()
_lock = threading.Lock()


def _remember(key: tuple[str, int, int], state: _State) -> None:
    with _lock:
        _cache[key] = state
        _cache.move_to_end(key)
        while len(_cache) > CACHED_OFFSETS:
            _cache.popitem(last=False)


def _recall(key: tuple[str, int, int]) -> _State | None:
    with _lock:
        return _cache.get(key)


def _steps(flat: list[Any], last: int) -> tuple[list[int], list[Any], int]:
    """Resolve a chunk's steps (None follows the step before) and take its values."""
    steps, values = [], []
    for i in range(0, len(flat) - len(flat) % 3, 3):
        step = flat[i + 1]
        last = last + 1 if step is None else int(step)
        steps.append(last)
        values.append(flat[i])
    return steps, values, last


def journal_points(path: Path, since: int) -> tuple[dict[str, list[list[Any]]], int, bool]:
    """Return ({series: [steps, values]} after `since`, the new offset, whether it restarted)."""
    opened = open_journal(path)
    if opened is None:
        return {}, since, False
    fd, size = opened
    try:
        inode = os.fstat(fd).st_ino
        reset = False
        state = _recall((str(path), inode, since)) if since > len(MAGIC) else None
        if state is None:
            reset = since > len(MAGIC)  # forgotten, or another journal: send everything
            reader, last = Reader(fd), {}
        else:
            reader, last = Reader(fd, since), dict(state.last)
            reader.names = dict(state.names)
        found: dict[str, list[list[Any]]] = {}
        for sid, chunk in reader.read(size):
            name = reader.names[sid]
            points = found.setdefault(name, [[], []])
            steps, values, last[sid] = _steps(chunk or [], last.get(sid, -1))
            points[0].extend(steps)
            points[1].extend(values)
        _remember((str(path), inode, reader.offset), _State(dict(reader.names), last))
        return found, reader.offset, reset
    finally:
        os.close(fd)


def finished_points(folder: Path) -> dict[str, list[list[Any]]]:
    """Every point of a finished run (series/, else metrics.csv, else what its journal holds)."""
    from ..archive import seriesfiles

    columns = seriesfiles.read_any(folder)
    return {name: [list(c.steps), list(c.values)] for name, c in columns.items()}


def thinned(points: list[list[Any]], cap: int = MAX_POINTS) -> list[list[Any]]:
    """At most `cap` points, evenly spaced, the last kept; non-finite values become None."""
    steps, values = points
    if len(steps) > cap:
        picks = [round(i * (len(steps) - 1) / (cap - 1)) for i in range(cap)]
        steps, values = [steps[i] for i in picks], [values[i] for i in picks]
    clean = [v if isinstance(v, (int, float)) and math.isfinite(v) else None for v in values]
    return [[int(s) for s in steps], clean]


def session_folders(root: Path, stamp: str) -> list[Path]:
    """The folders of a session (one per experiment that ran in it), inside root."""
    from .paths import inside

    found = []
    for experiment in sorted(root.iterdir()) if root.is_dir() else []:
        if experiment.name.startswith((".", "_")) or not experiment.is_dir():
            continue
        folder = inside(root, f"{experiment.name}/{stamp}")
        if folder is not None and folder.is_dir():
            found.append(folder)
    return found


def _run_state(folder: Path, since: int) -> dict[str, Any]:
    from ..catalog.reading import read_run

    key = f"{folder.parent.parent.name}/{folder.name}"
    one: dict[str, Any] = {"key": key, "experiment": folder.parent.parent.name}
    one.update(run_id=folder.name, series={}, offset=since, reset=False)
    try:
        summary = read_run(folder, repair=False)
    except (OSError, ValueError) as error:
        one.update(status="damaged", done=True, error=str(error).splitlines()[0][:200])
        return one
    one["status"] = status = str(summary.get("status"))
    journal = folder / layout.JOURNAL
    try:
        if status == "running" and journal.is_file():
            found, one["offset"], one["reset"] = journal_points(journal, max(since, 0))
            one["done"] = False
        elif since == DONE:
            found, one["done"] = {}, True
        else:
            found, one["done"], one["offset"], one["reset"] = (
                finished_points(folder),
                True,
                DONE,
                True,
            )
    except (OSError, ValueError) as error:  # a damaged journal or metrics.csv: say so, go on
        one.update(status=f"{status} (damaged)", done=True, error=str(error).splitlines()[0][:200])
        return one
    one["series"] = {name: thinned(points) for name, points in found.items()}
    ends = [p[0][-1] for p in found.values() if p[0]]
    one["step"] = max(ends) if ends else None
    return one


def session_state(root: Path, stamp: str, since: dict[str, int]) -> dict[str, Any] | None:
    """The reply of /api/live/<stamp>: each run's status, step and new points; None if unknown."""
    folders = session_folders(root, stamp)
    if not folders:
        return None
    runs, newest, finished = [], 0.0, True
    for session in folders:
        finished = finished and (session / "comparison.json").is_file()
        for folder in sorted(session.iterdir()):
            if not layout.is_run_folder(folder):
                continue
            one = _run_state(folder, since.get(f"{session.parent.name}/{folder.name}", 0))
            runs.append(one)
            with_heartbeat = folder / layout.SUMMARY
            newest = max(newest, with_heartbeat.stat().st_mtime if with_heartbeat.exists() else 0)
    running = any(r["status"] == "running" for r in runs)
    quiet = time.time() - newest > QUIET_S
    return {"session": stamp, "over": not running and (finished or quiet), "runs": runs}
