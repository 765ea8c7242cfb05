"""Debug folders: each --exp-debug session reuses one, and never takes it from a live session.

<root>/<experiment>/debug/ holds the runs of the latest debug session of an
experiment. Its `.session` marker (JSON) names the session that owns it: its
stamp, host, start time, its controller when the caller knows it, and every
process that claimed the folder for it (pid with its start time, field 22 of
/proc/<pid>/stat, so a pid the kernel gave to a newer process does not count).

Each run that starts in debug mode claims the folder under `.debug.lock`. The
same stamp shares it: the xdist workers of one session never wait for each
other. Another session empties it only once the owner has ended, otherwise the
claim raises DebugFolderBusy naming the live session. The owner has ended when

- it said so (`release`, at the end of its session, writes `ended`), or
- on this host: none of its recorded processes is alive, or
- on another host (pids cannot be checked from here): nothing in the folder
  (the marker, which every claim touches, or a run's heartbeat) moved for
  OTHER_HOST_SILENCE seconds,

and, whatever the marker says (an older plain-text marker, or none), no run in
the folder says `running` from a process that may be alive. A process runs one
pytest session at a time, so an earlier session recorded under our own pid
(pytest run in-process twice) has ended.

`check_debug_folders` asks the same question without claiming anything, so a
controller can refuse the session before any run starts.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..catalog import processes

MARKER = ".session"
LOCK = ".debug.lock"
OTHER_HOST_SILENCE = 3600.0

Identity = dict[str, Any]


class DebugFolderBusy(Exception):
    """A debug folder belongs to a debug session that is still running."""


def process_identity(pid: int | None = None) -> Identity:
    """Return what tells a process of this host apart: pid, start time, host, pid namespace."""
    if pid is None:
        return dict(processes.this_process())
    stat = processes.proc_stat(pid)
    return {**processes.this_process(), "pid": pid, "pid_start": stat[1] if stat else None}


def _wall_time(ticks: Any) -> float | None:
    """Return the wall-clock time of a start time in clock ticks since boot."""
    if not isinstance(ticks, int):
        return None
    try:
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, StopIteration, ValueError, IndexError):
        return None


def read_marker(folder: Path) -> dict[str, Any]:
    """Return the owner a debug folder's marker names ({} when there is none or it is unreadable).

    A marker from before this format holds only the stamp as text.
    """
    try:
        text = (folder / MARKER).read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    try:
        found = json.loads(text)
    except ValueError:
        found = None
    if isinstance(found, dict):
        return found
    stamp = text.strip()
    return {"stamp": stamp} if stamp and "\n" not in stamp else {}


def write_marker(folder: Path, marker: dict[str, Any]) -> None:
    """Write a debug folder's marker atomically."""
    from ..archive.layout import atomic_write_text

    atomic_write_text(folder / MARKER, json.dumps(marker, indent=2) + "\n")


def _processes(marker: dict[str, Any]) -> list[Identity]:
    listed = marker.get("processes")
    found = [marker.get("controller"), *(listed if isinstance(listed, list) else [])]
    return [p for p in found if isinstance(p, dict)]


def _summaries(folder: Path) -> list[dict[str, Any]]:
    found = []
    for path in sorted(folder.glob("*/summary.json")):
        try:
            summary = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(summary, dict):
            found.append(summary)
    return found


def _last_sign(folder: Path, summaries: list[dict[str, Any]]) -> float:
    """Return the latest moment anything in the folder shows its session at work."""
    times = [s["heartbeat"] for s in summaries if isinstance(s.get("heartbeat"), (int, float))]
    for path in (folder / MARKER, *folder.glob("*/summary.json")):
        try:
            times.append(path.stat().st_mtime)
        except OSError:
            continue
    return max(times, default=0.0)


def _when(moment: Any) -> str:
    if not isinstance(moment, (int, float)) or isinstance(moment, bool):
        return "at an unknown time"
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(moment))
    except (ValueError, OverflowError, OSError):  # NaN, or out of the platform's range
        return "at an unknown time"


def _lives(identity: dict[str, Any], mine: set[int]) -> bool:
    """Whether a recorded process (not one of this session's) is alive on this host."""
    pid = identity.get("pid")
    return pid not in mine and processes.alive(pid, identity.get("pid_start"))


def _run_alive(summary: dict[str, Any], mine: set[int], now: float) -> bool:
    """Whether a run that says `running` may still have a live process."""
    if summary.get("status") != "running":
        return False
    if processes.is_local(summary):
        return _lives(summary, mine)
    beat = summary.get("heartbeat")
    return not isinstance(beat, (int, float)) or now - beat < OTHER_HOST_SILENCE


