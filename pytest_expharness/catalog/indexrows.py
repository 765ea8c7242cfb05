"""The rows of index.sqlite: a run record as a row, and writing rows (index.py opens the file)."""

from __future__ import annotations

import json
import math
import os
import sqlite3
import stat
import warnings
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from _pytest.warning_types import PytestWarning  # pytest.PytestWarning, light for the CLI

from ..archive.layout import CONFIG, SUMMARY

SCHEMA_VERSION = "3"  # 2: attempt (pytest-rerunfailures); 3: the vals table, signature


COLUMNS = (
    "path", "run_id", "experiment", "session", "node_id", "status", "label", "tags", "params",
    "metrics", "results", "git_commit", "git_dirty", "started", "started_unix", "duration",
    "testing", "attempt", "signature",
)  # fmt: skip
_VALUED = ("tags", "params", "metrics", "results")  # the columns vals rows are made from
# the sources of vals rows, in the order a filter's NAME looks them up, and the runs' tags
PARAMS, METRICS, RESULTS, TAGS = 0, 1, 2, 3
SOURCES = {"params": PARAMS, "metrics": METRICS, "results": RESULTS}
# what a vals row holds: its `val` is the number or the text, NULL for the others
NULL, NUMBER, TEXT, NAN, OTHER = 0, 1, 2, 3, 4
_INT64 = 2**63


class IndexWarning(PytestWarning):
    """The index had to be rebuilt, or a run folder could not be indexed."""


def relative(folder: Path, root: Path) -> str:
    """Return a run folder's index key: its path under root (absolute when outside it)."""
    inside, base = os.fspath(folder), os.fspath(root) + os.sep  # both normalised by Path
    if inside.startswith(base) and isinstance(folder, Path) and isinstance(root, Path):
        return inside[len(base) :].replace(os.sep, "/")  # the usual case, cheaply
    try:
        return folder.relative_to(root).as_posix()  # without a stat
    except ValueError:
        try:
            return folder.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            return str(folder.resolve())


def signature(folder: str | Path) -> tuple[int, ...] | None:
    """Return what identifies the current config.yaml and summary.json, or None if not a run."""
    where = os.fspath(folder) + os.sep
    try:
        config = os.stat(where + CONFIG)
        summary = os.stat(where + SUMMARY)
    except OSError:
        return None
    if not (stat.S_ISREG(config.st_mode) and stat.S_ISREG(summary.st_mode)):
        return None
    return (
        *(config.st_mtime_ns, config.st_ino, config.st_size),
        *(summary.st_mtime_ns, summary.st_ino, summary.st_size),
    )


def signature_text(mark: tuple[int, ...] | None) -> str | None:
    """The signature as the index keeps it (None: read the folder again at the next reindex)."""
    return None if mark is None else ("%d," * len(mark))[:-1] % mark


_encode = json.JSONEncoder(default=repr).encode  # json.dumps(value, default=repr), made once


@lru_cache(maxsize=64)
def _sweep_key(sweep: str, root: Path) -> str:
    return relative(Path(sweep), root)


def _key(record: dict[str, Any], root: Path) -> str:
    """relative() of a record's path, its sweep's part found once (records hold str(Path))."""
    path, sweep = record["path"], record.get("sweep")
    head, name = os.path.split(path)
    if head == sweep and name:
        return f"{_sweep_key(sweep, root)}/{name}"
    return relative(Path(path), root)


def row_of(record: dict[str, Any], root: Path) -> dict[str, Any]:
    """Return the index row of a run record (see records.make_record)."""
    return {
        "path": _key(record, root),
        "run_id": record.get("run_id"),
        "experiment": record.get("experiment"),
        "session": record.get("session"),
        "node_id": record.get("node_id"),
        "status": record.get("status"),
        "label": record.get("label"),
        "tags": _encode(record.get("tags") or []),
        "params": _encode(record.get("params") or {}),
        "metrics": _encode(record.get("metrics") or {}),
        "results": _encode(record.get("all_results") or {}),
        "git_commit": record.get("git_commit"),
        "git_dirty": record.get("git_dirty"),
        "started": record.get("started"),
        "started_unix": record.get("started_unix"),
        "duration": record.get("duration"),
        "testing": bool(record.get("testing")),
        "attempt": record.get("attempt", 1),
        "signature": None,  # not seen by the index's own reading: reindex reads it again
    }


