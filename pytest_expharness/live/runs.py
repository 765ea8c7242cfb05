"""A session's runs read back from their folders for the live view; never raises.

A run's state comes from its summary.json (final, or `running` judged by the
liveness rules of catalog/reading.py: a dead process reads `crashed` at once)
and, while it runs, from the live.json its flusher writes (step, total, latest
values). Anything unreadable or out of shape reads as `unknown`. Finished runs
are read once and kept, and a file is parsed again only when it changed
(`Reader`), so a refresh costs a few stat calls per run in flight.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..archive import layout
from ..catalog.reading import ALIVE, CRASHED, STALE, Verdict, liveness

FINAL = ("completed", "failed", "skipped", "interrupted", "preempted", "crashed", "reused")
UNKNOWN = "unknown"
ALIVE_FOR = 3.0  # seconds a process seen alive is not looked up again (a crash shows within it)


@dataclass(frozen=True)
class RunState:
    """One run as the live view shows it."""

    run_id: str
    status: str  # running, stale, unknown, or a final status of summary.json
    started: float | None = None
    updated: float | None = None
    step: int | None = None
    total: int | None = None
    values: dict[str, float] = field(default_factory=dict)  # main metric first
    duration: float | None = None
    reason: str | None = None


@dataclass(frozen=True)
class SweepState:
    """The runs of one sweep folder (<root>/<experiment>/<stamp>)."""

    experiment: str
    folder: Path
    runs: list[RunState]
    ended: bool  # its comparison table is written: the session's end wrote it
    planned: int | None = None  # how many runs the session means to make (planned.json)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        return None
    return value


def _load(path: str) -> Any:
    try:
        with open(path, "rb") as handle:
            return json.loads(handle.read(1 << 20))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, RecursionError):
        return UNKNOWN


def parse_live(data: Any, run_id: str) -> RunState:
    """Return the running state a live.json object says (`unknown` if it is out of shape)."""
    if not isinstance(data, dict):
        return RunState(run_id, UNKNOWN, reason="live.json is unreadable")
    values = data.get("values")
    step, total = data.get("step"), data.get("total")
    if (
        not isinstance(values, dict)
        or (step is not None and _count(step) is None)
        or (total is not None and (_count(total) is None or total < 1))
    ):
        return RunState(run_id, UNKNOWN, reason="live.json is out of shape")
    shown = {}
    for name, value in list(values.items())[:8]:
        number = _number(value) if isinstance(name, str) else None
        if number is not None or (isinstance(value, float) and isinstance(name, str)):
            shown[name[:60]] = value  # a NaN or inf is shown as it is
    return RunState(
        run_id,
        "running",
        started=_number(data.get("started")),
        updated=_number(data.get("updated")),
        step=step,
        total=total,
        values=shown,
    )


Load = Callable[[str], Any]
Judge = Callable[[str, dict[str, Any], "float | None"], Verdict]


def _judge(folder: str, summary: dict[str, Any], now: float | None) -> Verdict:
    return liveness(summary, now)


def read_run(
    folder: str | Path, now: float | None = None, load: Load = _load, judge: Judge = _judge
) -> RunState:
    """Return one run's state from its folder (never raises)."""
    folder = os.fspath(folder)
    run_id = os.path.basename(folder)
    summary = load(os.path.join(folder, layout.SUMMARY))
    if summary is None:
        return RunState(run_id, "starting")  # the folder is made just before its summary
    if not isinstance(summary, dict) or not isinstance(summary.get("status"), str):
        return RunState(run_id, UNKNOWN, reason="summary.json is unreadable")
    status = summary["status"]
    started = _number(summary.get("started_unix"))
    if status != "running":
        shown = status if status in FINAL else UNKNOWN
        crash = summary.get("crash")
        reason = summary.get("reason") or (crash.get("reason") if isinstance(crash, dict) else None)
        reason = reason[:200] if isinstance(reason, str) else None
        duration = _number(summary.get("duration"))
        return RunState(run_id, shown, started, duration=duration, reason=reason)
    try:
        verdict = judge(folder, summary, now)
    except Exception:  # a hostile summary: never stop the view
        return RunState(run_id, UNKNOWN, started, reason="summary.json is out of shape")
    if verdict.state == CRASHED:
        return RunState(run_id, "crashed", started, reason=verdict.reason)
    live = load(os.path.join(folder, layout.LIVE))
    if live is None:
        return RunState(run_id, "running", started)
    state = parse_live(live, run_id)
    status = STALE if verdict.state == STALE else state.status
    return RunState(
        run_id,
        status,
        started if started is not None else state.started,
        state.updated,
        state.step,
        state.total,
        state.values,
        reason=verdict.reason or state.reason,
    )


