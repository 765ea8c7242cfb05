"""The embedded index: `<root>/index.sqlite`, one row per run, a cache of the run folders.

The run folders are the truth; the index makes finding runs fast, and must
never lose a run nor hide one. The controller (or the lone process without
xdist) writes its session's rows in one transaction; label, tag and import
write the rows of the folders they touched; every opening first catches up
with the folders (indexsync.py), so the runs of a killed session, or of a
session still going, are found without a reindex. SQLite in WAL mode with a
busy timeout lets several writers share a root without losing rows.

What counts as a broken index is narrow: the file is moved aside and rebuilt
only when SQLite itself says it is corrupt (or of another schema). A full disk,
a read-only archive or a file that cannot be opened is no corruption: writers
get IndexUnavailable, one line naming the file, and readers (`read_index`,
`query`) answer all the same, from a read-only connection or from a copy in
memory brought up to date with the folders.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import time
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from .indexrows import SCHEMA_VERSION, IndexWarning, row_of, write_rows

FILE = "index.sqlite"
BUSY_TIMEOUT_S = 60.0
SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    path TEXT PRIMARY KEY, run_id TEXT, experiment TEXT, session TEXT, node_id TEXT,
    status TEXT, label TEXT, tags TEXT, params TEXT, metrics TEXT, results TEXT,
    git_commit TEXT, git_dirty INTEGER, started TEXT, started_unix REAL, duration REAL,
    testing INTEGER, attempt INTEGER, signature TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_experiment ON runs (experiment, started_unix);
CREATE INDEX IF NOT EXISTS runs_by_start ON runs (started_unix);
CREATE INDEX IF NOT EXISTS runs_by_status ON runs (status);
CREATE TABLE IF NOT EXISTS vals (
    path TEXT NOT NULL, source INTEGER NOT NULL, key TEXT NOT NULL, kind INTEGER NOT NULL, val,
    PRIMARY KEY (path, source, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS vals_by_value ON vals (source, key, kind, val);
CREATE TRIGGER IF NOT EXISTS runs_drop_vals AFTER DELETE ON runs
    BEGIN DELETE FROM vals WHERE path = old.path; END;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS sessions (path TEXT PRIMARY KEY, mtime_ns INTEGER);
"""
T = TypeVar("T")
_CORRUPT_CODES = (11, 26)  # SQLITE_CORRUPT, SQLITE_NOTADB


class IndexUnavailable(OSError):
    """The index cannot be written here (full disk, read-only archive, unopenable file)."""

    def __str__(self) -> str:
        return str(self.strerror)


class _OtherSchema(sqlite3.DatabaseError):
    pass


def is_corrupt(error: BaseException) -> bool:
    """Return whether SQLite says the file is damaged or no database (not merely unwritable)."""
    if isinstance(error, _OtherSchema):
        return True
    if not isinstance(error, sqlite3.DatabaseError):
        return False
    code = getattr(error, "sqlite_errorcode", None)
    if isinstance(code, int) and code & 0xFF in _CORRUPT_CODES:
        return True
    text = str(error).lower()
    return "malformed" in text or "not a database" in text


def _unavailable(path: Path, error: BaseException) -> IndexUnavailable:
    """Say in one line why the index at path cannot be written."""
    number = getattr(error, "errno", None)
    text = str(error).lower()
    try:
        full = os.statvfs(path.parent).f_bavail == 0
    except OSError:
        full = False
    if number in (errno.ENOSPC, errno.EDQUOT) or full or "disk is full" in text:
        why, number = "the disk is full", errno.ENOSPC
    elif number == errno.EROFS or "readonly" in text or not os.access(path.parent, os.W_OK):
        why, number = "the archive is read-only", errno.EROFS
    else:
        why = str(error)
    message = (
        f"cannot write {path}: {why}; the run folders are intact, and a later reader indexes them"
    )
    return IndexUnavailable(number or errno.EIO, message)


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    try:
        conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
        conn.execute("PRAGMA journal_mode=WAL")
    except BaseException:
        conn.close()
        raise
    return conn