def encoded(value: Any) -> tuple[int, Any]:
    """Return the kind and the SQL value of one parameter, metric or result (see compare_sql)."""
    if value is None:
        return NULL, None
    if isinstance(value, (bool, int)):
        if -_INT64 <= value < _INT64:
            return NUMBER, int(value)
        try:  # beyond int64 SQLite holds a float: compared approximately
            return NUMBER, float(value)
        except OverflowError:  # beyond a float too (over 308 digits): never compared in SQL
            return OTHER, None
    if isinstance(value, float):
        return (NAN, None) if math.isnan(value) else (NUMBER, value)
    if isinstance(value, str) and _encodable(value):
        return TEXT, value
    return OTHER, None  # a list, a mapping, a string SQLite cannot hold: never compared in SQL


def _encodable(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return False
    return True


def vals_of(path: str, row: dict[str, Any]) -> list[tuple[str, int, str, int, Any]]:
    """Return the vals rows of an index row: one per parameter, final metric, result and tag."""
    found = []
    for column, source in SOURCES.items():
        for key, value in json.loads(row[column]).items():
            if _encodable(key):
                found.append((path, source, key, *encoded(value)))
    for tag in json.loads(row["tags"]):
        if isinstance(tag, str) and _encodable(tag):
            found.append((path, TAGS, tag, NULL, None))
    return found


def sql_comparable(value: Any) -> bool:
    """Return whether a filter's value is compared in SQL (else in Python, as it always was)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return -_INT64 <= value < _INT64  # a bigger one is compared exactly, in Python
    return (
        value is None
        or isinstance(value, (bool, float))
        or (isinstance(value, str) and _encodable(value))
    )


def compare_sql(op: str, value: Any) -> tuple[str, tuple[Any, ...]]:
    """Return the condition on a vals row (`kind`, `val`) that Python's `found <op> value` is.

    Numbers (bools among them) compare with numbers, text with text; other pairs
    are unequal and unordered (Python's TypeError), NaN equals nothing.
    """
    if op == "==":
        op = "="
    kind, sql_value = encoded(value)
    if kind in (NULL, NAN):
        if op == "!=":
            return ("kind <> 0", ()) if kind == NULL else ("1", ())
        return ("kind = 0", ()) if kind == NULL and op == "=" else ("0", ())
    if op == "!=":
        return "NOT (kind = ? AND val = ?)", (kind, sql_value)
    if op not in _ORDERS:
        raise ValueError(f"unknown comparison {op!r}; known: =, !=, {', '.join(_ORDERS)}")
    return f"kind = ? AND val {op} ?", (kind, sql_value)


_ORDERS = ("=", "<", "<=", ">", ">=")  # the only texts put into SQL (values are bound)


def count_matches(
    conn: sqlite3.Connection, where_sql: str, args: list[Any], tests: list[Any] | None
) -> int:
    """Count the matches; from the vals index alone when only plain filters select."""
    if tests and all(len(candidates) == 1 for candidates, *_ in tests):
        parts, values = [], []
        for ((source, key),), op, value in tests:
            compared, more = compare_sql(op, value)
            parts.append(f"SELECT path FROM vals WHERE source = ? AND key = ? AND {compared}")
            values += [source, key, *more]
        inner = " INTERSECT ".join(parts)
        return int(conn.execute(f"SELECT COUNT(*) FROM ({inner})", values).fetchone()[0])
    return int(conn.execute(f"SELECT COUNT(*) FROM runs r {where_sql}", args).fetchone()[0])


def condition_sql(
    candidates: Sequence[tuple[int, str]], op: str, value: Any, correlated: bool = False
) -> tuple[str, list[Any]]:
    """Return the SQL of one filter on a run `r`: its first candidate held compares true.

    Correlated, each run is looked up (quick to find the newest of many matches);
    else the matches are gathered from the vals index (quick when they are few).
    """
    compared, more = compare_sql(op, value)
    parts, args = [], []
    for i, (source, key) in enumerate(candidates):
        if correlated:
            part = "EXISTS (SELECT 1 FROM vals v WHERE v.path = r.path AND v.source = ? "
            part += f"AND v.key = ? AND {compared})"
        else:
            part = f"r.path IN (SELECT path FROM vals WHERE source = ? AND key = ? AND {compared})"
        args += [source, key, *more]
        if i:  # held only when no earlier candidate is
            earlier = " OR ".join(["(e.source = ? AND e.key = ?)"] * i)
            part += f" AND NOT EXISTS (SELECT 1 FROM vals e WHERE e.path = r.path AND ({earlier}))"
            args += [x for pair in candidates[:i] for x in pair]
        parts.append(f"({part})")
    return ("(" + " OR ".join(parts) + ")" if parts else "0"), args


def write_rows(conn: sqlite3.Connection, rows: Iterable[dict[str, Any]]) -> int:
    """Insert or replace rows and their vals, inside a transaction the caller holds."""
    found = list(rows)
    values = [tuple(row[c] for c in COLUMNS) for row in found]
    marks = ", ".join("?" * len(COLUMNS))
    held = _held(conn, [row["path"] for row in found])
    changed = [  # a row whose values are those it had keeps its vals rows (a reindex, mostly)
        row for row in found if held.get(row["path"]) != tuple(row[c] for c in _VALUED)
    ]
    conn.executemany("DELETE FROM vals WHERE path = ?", [(row["path"],) for row in changed])
    conn.executemany(f"INSERT OR REPLACE INTO runs ({', '.join(COLUMNS)}) VALUES ({marks})", values)
    conn.executemany(
        "INSERT OR REPLACE INTO vals VALUES (?, ?, ?, ?, ?)",
        [val for row in changed for val in vals_of(row["path"], row)],
    )
    conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
    return len(values)


HELD_BATCH = 500  # paths a query asks for (SQLite allows 32,766 variables; old builds 999)


def _held(conn: sqlite3.Connection, paths: list[str]) -> dict[str, tuple[Any, ...]]:
    """The valued columns the index holds for some paths, a batch of them a query."""
    found: dict[str, tuple[Any, ...]] = {}
    for start in range(0, len(paths), HELD_BATCH):
        batch = paths[start : start + HELD_BATCH]
        marks = ", ".join("?" * len(batch))
        query = f"SELECT path, {', '.join(_VALUED)} FROM runs WHERE path IN ({marks})"
        for path, *values in conn.execute(query, batch):
            found[path] = tuple(values)
    return found


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
    crash found is written down (reading.read_run). `folders` may map each folder
    to its signature taken before (indexsync.runs_in), which is then not taken again.
    """
    from ..archive.layout import is_run_folder
    from .damage import DamagedRun, record_of

    rows = []
    marks = folders if isinstance(folders, Mapping) else {}
    for folder in folders:
        mark = marks.get(folder) or signature(folder)  # before reading: a change is read again
        try:
            row = row_of(record_of(folder, repair), root)
            row["signature"] = signature_text(mark)
            rows.append(row)
        except DamagedRun as damage:
            if is_run_folder(folder):  # not merely deleted since it was listed
                _skip(damage, damaged)
        except (
            ValueError,
            TypeError,
            RecursionError,
            OverflowError,
        ) as error:  # e.g. a value holding itself
            _skip(DamagedRun(folder, f"cannot be indexed ({error})"), damaged)
    return rows


def _skip(damage: Any, damaged: list[Any] | None) -> None:
    warnings.warn(f"{damage.path}: {damage.why}; run not indexed", IndexWarning, stacklevel=3)
    if damaged is not None:
        damaged.append(damage)
