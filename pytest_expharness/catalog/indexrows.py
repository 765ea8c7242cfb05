"""The rows of index.sqlite: a run record as a row, and writing rows (index.py opens the file)."""

from __future__ import annotations

import json
import sqlite3
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from _pytest.warning_types import PytestWarning  # pytest.PytestWarning, light for the CLI

SCHEMA_VERSION = "2"  # 2: attempt (pytest-rerunfailures)


COLUMNS = (
    "path", "run_id", "experiment", "session", "node_id", "status", "label", "tags", "params",
    "metrics", "results", "git_commit", "git_dirty", "started", "started_unix", "duration",
    "testing", "attempt",
)  # fmt: skip


class IndexWarning(PytestWarning):
    """The index had to be rebuilt, or a run folder could not be indexed."""


def relative(folder: Path, root: Path) -> str:
    """Return a run folder's index key: its path under root (absolute when outside it)."""
    try:
        return folder.relative_to(root).as_posix()  # the usual case, without a stat
    except ValueError:
        try:
            return folder.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            return str(folder.resolve())


def row_of(record: dict[str, Any], root: Path) -> dict[str, Any]:
    """Return the index row of a run record (see records.make_record)."""
    return {
        "path": relative(Path(record["path"]), root),
        "run_id": record.get("run_id"),
        "experiment": record.get("experiment"),
        "session": record.get("session"),
        "node_id": record.get("node_id"),
        "status": record.get("status"),
        "label": record.get("label"),
        "tags": json.dumps(record.get("tags") or [], default=repr),
        "params": json.dumps(record.get("params") or {}, default=repr),
        "metrics": json.dumps(record.get("metrics") or {}, default=repr),
        "results": json.dumps(record.get("all_results") or {}, default=repr),
        "git_commit": record.get("git_commit"),
        "git_dirty": record.get("git_dirty"),
        "started": record.get("started"),
        "started_unix": record.get("started_unix"),
        "duration": record.get("duration"),
        "testing": bool(record.get("testing")),
        "attempt": record.get("attempt", 1),
    }


def write_rows(conn: sqlite3.Connection, rows: Iterable[dict[str, Any]]) -> int:
    """Insert or replace rows, inside a transaction the caller holds; return how many."""
    values = [tuple(row[c] for c in COLUMNS) for row in rows]
    marks = ", ".join("?" * len(COLUMNS))
    conn.executemany(f"INSERT OR REPLACE INTO runs ({', '.join(COLUMNS)}) VALUES ({marks})", values)
    conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
    return len(values)


def upsert(
    conn: sqlite3.Connection, rows: Iterable[dict[str, Any]], replace_all: bool = False
) -> int:
    """Write rows in one transaction (emptying the table first with replace_all)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        if replace_all:
            conn.execute("DELETE FROM runs")
        count = write_rows(conn, rows)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return count


def rows_of(
    folders: Iterable[Path], root: Path, damaged: list[Any] | None = None, repair: bool = True
) -> list[dict[str, Any]]:
    """Return the rows of run folders, skipping a damaged one with one warning naming its file.

    What was skipped is appended to `damaged` (damage.DamagedRun). With repair, a
    crash found is written down (reading.read_run).
    """
    from ..archive.layout import is_run_folder
    from .damage import DamagedRun, record_of

    rows = []
    for folder in folders:
        try:
            rows.append(row_of(record_of(folder, repair), root))
        except DamagedRun as damage:
            if is_run_folder(folder):  # not merely deleted since it was listed
                _skip(damage, damaged)
        except (ValueError, TypeError, RecursionError) as error:  # e.g. a value holding itself
            _skip(DamagedRun(folder, f"cannot be indexed ({error})"), damaged)
    return rows


def _skip(damage: Any, damaged: list[Any] | None) -> None:
    warnings.warn(f"{damage.path}: {damage.why}; run not indexed", IndexWarning, stacklevel=3)
    if damaged is not None:
        damaged.append(damage)
