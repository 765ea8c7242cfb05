"""Run-folder hygiene: `expharness gc` picks runs by status and age and deletes them.

Candidates come from the index; each one is checked against its folder
before it goes (the folder is the truth), and checked again under the run's
lock right before it goes, since a `label keep` may come in between. Never
deleted: runs labelled keep or baseline, the newest `keep_last` runs of each
experiment, and any run that may be alive: its process is alive on this host,
or its summary still says running and its heartbeat is younger than
GRACE_S, on any host (a stopped process or a lagging shared filesystem beats
no more; an hour is long enough to tell). `--status crashed` takes stale runs
too (dead by every sign but unprovable from here), once that hour is over.
A folder is first renamed to a hidden name and then removed, so a crash
halfway leaves either the whole run or a `.gc-*` leftover that the next gc
clears, never a run that looks whole but is not.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..archive import layout

PROTECTED = ("keep", "baseline")
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class CleanupError(Exception):
    """A gc request that cannot be carried out as written."""


def parse_age(text: str) -> float:
    """Read an age such as 30d, 12h, 90m, 2w or 45s; return seconds."""
    match = _AGE.match(text)
    if match is None:
        raise CleanupError(
            f"--older-than {text!r}: give a number and a unit, s m h d or w (for example 30d)"
        )
    return float(match.group(1)) * _SECONDS[match.group(2)]


@dataclass
class Plan:
    """Runs that a gc deletes, and those it spares with the reason."""

    delete: list[dict[str, Any]] = field(default_factory=list)
    spared: list[tuple[dict[str, Any], str]] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)  # index rows whose folder is gone


def plan(
    rows: list[dict[str, Any]],
    root: Path,
    statuses: list[str],
    older_than: float | None,
    keep_last: int,
    now: float | None = None,
) -> Plan:
    """Decide which runs go. `rows` are index rows, newest first.

    `keep_last` spares the N newest runs of each experiment among those with a
    chosen status (all runs without --status), however old they are.
    """
    if not statuses and older_than is None:
        raise CleanupError("gc needs --status or --older-than (it never deletes everything)")
    if keep_last < 0:
        raise CleanupError(f"--keep-last {keep_last}: give 0 or more")
    from .records import record_from_folder

    now = time.time() if now is None else now
    result = Plan()
    seen: dict[str, int] = {}
    for row in rows:
        folder = root / row["path"]
        if not layout.is_run_folder(folder):
            result.stale.append(row["path"])
            continue
        try:  # fresh status and label, crashes inferred but not written (a dry run writes nothing)
            record = record_from_folder(folder, repair=False)
            why = spared_because(folder, now)
        except (OSError, ValueError) as error:
            result.spared.append((row, f"unreadable ({error})"))
            continue
        row = {**row, "status": record["status"], "label": record.get("label")}
        if statuses and not _chosen(row["status"], statuses):
            continue
        rank = seen[row["experiment"]] = seen.get(row["experiment"], 0) + 1
        started = record.get("started_unix") or row.get("started_unix") or now
        if older_than is not None and now - float(started) < older_than:
            continue
        if why is not None:
            result.spared.append((row, why))
        elif rank <= keep_last:
            result.spared.append((row, f"among the {keep_last} newest of {row['experiment']}"))
        else:
            result.delete.append(row)
    return result


GRACE_S = 3600.0


def _chosen(status: str, statuses: list[str]) -> bool:
    return status in statuses or (status == "stale" and "crashed" in statuses)


def spared_because(folder: Path, now: float | None = None) -> str | None:
    """Say why gc must leave a run folder alone (a label, a process that may be alive), or None."""
    import json
    import socket

    from ..archive.yamltext import load
    from .reading import ALIVE, RUNNING, heartbeat_age, liveness

    if not layout.is_run_folder(folder):
        return "no longer a run folder"
    header = (load((folder / layout.CONFIG).read_text("utf-8")) or {}).get("experiment")
    label = header.get("label") if isinstance(header, dict) else None
    if label in PROTECTED:
        return f"labelled {label}"
    summary = json.loads((folder / layout.SUMMARY).read_text("utf-8"))
    if summary.get("status") != "running":
        return None
    now = time.time() if now is None else now
    verdict = liveness(summary, now)
    if verdict.state == ALIVE:
        return f"still running (process {summary.get('pid')} is alive on this host)"
    age, host = heartbeat_age(summary, now), summary.get("host")
    if age is not None and age < GRACE_S:
        if host != socket.gethostname():
            return f"may still be running on {host} (heartbeat {age:.0f} s ago)"
        return f"its heartbeat is {age:.0f} s old (gc waits an hour after the last one)"
    if verdict.state == RUNNING:
        return "still running (no heartbeat to tell otherwise)"
    return None


def folder_size(folder: Path) -> int:
    """Return the bytes of every file under a folder."""
    total = 0
    for base, _, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(base, name)).st_size
    return total


def delete_run(folder: Path, now: float | None = None) -> str | None:
    """Remove a run folder unless it must be spared now; return why it was spared, or None.

    Under the run's lock (so no label or tag lands in a folder on its way out)
    the run is checked again, hidden with one rename and deleted; empty
    parents are pruned after.
    """
    from ..archive.locks import LockTimeout, run_lock

    try:
        with run_lock(folder):
            try:
                why = spared_because(folder, now)
            except (OSError, ValueError) as error:
                why = f"unreadable ({error})"
            if why is not None:
                return why
            hidden = folder.with_name(f".gc-{folder.name}-{os.urandom(3).hex()}")
            os.rename(folder, hidden)
            shutil.rmtree(hidden)
    except LockTimeout as error:
        return str(error)
    except FileNotFoundError:
        return "no longer there"
    with contextlib.suppress(OSError):  # the session's plan alone does not keep it
        if [p.name for p in folder.parent.iterdir()] == [layout.PLANNED]:
            (folder.parent / layout.PLANNED).unlink()
    for parent in (folder.parent, folder.parent.parent):
        try:
            parent.rmdir()  # only when empty: a session keeps its comparison tables
        except OSError:
            break
    return None


def clear_leftovers(root: Path) -> int:
    """Remove `.gc-*` folders an interrupted gc left; return how many."""
    count = 0
    for hidden in root.glob("*/*/.gc-*"):
        shutil.rmtree(hidden, ignore_errors=True)
        count += 1
    return count