def live_owner(
    folder: Path, marker: dict[str, Any], mine: set[int], now: float | None = None
) -> str | None:
    """Describe the live session that owns folder (pid, host, start), or None if it has ended.

    `mine` holds the pids of this session (this process, its controller): an
    earlier session recorded under one of them has ended.
    """
    now = time.time() if now is None else now
    summaries = _summaries(folder)
    started = f"started {_when(marker.get('started'))}"
    members = [] if "ended" in marker else _processes(marker)
    alive = sorted({p["pid"] for p in members if processes.is_local(p) and _lives(p, mine)})
    if alive:
        pids = ", ".join(str(pid) for pid in alive)
        return f"pid{'s' if len(alive) > 1 else ''} {pids} on host {marker.get('host')}, {started}"
    remote = [p for p in members if not processes.is_local(p)]
    if remote:
        silent = now - _last_sign(folder, summaries)
        if silent < OTHER_HOST_SILENCE:
            where = remote[0].get("host")
            return f"on host {where}, {started}, last sign of life {silent / 60:.0f} min ago"
    for summary in summaries:
        if _run_alive(summary, mine, now):
            return (
                f"its run {summary.get('run_id')} is running as pid {summary.get('pid')} on host "
                f"{summary.get('host')}, started {_when(summary.get('started_unix'))}"
            )
    return None


def busy_message(folder: Path, stamp: Any, owner: str) -> str:
    """Say which live session holds a debug folder, and what the user can do."""
    return (
        f"--exp-debug: {folder} holds the runs of debug session {stamp}, which is still "
        f"running ({owner}); its runs are left as they are. Wait for that session to end, "
        f"or drop --exp-debug to keep this session's runs in a folder of their own under "
        f"{folder.parent}."
    )


def _mine(controller: Identity | None) -> set[int]:
    pids = {os.getpid()}
    if controller is not None and isinstance(controller.get("pid"), int):
        pids.add(controller["pid"])
    return pids


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Hold the .debug.lock of the experiment whose debug folder this is."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / LOCK, "a+") as handle:
        try:
            import fcntl
        except ImportError:  # Windows: debug folders are then per-process best effort
            yield
            return
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def claim(folder: Path, stamp: str, controller: Identity | None = None) -> None:
    """Make folder this session's debug folder, under the experiment's .debug.lock.

    Raises DebugFolderBusy, leaving the folder untouched, while its owner is alive.
    """
    with _locked(folder):
        me = process_identity()
        marker = read_marker(folder) if folder.exists() else None
        if marker is not None and marker.get("stamp") == stamp:
            known = [(p.get("pid"), p.get("host")) for p in _processes(marker)]
            if (me["pid"], me["host"]) in known:
                os.utime(folder / MARKER)  # a sign of life, for readers on other hosts
            else:
                write_marker(folder, {**marker, "processes": [*_processes(marker), me]})
            return
        if marker is not None:
            owner = live_owner(folder, marker, _mine(controller))
            if owner is not None:
                raise DebugFolderBusy(busy_message(folder, marker.get("stamp", "?"), owner))
            import shutil

            trash = folder.with_name(f".debug-old-{os.urandom(4).hex()}")
            folder.rename(trash)
            shutil.rmtree(trash, ignore_errors=True)
        folder.mkdir()
        started = _wall_time((controller or me).get("pid_start")) or time.time()
        marker = {"stamp": stamp, "host": me["host"], "started": started}
        write_marker(folder, {**marker, "controller": controller, "processes": [me]})


def release(root: Path, stamp: str) -> list[Path]:
    """Record that this session has ended in the debug folders it owns; return them.

    For the controller at the end of the session: a process that lives on (a
    notebook calling pytest.main) then no longer holds its debug folders.
    """
    from ..archive.layout import DEBUG_DIR, TESTING_DIR

    released = []
    for base in (root, root / TESTING_DIR):
        for path in sorted(base.glob(f"*/{DEBUG_DIR}/{MARKER}")):
            with _locked(path.parent):
                marker = read_marker(path.parent)
                if marker.get("stamp") == stamp and "ended" not in marker:
                    write_marker(path.parent, {**marker, "ended": time.time()})
                    released.append(path.parent)
    return released


def check_debug_folders(
    root: Path,
    experiments: Iterable[str],
    stamp: str,
    *,
    testing: bool,
    controller: Identity | None = None,
) -> None:
    """Raise DebugFolderBusy if a live session owns the debug folder of any experiment.

    Reads only (no folder is made or emptied): for a controller to refuse the
    session before any run starts. Each run's claim checks again.
    """
    from ..archive.layout import experiment_parent

    for name in sorted(set(experiments)):
        folder = experiment_parent(root, name, stamp, testing=testing, debug=True)
        if not folder.is_dir():
            continue
        marker = read_marker(folder)
        if marker.get("stamp") == stamp:
            continue
        owner = live_owner(folder, marker, _mine(controller))
        if owner is not None:
            raise DebugFolderBusy(busy_message(folder, marker.get("stamp", "?"), owner))


def check_items(items: Iterable[Any], state: Any) -> None:
    """Raise DebugFolderBusy if a live session owns the debug folder of an experiment in items."""
    from ..plan.spec import experiment_name, marker_kwargs, uses_exp

    names = [experiment_name(i, marker_kwargs(i)) for i in items if uses_exp(i)]
    settings = state.settings
    check_debug_folders(
        settings.root, names, state.stamp, testing=settings.testing, controller=state.controller
    )
