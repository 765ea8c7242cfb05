"""The curves of a running session, drawn by report.html's own chart code, for /api/charts/.

The server keeps every run's points as far as it has read them (a running
run's journal from the offset it stopped at, a finished run's files once), so
each request reads only what was written since. A series kept past KEEP points
has its older part halved, and Plotter.curves thins further as it draws, as
report.html does.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from ..archive import layout
from ..sweep.html.parts import esc
from . import live

KEEP = 8000  # points of a series kept in memory per run
SESSIONS = 4  # sessions whose points the server holds (the least recently drawn goes)


class _Run:
    """What the server holds of one run: the journal offset it read to, and the points."""

    def __init__(self) -> None:
        self.offset = 0
        self.done = False
        self.series: dict[str, list[list[Any]]] = {}

    def add(self, found: dict[str, list[list[Any]]], reset: bool) -> None:
        if reset:
            self.series = {}
        for name, (steps, values) in found.items():
            held = self.series.setdefault(name, [[], []])
            held[0].extend(steps)
            held[1].extend(values)
            if len(held[0]) > KEEP:  # halve the older three quarters, keep the recent part
                cut = len(held[0]) * 3 // 4
                held[0][:cut], held[1][:cut] = held[0][:cut:2], held[1][:cut:2]


_sessions: OrderedDict[str, dict[str, _Run]] = OrderedDict()
_lock = threading.Lock()  # one drawing at a time: requests share what the server holds


def _held(stamp: str) -> dict[str, _Run]:
    runs = _sessions.setdefault(stamp, {})
    _sessions.move_to_end(stamp)
    while len(_sessions) > SESSIONS:
        _sessions.popitem(last=False)
    return runs


def _read(folder: Path, run: _Run) -> _Run:
    """Bring one run's points up to date (its journal while it runs, its files once it ended)."""
    if run.done:
        return run
    journal = folder / layout.JOURNAL
    if _status(folder) == "running" and journal.is_file():
        found, run.offset, reset = live.journal_points(journal, max(run.offset, 0))
        run.add(found, reset)
    else:
        run.add(live.finished_points(folder), True)
        run.done = True
    return run


def _status(folder: Path) -> str:
    from ..catalog.reading import read_run

    try:
        return str(read_run(folder, repair=False).get("status"))
    except (OSError, ValueError):
        return "damaged"


def run_folders(root: Path, stamp: str) -> list[tuple[str, Path]]:
    """Each run of the session, keyed as the live page keys it (experiment/run id), in order."""
    found = []
    for session in live.session_folders(root, stamp):
        for folder in sorted(session.iterdir()):
            if layout.is_run_folder(folder):
                found.append((f"{session.parent.name}/{folder.name}", folder))
    return found


def charts(root: Path, stamp: str) -> bytes:
    """The session's curve charts, one per series, as report.html draws them."""
    with _lock:
        return _charts(root, stamp)


def _charts(root: Path, stamp: str) -> bytes:
    from ..sweep.html.plots import Plotter, run_colours
    from ..sweep.html.sample import Curve

    held, runs = _held(stamp), []
    for key, folder in run_folders(root, stamp):
        try:
            runs.append((key, _read(folder, held.setdefault(key, _Run()))))
        except (OSError, ValueError):  # a damaged journal or file: the page's table says so
            continue
    colour_of = run_colours([key for key, _ in runs], None)
    names = sorted({name for _, run in runs for name in run.series})
    plotter, out = Plotter(), []
    for number, name in enumerate(names):
        found = []
        for key, run in runs:
            steps, values = run.series.get(name, ([], []))
            kept = [(s, v) for s, v in zip(steps, values, strict=True) if v is not None]
            if kept:
                curve = Curve("d", [float(v) for _, v in kept])
                curve.steps = [s for s, _ in kept]
                found.append((key, curve))
        if not found:
            continue
        svg = "".join(plotter.curves(name, found, None, colour_of, None, ident=f"live{number}"))
        count = sum(len(curve) for _, curve in found)
        out.append(
            f"<figure class='chart' data-series='{esc(name)}' data-points='{count}'>{svg}</figure>"
        )
    return (
        f"<div class='charts' id='chart-set' data-colours='{esc(json.dumps(colour_of))}'>"
        f"{''.join(out)}</div>"
    ).encode()
