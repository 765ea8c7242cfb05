"""series/ and metrics.csv written from chunks of points, and series/ read back.

`series/<name>.npy` holds one series as a NumPy structured array of
(value float64, step int64, time float64) records in tracking order, little
endian; `series/index.json` lists the series in the order they were first
tracked, each with its file and summary (final, min, max, count, last_step).
metrics.csv (`step,name,value,time`, grouped by series) is written in the same
pass. `write` takes chunks of flat points `[value, step or None, time, ...]`
(the journal's, or a short run's lists) and holds one block of them at a time,
so memory stays bounded whatever the number of points. A big run's helper
process writes the same files in two stretches (seriesio/split.py), with the
same sinks (seriesio/sink.py) and the same last step (`publish`). Writing needs
no numpy (it is faster with it); reading back does. The folder is renamed into
place only when complete, after metrics.csv, so a series/ folder always holds
every series.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .layout import JOURNAL, METRICS, atomic_write_text
from .metricsfile import Columns
from .seriesio.publish import Entry, Writer, csv_part, publish
from .seriesio.sink import (
    DESCR,
    FIELDS,
    FOLDER,
    HEADER_SIZE,
    INDEX,
    LIVE,
    RECORD,
    Part,
    file_name,
    npy_header,
)

__all__ = ["FOLDER", "INDEX", "LIVE", "file_name", "npy_header", "read", "read_lists", "write"]
PARTIAL = f".{FOLDER}-partial"  # series/ being written, renamed into place when complete


COLUMNAR_BYTES = 2 * 1024 * 1024  # a journal this long (about 75,000 points) gets series/


def write(
    folder: Path, chunks: Iterable[tuple[str, list[Any]]], columnar: bool | None = None
) -> dict[str, Columns]:
    """Write metrics.csv, and series/ for a big run, from chunks of flat points.

    A big run is one whose journal holds COLUMNAR_BYTES or more (the rule is the
    same for a finished run and for one rebuilt after a crash, so both end with
    the same files). Its columns returned hold at most about 2 * PLOT_POINTS
    points each (every k-th point and the last) and carry the exact summary of
    the whole series (`series_stats` returns it). A smaller run, whose points
    fit in memory, gets metrics.csv alone (a dozen fewer files to make), and
    its columns are whole. `columnar` decides it instead of the rule.
    """
    if columnar is None:  # the rule; True or False says it for this run
        try:
            columnar = (folder / JOURNAL).stat().st_size >= COLUMNAR_BYTES
        except OSError:
            columnar = False
    if not columnar:
        return _write_csv(folder, chunks)
    partial = folder / PARTIAL
    for stale in (partial, folder / LIVE):  # a crash's, or a helper's that finish gave up on
        if stale.exists():
            shutil.rmtree(stale)
    partial.mkdir()
    try:
        return _write(folder, partial, chunks)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def _write_csv(folder: Path, chunks: Iterable[tuple[str, list[Any]]]) -> dict[str, Columns]:
    """metrics.csv of a run small enough to hold in memory; an older series/ is removed."""
    from .metricsfile import csv_text

    flat: dict[str, list[Any]] = {}
    for name, chunk in chunks:
        flat.setdefault(name, []).extend(chunk)
    columns = {
        name: Columns(points[: len(points) - len(points) % 3]) for name, points in flat.items()
    }
    for name, cols in columns.items():
        if len(cols) and not -(2**63) <= min(cols.steps) <= max(cols.steps) < 2**63:
            raise OverflowError(
                f"series {name!r}: a step does not fit in 64 bits "
                f"(steps from {min(cols.steps)} to {max(cols.steps)})"
            )
    atomic_write_text(folder / METRICS, csv_text(columns))
    for stale in (folder / FOLDER, folder / PARTIAL, folder / LIVE):
        if stale.exists():  # a rebuild after a crash that left an older copy
            shutil.rmtree(stale)
    return columns


def _write(
    folder: Path, partial: Path, chunks: Iterable[tuple[str, list[Any]]]
) -> dict[str, Columns]:
    writer = Writer(partial, "s", header=True)
    ids: dict[str, int] = {}  # series by name, numbered as first seen
    try:
        for name, chunk in chunks:
            sid = ids.setdefault(name, len(ids))
            writer.sink(sid, name, Part()).add(chunk)
    finally:
        parts = writer.close()
    entries = [
        Entry(name, [parts[sid]], [csv_part(partial, "s", sid)]) for name, sid in ids.items()
    ]
    return publish(folder, partial, entries)


def read_index(folder: Path) -> list[dict[str, Any]] | None:
    """Return series/index.json's entries, or None when the run has no series/ folder."""
    path = folder / FOLDER / INDEX
    if not path.exists():
        return None
    entries = json.loads(path.read_text("utf-8"))
    if not isinstance(entries, list) or not all(
        isinstance(e, dict) and isinstance(e.get("name"), str) for e in entries
    ):
        raise ValueError("not a list of series entries with a name")
    return entries


