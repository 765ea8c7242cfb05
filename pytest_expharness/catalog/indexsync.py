"""Keeping the index caught up with the run folders, and rebuilding it without losing a row.

The index notes, for each session folder (<root>/<experiment>/<session>), the
mtime it had when its runs were last read. Making or removing a run folder
changes that mtime, so one listing of <root>/*/* and a stat per session tell
what is new (10,000 runs in 500 sessions: a few milliseconds); a killed
session's runs are found by the next reader. A run finishing or crashing
changes files inside its own folder only, so rows that still say `running` (or
`stale`) are judged again at every look. A session folder that changed within the last
SETTLE_NS, or holds a young folder not yet a run folder (a run starting), is
looked at again next time: mtimes tick coarsely on some filesystems.

Writing is one transaction that replaces the rows read and drops a row only
when its folder is gone at that moment, so rows another process commits while
the folders are being read survive; a folder whose config.yaml or summary.json
changed while it was read is read again inside the transaction.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..archive import layout
from .indexrows import relative, signature, signature_text

SETTLE_NS = 2_000_000_000
YOUNG_NS = 60_000_000_000
UNSETTLED = -1  # the mtime noted for a session folder to be read again next time

Signature = tuple[int, ...]


@dataclass
class Synced:
    """What a catch-up or reindex did: rows written, and the damaged folders it skipped."""

    indexed: int = 0
    damaged: list[Any] = field(default_factory=list)
    folders: int = 0  # the run folders found


def session_folders(root: Path) -> dict[str, int]:
    """Return every session folder of an archive root (`experiment/session`) with its mtime.

    Testing runs (<root>/_testing) are an archive of their own, debug runs are
    replaced each session, and hidden folders are being staged or deleted.
    """
    found: dict[str, int] = {}
    own_testing = root.name == layout.TESTING_DIR
    try:
        top = os.scandir(root)
    except OSError:
        return found
    with top:
        experiments = [
            e
            for e in top
            if not e.name.startswith(".")
            and (own_testing or e.name != layout.TESTING_DIR)
            and e.is_dir()
        ]
    for experiment in experiments:
        with contextlib.suppress(OSError), os.scandir(experiment.path) as inner:
            for entry in inner:
                if entry.name.startswith(".") or entry.name == layout.DEBUG_DIR:
                    continue
                with contextlib.suppress(OSError):
                    if entry.is_dir():
                        found[f"{experiment.name}/{entry.name}"] = entry.stat().st_mtime_ns
    return found


def runs_in(session: Path, now_ns: int) -> tuple[dict[Path, Signature], bool]:
    """Return the run folders of a session folder, and whether none is still being made."""
    found, settled = listing(os.fspath(session), now_ns)
    return {session / name: mark for name, mark in found}, settled


def listing(session: str, now_ns: int) -> tuple[list[tuple[str, Signature]], bool]:
    """Return a session folder's run folders (name, signature) sorted, and whether all are made."""
    found: list[tuple[str, Signature]] = []
    settled = True
    try:
        entries = sorted(os.scandir(session), key=lambda e: e.name)
    except OSError:
        return found, True
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            if not entry.is_dir():
                continue
            mark = signature(entry.path)
            if mark is not None:
                found.append((entry.name, mark))
            elif now_ns - entry.stat().st_mtime_ns < YOUNG_NS:
                settled = False
        except OSError:
            continue
    return found, settled


def _changed_status(folder: Path, status: str) -> bool:
    """Return whether a run whose row says `status` (running or stale) reads otherwise now."""
    from .reading import read_summary

    try:
        return bool(read_summary(folder).get("status") != status)
    except (OSError, ValueError, AttributeError):  # gone or damaged: let the reader say so
        return True


@dataclass
class _Work:
    sessions: dict[str, int]  # session folders to read, with their mtime before reading
    gone: list[str]  # session folders the index knew that are gone
    refresh: list[str]  # rows that said running (or stale) whose run reads otherwise now


def _plan(conn: sqlite3.Connection, root: Path, skip_session: str | None) -> _Work:
    known = dict(conn.execute("SELECT path, mtime_ns FROM sessions").fetchall())
    now = session_folders(root)
    changed = {
        path: mtime
        for path, mtime in now.items()
        if known.get(path) != mtime and path.rpartition("/")[2] != skip_session
    }
    gone = [path for path in known if path not in now]
    unsure = conn.execute("SELECT path, status FROM runs WHERE status IN ('running', 'stale')")
    refresh = [path for path, status in unsure.fetchall() if _changed_status(root / path, status)]
    return _Work(changed, gone, refresh)


def pending(conn: sqlite3.Connection, root: Path) -> bool:
    """Return whether the folders hold anything the index does not know yet (reads only)."""
    work = _plan(conn, root, None)
    return bool(work.sessions or work.gone or work.refresh)