def _move_aside(path: Path, error: BaseException) -> str:
    broken = path.with_name(f"{FILE}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
    path.replace(broken)
    for extra in ("-wal", "-shm"):
        path.with_name(FILE + extra).unlink(missing_ok=True)
    return f"unreadable ({error}); moved to {broken.name}"


def _open_for_writing(path: Path) -> tuple[sqlite3.Connection, str | None]:
    """Connect, moving a corrupt file aside; return the connection and what was wrong."""
    problem = None if path.exists() else "missing"
    conn: sqlite3.Connection | None = None
    try:
        conn = _connect(path)
        conn.executescript(SCHEMA)
        version = conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        if version is None:
            problem = problem or "empty"
        elif version[0] != SCHEMA_VERSION:
            raise _OtherSchema(f"schema {version[0]}, expected {SCHEMA_VERSION}")
    except sqlite3.DatabaseError as error:
        if conn is not None:
            conn.close()
        if not is_corrupt(error):
            raise
        problem = _move_aside(path, error)
        conn = _connect(path)
        conn.executescript(SCHEMA)
    return conn, problem


def open_index(root: Path, session: str | None = None, repair: bool = True) -> sqlite3.Connection:
    """Open the index of an archive root for writing, caught up with the run folders.

    With repair, folders the index has not seen as they are now are read in
    (all of them for a new or rebuilt index, saying so with a warning unless
    the index was simply not there yet and held nothing to lose); `session`'s
    own folders are left to its records. Raises IndexUnavailable when the index
    cannot be written.
    """
    from .indexsync import catch_up

    path = root / FILE
    try:
        root.mkdir(parents=True, exist_ok=True)
        conn, problem = _open_for_writing(path)
    except (sqlite3.OperationalError, OSError) as error:
        raise _unavailable(path, error) from None
    if not repair:
        return conn
    try:
        count = catch_up(conn, root, skip_session=session)
    except BaseException as error:
        conn.close()
        if isinstance(error, (sqlite3.OperationalError, OSError)) and not is_corrupt(error):
            raise _unavailable(path, error) from None
        raise
    if problem is not None and (count or problem not in ("missing", "empty")):
        warnings.warn(f"{path} was {problem}; rebuilt from {count} run folders", IndexWarning, 2)
    return conn


def open_readonly(path: Path) -> sqlite3.Connection | None:
    """Connect without writing anything (immutable when not even the -shm can be made)."""
    if not path.exists():
        return None
    for flags in ("mode=ro", "immutable=1"):
        try:
            conn = sqlite3.connect(f"{path.resolve().as_uri()}?{flags}", uri=True)
        except sqlite3.Error:
            continue
        try:
            version = conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            conn.execute("SELECT path FROM sessions LIMIT 1").fetchall()
        except sqlite3.DatabaseError:
            conn.close()
            continue
        if version == (SCHEMA_VERSION,):
            return conn
        conn.close()
    return None


def read_index(root: Path) -> sqlite3.Connection:
    """Open the index for reading, caught up with the run folders, wherever the archive lies.

    Where it cannot be written (a read-only archive, a full disk), the index as
    it is is read; when the folders hold what it lacks, a copy in memory is
    brought up to date instead, so the answer is the same.
    """
    from .indexsync import catch_up, pending

    path = root / FILE
    try:
        return open_index(root)
    except IndexUnavailable as error:
        if error.errno != errno.EROFS:  # a full disk is worth a word; a colleague's archive not
            warnings.warn(f"{error}; answering from the folders", IndexWarning, 2)
    stored = open_readonly(path)
    if stored is not None and not pending(stored, root):
        return stored
    memory = sqlite3.connect(":memory:", isolation_level=None)
    if stored is not None:
        with contextlib.closing(stored):
            stored.backup(memory)
    memory.executescript(SCHEMA)
    catch_up(memory, root)
    return memory


def query(root: Path, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
    """Return the rows of one SELECT on a root's caught-up index (rebuilt once if corrupt)."""
    return ask(root, lambda conn: conn.execute(sql, args).fetchall())


def ask(root: Path, questions: Callable[[sqlite3.Connection], T]) -> T:
    """Return what `questions` reads from one caught-up connection (rebuilt once if corrupt)."""
    for attempt in (1, 2):
        conn = read_index(root)
        try:
            return questions(conn)
        except sqlite3.DatabaseError as error:
            if attempt == 2 or not is_corrupt(error):
                raise
            conn.close()
            problem = _move_aside(root / FILE, error)
            warnings.warn(f"{root / FILE} was {problem}; rebuilding", IndexWarning, 2)
        finally:
            conn.close()
    raise AssertionError("unreachable")


def rebuild(conn: sqlite3.Connection, root: Path, skip_session: str | None = None) -> int:
    """Bring every row up to date with the run folders (but one session's); return how many.

    Rows are replaced, and dropped only where their folder is gone, in one
    transaction, so rows a concurrent session commits meanwhile survive.
    """
    from .indexsync import reindex

    return reindex(conn, root, skip_session=skip_session).indexed


def index_records(root: Path, records: Iterable[dict[str, Any]], session: str) -> int:
    """Record a session's runs in the index of their root (one transaction)."""
    from .indexsync import record_sessions

    found = list(records)
    conn = open_index(root, session)
    try:
        try:
            conn.execute("BEGIN IMMEDIATE")
            count = write_rows(conn, [row_of(record, root) for record in found])
            record_sessions(conn, root, found)
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise
    except (sqlite3.OperationalError, OSError) as error:
        raise _unavailable(root / FILE, error) from None
    finally:
        conn.close()
    return count