def read_lists(folder: Path) -> dict[str, Columns] | None:
    """Read every series from series/ as Python lists, without numpy (see read_points)."""
    entries = read_index(folder)
    if entries is None:
        return None
    return {entry["name"]: read_points(folder, entry, None) for entry in entries}


def read(folder: Path) -> dict[str, Columns] | None:
    """Read every series from series/ as numpy columns; None when the run has none.

    The files are memory-mapped and the columns are views of their fields:
    nothing is read until used, and copying out one column reads only the pages
    it needs from the page cache (10 M points in tens of milliseconds).
    """
    entries = read_index(folder)
    if entries is None:
        return None
    import numpy as np

    dtype = np.dtype(FIELDS)
    out: dict[str, Columns] = {}
    for entry in entries:
        path = folder / FOLDER / file_name(entry["name"])
        try:
            records = np.load(path, mmap_mode="r", allow_pickle=False)
        except ValueError:  # an empty series cannot be mapped; a damaged file says so again
            records = np.load(path, allow_pickle=False)
        if records.dtype != dtype or records.ndim != 1:
            raise ValueError(f"{path.name}: holds {records.dtype} of shape {records.shape}")
        out[entry["name"]] = Columns.of(records["value"], records["step"], records["time"])
    return out


def read_points(folder: Path, entry: dict[str, Any], picks: list[int] | None) -> Columns:
    """Read one series' records at `picks` (all when None) without numpy; seeks, never maps.

    report.html draws a thousand points of a series however long it is, so it
    reads those records alone: 24 bytes each at a fixed offset.
    """
    path = folder / FOLDER / file_name(entry["name"])
    with open(path, "rb") as handle:
        head = handle.read(HEADER_SIZE)
        text = head[10:].decode("latin1")
        if head[:10] != npy_header(0)[:10] or DESCR not in text:
            raise ValueError(f"{path.name}: not a series file of (value, step, time) records")
        count = int(text.split("'shape': (", 1)[1].split(",", 1)[0])
        if picks is None:
            body = handle.read(RECORD * count)
            if len(body) != RECORD * count:
                raise ValueError(f"{path.name}: holds {len(body)} bytes for {count} records")
        else:
            parts = []
            for i in picks:
                if not 0 <= i < count:
                    raise ValueError(f"{path.name}: no record {i} of {count}")
                handle.seek(HEADER_SIZE + RECORD * i)
                parts.append(handle.read(RECORD))
            body = b"".join(parts)
            if len(body) != RECORD * len(picks):
                raise ValueError(f"{path.name}: shorter than its {count} records")
    view = memoryview(body)
    doubles, ints = view.cast("d"), view.cast("q")
    return Columns.of(doubles[0::3].tolist(), ints[1::3].tolist(), doubles[2::3].tolist())


def read_any(folder: Path) -> dict[str, Columns]:
    """Every point a run folder holds, whatever its state: series/, else metrics.csv, else
    its journal (a run still running, or one that died)."""
    from .journal import iter_journal
    from .metricsfile import columns_from_csv

    found = read_lists(folder)
    if found is not None:
        return found
    if (folder / METRICS).is_file():
        return columns_from_csv(folder / METRICS)
    if not (folder / JOURNAL).is_file():
        return {}
    flats: dict[str, list[Any]] = {}
    for name, chunk in iter_journal(folder / JOURNAL):
        flats.setdefault(name, []).extend(chunk)
    return {name: Columns(flat) for name, flat in flats.items()}