class Reader:
    """Reads sessions' sweeps again and again, each finished run only once."""

    def __init__(self) -> None:
        self._final: dict[str, RunState] = {}
        self._files: dict[str, tuple[tuple[int, int], Any]] = {}  # parsed, by (mtime, size)
        self._alive: dict[str, float] = {}  # when a run's process was last seen alive

    def _load(self, path: str) -> Any:
        """Parse a JSON file again only when its mtime or size changed (both are atomic)."""
        try:
            stat = os.stat(path)
        except FileNotFoundError:
            self._files.pop(path, None)
            return None
        except OSError:
            return UNKNOWN
        key = (stat.st_mtime_ns, stat.st_size)
        known = self._files.get(path)
        if known is not None and known[0] == key:
            return known[1]
        found = _load(path)
        self._files[path] = (key, found)
        return found

    def _judge(self, folder: str, summary: dict[str, Any], now: float | None) -> Verdict:
        """Judge liveness, trusting a process seen alive within ALIVE_FOR seconds."""
        seen = self._alive.get(folder)
        clock = time.monotonic()
        if seen is not None and clock - seen < ALIVE_FOR:
            return Verdict(ALIVE)
        verdict = liveness(summary, now)
        if verdict.state == ALIVE:
            self._alive[folder] = clock
        return verdict

    def sweep(self, folder: Path, now: float | None = None) -> SweepState:
        """Return the state of every run of one sweep folder."""
        now = time.time() if now is None else now
        runs = []
        try:
            entries = sorted(e.path for e in os.scandir(folder) if e.is_dir())
        except OSError:
            entries = []
        for path in entries:
            known = self._final.get(path)
            if known is None:
                known = read_run(path, now, self._load, self._judge)
                if known.status in FINAL:
                    self._final[path] = known
                    for name in (layout.SUMMARY, layout.LIVE):
                        self._files.pop(os.path.join(path, name), None)
            runs.append(known)
        ended = (folder / "comparison.json").is_file()  # sweep/tablefiles.write's last file
        plan = self._load(os.path.join(folder, layout.PLANNED))
        planned = _count(plan.get("runs")) if isinstance(plan, dict) else None
        return SweepState(folder.parent.name, folder, runs, ended, planned)

    def session(self, root: Path, stamp: str, now: float | None = None) -> list[SweepState]:
        """Return every sweep of a session (testing ones too), by experiment name."""
        return [self.sweep(f, now) for f in sorted(session_folders(root, stamp))]


def session_folders(root: Path, stamp: str) -> set[Path]:
    """Return the sweep folders of a session: <root>[/_testing]/<experiment>/<stamp>.

    Folders whose name starts with `_` or `.` hold no experiment (_slurm's job
    files, _testing itself, the cache).
    """
    return {
        p
        for base in (root, root / layout.TESTING_DIR)
        for p in base.glob(f"*/{glob_escape(stamp)}")
        if p.is_dir() and not p.parent.name.startswith((".", "_"))
    }


def glob_escape(name: str) -> str:
    """Return name with glob's special characters taken literally."""
    import glob

    return glob.escape(name)
