"""Run-folder hygiene: `expharness gc` picks runs by status and age and deletes them.

Candidates come from the index; each one is checked against its folder
before it goes (the folder is the truth): runs labelled keep or baseline,
runs still running and the newest `keep_last` runs of each experiment are
never deleted. A folder is first renamed to a hidden name and then removed,
so a crash halfway leaves either the whole run or a `.gc-*` leftover that
the next gc clears, never a run that looks whole but is not.
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

from . import archive

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
        if not archive.is_run_folder(folder):
            result.stale.append(row["path"])
            continue
        try:  # fresh status and label, crashes inferred but not written (a dry run writes nothing)
            record = record_from_folder(folder, repair=False)
        except (OSError, ValueError) as error:
            result.spared.append((row, f"unreadable ({error})"))
            continue
        row = {**row, "status": record["status"], "label": record.get("label")}
        if statuses and row["status"] not in statuses:
            continue
        rank = seen[row["experiment"]] = seen.get(row["experiment"], 0) + 1
        started = record.get("started_unix") or row.get("started_unix") or now
        if older_than is not None and now - float(started) < older_than:
            continue
        maybe_alive = _maybe_alive(folder, now)
        if row["label"] in PROTECTED:
            result.spared.append((row, f"labelled {row['label']}"))
        elif row["status"] == "running" or maybe_alive:
            result.spared.append((row, maybe_alive or "still running"))
        elif rank <= keep_last:
            result.spared.append((row, f"among the {keep_last} newest of {row['experiment']}"))
        else:
            result.delete.append(row)
    return result


REMOTE_GRACE_S = 15 * 60


def _maybe_alive(folder: Path, now: float) -> str | None:
    """Why a run inferred crashed may still be alive: a process on another host whose
    heartbeat is only minutes old (a long GIL-holding call, a lagging shared filesystem)."""
    import json
    import socket

    try:
        raw = json.loads((folder / archive.SUMMARY).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    beat = raw.get("heartbeat")
    if raw.get("status") != "running" or raw.get("host") == socket.gethostname():
        return None
    if isinstance(beat, (int, float)) and now - beat < REMOTE_GRACE_S:
        return f"may still be running on {raw.get('host')} (heartbeat {now - beat:.0f} s ago)"
    return None


def folder_size(folder: Path) -> int:
    """Return the bytes of every file under a folder."""
    total = 0
    for base, _, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(base, name)).st_size
    return total


def delete_run(folder: Path) -> None:
    """Remove a run folder: hide it with one rename, then delete it; prune empty parents."""
    hidden = folder.with_name(f".gc-{folder.name}-{os.urandom(3).hex()}")
    os.rename(folder, hidden)
    shutil.rmtree(hidden)
    for parent in (folder.parent, folder.parent.parent):
        try:
            parent.rmdir()  # only when empty: a session keeps its comparison tables
        except OSError:
            break


def clear_leftovers(root: Path) -> int:
    """Remove `.gc-*` folders an interrupted gc left; return how many."""
    count = 0
    for hidden in root.glob("*/*/.gc-*"):
        shutil.rmtree(hidden, ignore_errors=True)
        count += 1
    return count