def catch_up(conn: sqlite3.Connection, root: Path, skip_session: str | None = None) -> int:
    """Read in what changed since the index last looked; return how many rows were written.

    In a session folder that changed, only run folders without a row are read:
    a finished run's files change only through label, tag or a crash marking,
    which write their row themselves (and a `running` row is read again anyway).
    """
    work = _plan(conn, root, skip_session)
    if not (work.sessions or work.gone or work.refresh):
        return 0
    now_ns = time.time_ns()
    folders: dict[Path, Signature] = {}
    present: set[str] = set()
    noted: dict[str, int] = {}
    for path, mtime in work.sessions.items():
        found, settled = runs_in(root / path, now_ns)
        indexed = set(_paths_under(conn, [path]))
        for folder, mark in found.items():
            key = f"{path}/{folder.name}"
            present.add(key)
            if key not in indexed:
                folders[folder] = mark
        noted[path] = mtime if settled and now_ns - mtime >= SETTLE_NS else UNSETTLED
    for path in work.refresh:
        again = signature(root / path)
        if again is not None:
            folders[root / path] = again
            present.add(path)
    prefixes = [*work.sessions, *work.gone]
    return _write(conn, root, folders, present, noted, prefixes, work.gone).indexed


def reindex(
    conn: sqlite3.Connection, root: Path, skip_session: str | None = None, full: bool = True
) -> Synced:
    """Read the run folders again; drop only rows whose folder is gone (one transaction).

    Not full, a folder is read only when its config.yaml and summary.json are not
    those its row was read from (new, changed, or written from a record), or its
    row says running or stale: every folder is still stat'ed, none read needlessly.
    """
    now_ns = time.time_ns()
    sessions = {
        path: mtime
        for path, mtime in session_folders(root).items()
        if path.rpartition("/")[2] != skip_session
    }
    marks: dict[str, Signature] = {}  # every run folder's index key, with its signature
    noted: dict[str, int] = {}
    for path, mtime in sessions.items():
        found, settled = listing(os.path.join(root, path), now_ns)
        marks.update((f"{path}/{name}", mark) for name, mark in found)
        noted[path] = mtime if settled and now_ns - mtime >= SETTLE_NS else UNSETTLED
    present = set(marks)
    known = [p for (p,) in conn.execute("SELECT path FROM sessions").fetchall()]
    gone = [p for p in known if p not in sessions and p.rpartition("/")[2] != skip_session]
    if not full:
        seen = dict(conn.execute("SELECT path, signature FROM runs").fetchall())
        unsure = conn.execute("SELECT path FROM runs WHERE status IN ('running', 'stale')")
        again = {p for (p,) in unsure.fetchall()}
        marks = {
            key: mark
            for key, mark in marks.items()
            if key in again or seen.get(key) != signature_text(mark)
        }
    folders = {root / key: mark for key, mark in marks.items()}
    done = _write(conn, root, folders, present, noted, None, gone)
    done.folders = len(present)
    return done


def _write(
    conn: sqlite3.Connection,
    root: Path,
    folders: dict[Path, Signature],
    present: set[str],
    noted: dict[str, int],
    prefixes: list[str] | None,
    gone: list[str],
) -> Synced:
    """Write the rows of `folders` and the noted session mtimes in one transaction.

    Rows under `prefixes` (session folders; None: everywhere) whose folder is
    neither `present` nor a run folder now are dropped.
    """
    from .indexrows import rows_of, write_rows

    result = Synced()
    rows = {row["path"]: row for row in rows_of(folders, root, result.damaged)}
    conn.execute("BEGIN IMMEDIATE")
    try:
        for folder, mark in folders.items():  # changed while being read: read it again
            path = relative(folder, root)
            now = signature(folder) if path in rows else mark
            if now != mark:
                del rows[path]
                if now is not None:  # not deleted meanwhile; no run lock taken inside the write
                    again = rows_of([folder], root, result.damaged, repair=False)
                    rows.update((r["path"], r) for r in again)
        result.indexed = write_rows(conn, rows.values())
        stale = [
            path
            for path in _paths_under(conn, prefixes)
            if path not in present and signature(root / path) is None
        ]
        conn.executemany("DELETE FROM runs WHERE path = ?", [(p,) for p in stale])
        conn.executemany("INSERT OR REPLACE INTO sessions VALUES (?, ?)", list(noted.items()))
        conn.executemany("DELETE FROM sessions WHERE path = ?", [(p,) for p in gone])
        conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise
    return result


def _paths_under(conn: sqlite3.Connection, prefixes: list[str] | None) -> list[str]:
    if prefixes is None:
        return [p for (p,) in conn.execute("SELECT path FROM runs").fetchall()]
    found: list[str] = []
    for prefix in prefixes:  # '/' + 1 is '0': the range of paths inside one session folder
        found += [
            p
            for (p,) in conn.execute(
                "SELECT path FROM runs WHERE path > ? AND path < ?", (prefix + "/", prefix + "0")
            )
        ]
    return found


def record_sessions(conn: sqlite3.Connection, root: Path, records: list[dict[str, Any]]) -> None:
    """Note the session folders a session's records fill, inside the caller's transaction.

    A session folder is noted as seen only when every run folder in it has a
    record; otherwise the next look reads it.
    """
    by_text: dict[str, set[str]] = {}
    for record in records:
        if record.get("path"):  # a record's paths are str(Path): normalised already
            by_text.setdefault(record["sweep"], set()).add(os.path.basename(record["path"]))
    covered = {Path(sweep): names for sweep, names in by_text.items()}
    now_ns = time.time_ns()
    for sweep, names in covered.items():
        try:
            relative = sweep.relative_to(root).as_posix()
            mtime = sweep.stat().st_mtime_ns
        except (ValueError, OSError):
            continue
        found, settled = runs_in(sweep, now_ns)
        complete = settled and {f.name for f in found} <= names
        conn.execute(
            "INSERT OR REPLACE INTO sessions VALUES (?, ?)",
            (relative, mtime if complete else UNSETTLED),
        )
