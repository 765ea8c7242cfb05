"""The archive read without writing a byte: an index built in memory, folders read as they are.

`expharness serve` must not write (not even the index's catching up, nor a
dead run's crash marking), so it never opens index.sqlite for writing: each
look builds an index in memory from the run folders with repair off.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..archive import layout
from ..catalog.loading import Archive


@dataclass
class Look:
    """One look at the archive: its rows (as the index holds them) and its damaged folders."""

    conn: sqlite3.Connection
    root: Path
    damaged: list[Any] = field(default_factory=list)  # damage.DamagedRun, one per folder


def look(root: Path) -> Look:
    """Read every run folder into an index in memory (nothing written, nothing repaired)."""
    import warnings

    from ..catalog.index import SCHEMA
    from ..catalog.indexrows import IndexWarning, rows_of, write_rows

    conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    conn.executescript(SCHEMA)
    found = Look(conn, root)
    with warnings.catch_warnings():  # a damaged folder is shown as a row, not warned about
        warnings.simplefilter("ignore", IndexWarning)
        rows = rows_of(layout.iter_run_folders(root), root, found.damaged, repair=False)
    conn.execute("BEGIN")
    write_rows(conn, rows)
    conn.execute("COMMIT")
    return found


class ReadOnlyArchive(Archive):
    """catalog's Archive answering from one Look instead of index.sqlite."""

    def __init__(self, root: Path, seen: Look) -> None:
        super().__init__(root)
        self._seen = seen

    @contextlib.contextmanager
    def reading(self) -> Iterator[Archive]:
        """Answer every question inside from the look, which stays open."""
        self._conn = self._seen.conn
        try:
            yield self
        finally:
            self._conn = None

    def _ask(self, questions: Any) -> Any:
        return questions(self._seen.conn)


def rows(root: Path, seen: Look) -> list[dict[str, Any]]:
    """Every run's row, newest first."""
    return ReadOnlyArchive(root, seen).runs().rows


@dataclass
class Session:
    """What the front page says of one session of one experiment."""

    experiment: str
    stamp: str
    runs: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    started: float = 0.0
    report: bool = False


def sessions(root: Path, found: list[dict[str, Any]]) -> list[Session]:
    """The sessions of the rows, newest first, with whether their report.html exists."""
    by_key: dict[tuple[str, str], Session] = {}
    for row in found:
        key = (str(row["experiment"]), str(row["session"]))
        one = by_key.setdefault(key, Session(*key))
        one.runs += 1
        one.statuses[row["status"]] = one.statuses.get(row["status"], 0) + 1
        one.started = max(one.started, row.get("started_unix") or 0.0)
    for one in by_key.values():
        one.report = (root / one.experiment / one.stamp / "report.html").is_file()
    return sorted(by_key.values(), key=lambda s: (s.stamp, s.experiment), reverse=True)
