"""The embedded index: `<root>/index.sqlite`, one row per run, rebuilt from the folders.

The run folders are the truth; the index is a cache that makes finding runs
fast. Only the controller (or the lone process without xdist) writes it, in
one transaction per session. SQLite in WAL mode with a busy timeout lets two
sessions on the same root write without losing rows. A missing or corrupt
index is rebuilt from the folders, with a warning.
"""

from __future__ import annotations

import json
import sqlite3
import time
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from . import archive

FILE = "index.sqlite"
BUSY_TIMEOUT_S = 60.0
SCHEMA_VERSION = "1"
COLUMNS = (
    "path", "run_id", "experiment", "session", "node_id", "status", "label", "tags", "params",
    "metrics", "results", "git_commit", "git_dirty", "started", "started_unix", "duration",
    "testing",
)  # fmt: skip
SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    path TEXT PRIMARY KEY, run_id TEXT, experiment TEXT, session TEXT, node_id TEXT,
    status TEXT, label TEXT, tags TEXT, params TEXT, metrics TEXT, results TEXT,
    git_commit TEXT, git_dirty INTEGER, started TEXT, started_unix REAL, duration REAL,
    testing INTEGER
);
CREATE INDEX IF NOT EXISTS runs_by_experiment ON runs (experiment, started_unix);
CREATE INDEX IF NOT EXISTS runs_by_start ON runs (started_unix);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""


class IndexWarning(UserWarning):
    """The index had to be rebuilt from the run folders."""


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
    return conn


def open_index(root: Path, session: str | None = None, repair: bool = True) -> sqlite3.Connection:
    """Open the index of an archive root, rebuilding it first if it is missing or corrupt.

    Rebuilding says so with a warning, unless the index was simply not there yet
    and every run found belongs to `session` (a new root, indexed by its first session).
    """
    path = root / FILE
    root.mkdir(parents=True, exist_ok=True)
    problem = None if path.exists() else "missing"
    conn: sqlite3.Connection | None = None
    try:
        conn = _connect(path)
        conn.executescript(SCHEMA)
        version = conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        if version is None:
            problem = problem or "empty"
        elif version[0] != SCHEMA_VERSION:
            raise sqlite3.DatabaseError(f"schema {version[0]}, expected {SCHEMA_VERSION}")
    except sqlite3.DatabaseError as error:
        if conn is not None:
            conn.close()
        broken = path.with_name(f"{FILE}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        path.replace(broken)
        for extra in ("-wal", "-shm"):
            path.with_name(FILE + extra).unlink(missing_ok=True)
        problem = f"unreadable ({error}); moved to {broken.name}"
        conn = _connect(path)
        conn.executescript(SCHEMA)
    if problem is not None and repair:
        # this session's runs come from its records; reading them back would double the work
        count = rebuild(conn, root, skip_session=session)
        if count or problem not in ("missing", "empty"):
            warnings.warn(
                f"{path} was {problem}; rebuilt from {count} run folders", IndexWarning, 2
            )
    return conn


def row_of(record: dict[str, Any], root: Path) -> dict[str, Any]:
    """Return the index row of a run record (see records.make_record)."""
    folder = Path(record["path"])
    try:
        relative = folder.relative_to(root).as_posix()  # the usual case, without a stat
    except ValueError:
        try:
            relative = folder.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            relative = str(folder.resolve())
    return {
        "path": relative,
        "run_id": record.get("run_id"),
        "experiment": record.get("experiment"),
        "session": record.get("session"),
        "node_id": record.get("node_id"),
        "status": record.get("status"),
        "label": record.get("label"),
        "tags": json.dumps(record.get("tags") or []),
        "params": json.dumps(record.get("params") or {}, default=repr),
        "metrics": json.dumps(record.get("metrics") or {}),
        "results": json.dumps(record.get("all_results") or {}),
        "git_commit": record.get("git_commit"),
        "git_dirty": record.get("git_dirty"),
        "started": record.get("started"),
        "started_unix": record.get("started_unix"),
        "duration": record.get("duration"),
        "testing": bool(record.get("testing")),
    }


def upsert(
    conn: sqlite3.Connection, rows: Iterable[dict[str, Any]], replace_all: bool = False
) -> int:
    """Write rows in one transaction (emptying the table first with replace_all)."""
    values = [tuple(row[c] for c in COLUMNS) for row in rows]
    marks = ", ".join("?" * len(COLUMNS))
    conn.execute("BEGIN IMMEDIATE")
    try:
        if replace_all:
            conn.execute("DELETE FROM runs")
        conn.executemany(
            f"INSERT OR REPLACE INTO runs ({', '.join(COLUMNS)}) VALUES ({marks})", values
        )
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return len(values)


def rows_of(folders: Iterable[Path], root: Path) -> list[dict[str, Any]]:
    """Return the rows of run folders, skipping (and saying) any that cannot be read."""
    from .records import record_from_folder

    rows = []
    for folder in folders:
        try:
            rows.append(row_of(record_from_folder(folder), root))
        except (OSError, ValueError) as error:
            warnings.warn(f"{folder}: not indexed ({error})", IndexWarning, stacklevel=2)
    return rows


def rebuild(conn: sqlite3.Connection, root: Path, skip_session: str | None = None) -> int:
    """Replace every row with what the run folders say (but one session's); return how many."""
    folders = [f for f in archive.iter_run_folders(root) if f.parent.name != skip_session]
    return upsert(conn, rows_of(folders, root), replace_all=True)


def index_records(root: Path, records: Iterable[dict[str, Any]], session: str) -> int:
    """Record a session's runs in the index of their root (one transaction)."""
    conn = open_index(root, session)
    try:
        return upsert(conn, [row_of(record, root) for record in records])
    finally:
        conn.close()
