"""series/ and metrics.csv written in one streaming pass, and series/ read back.

`series/<name>.npy` holds one series as a NumPy structured array of
(value float64, step int64, time float64) records in tracking order, little
endian; `series/index.json` lists the series in the order they were first
tracked, each with its file and summary (final, min, max, count, last_step).
metrics.csv (`step,name,value,time`, grouped by series) is written in the same
pass. `write` takes chunks of flat points `[value, step or None, time, ...]`
(the journal's, or a short run's lists) and holds one block of them at a time,
so memory stays bounded whatever the number of points. Writing needs no numpy;
reading back does. The folder is renamed into place only when complete, after
metrics.csv, so a series/ folder always holds every series.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from .layout import JOURNAL, METRICS, atomic_write_text
from .metricsfile import CSV_HEADER, Columns

FOLDER = "series"
INDEX = "index.json"
BLOCK = 65536  # points formatted at a time
PLOT_POINTS = 4096  # points of a series kept for plots (every k-th, and the last)
_DESCR = "[('value', '<f8'), ('step', '<i8'), ('time', '<f8')]"
_HEADER_SIZE = 192  # fixed, so the count can be written in place at the end
_RECORDS: dict[int, struct.Struct] = {}


def npy_header(count: int) -> bytes:
    """Return the .npy (version 1.0) header of `count` records, always 192 bytes."""
    text = f"{{'descr': {_DESCR}, 'fortran_order': False, 'shape': ({count},), }}"
    text = text.ljust(_HEADER_SIZE - 10 - 1) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode("latin1")


def file_name(name: str) -> str:
    """Return a series' file under series/ (a hierarchical name makes sub-folders)."""
    return f"{name}.npy"


class _Sink:
    """One series being written: its .npy part, its CSV part, its summary and plot sample."""

    def __init__(self, name: str, npy: Path, csv: TextIO) -> None:
        self.name = name
        self.npy_path = npy
        self.npy: BinaryIO = open(npy, "wb")  # noqa: SIM115
        self.npy.write(npy_header(0))
        self.csv = csv
        self.line = "%d," + name.replace("%", "%%") + ",%r,%s\n"
        self.count = 0
        self.step = -1
        self.lo: float | None = None
        self.hi: float | None = None
        self.final: float | None = None
        self.stride = 1
        self.sample: tuple[list[Any], list[Any], list[Any]] = ([], [], [])
        self.last: tuple[float, int, float] | None = None

    def add(self, flat: list[Any]) -> None:
        for start in range(0, len(flat), 3 * BLOCK):
            self._block(flat[start : start + 3 * BLOCK])

    def _block(self, flat: list[Any]) -> None:
        n = len(flat) // 3
        if not n:
            return
        values, raw, times = flat[0::3], flat[1::3], flat[2::3]
        nones = raw.count(None)
        if nones == n:
            steps: Any = range(self.step + 1, self.step + 1 + n)
        else:  # an automatic step follows the step before it
            steps, previous = [], self.step
            for step in raw:
                previous = previous + 1 if step is None else step
                steps.append(previous)
        records = list(flat)
        records[1::3] = steps
        packer = _RECORDS.get(n)
        if packer is None:
            packer = struct.Struct("<" + "dqd" * n)
            if n == BLOCK:
                _RECORDS[n] = packer
        try:
            self.npy.write(packer.pack(*records))
        except struct.error:
            raise OverflowError(
                f"series {self.name!r}: a step does not fit in 64 bits "
                f"(steps from {min(steps)} to {max(steps)})"
            ) from None
        cache = {t: repr(t) for t in dict.fromkeys(times)}
        records[2::3] = map(cache.__getitem__, times)
        records[0::3], records[1::3] = steps, values
        self.csv.write((self.line * n) % tuple(records))
        self._summarize(values)
        self._keep(values, steps, times)
        self.count += n
        self.step = steps[-1]
        self.final = values[-1]
        self.last = (values[-1], steps[-1], times[-1])

    def _summarize(self, values: list[float]) -> None:
        total = sum(values)
        if total != total:  # a NaN (or +inf and -inf): min and max skip NaN
            values = [x for x in values if x == x]
            if not values:
                return
        lo, hi = min(values), max(values)
        self.lo = lo if self.lo is None or lo < self.lo else self.lo
        self.hi = hi if self.hi is None or hi > self.hi else self.hi

    def _keep(self, values: list[float], steps: Any, times: list[float]) -> None:
        first = -self.count % self.stride
        for kept, column in zip(self.sample, (values, steps, times), strict=True):
            kept.extend(column[first :: self.stride])
        while len(self.sample[0]) > 2 * PLOT_POINTS:  # thin out: every other one, twice the stride
            for column in self.sample:
                column[:] = column[0::2]
            self.stride *= 2

    def close(self) -> dict[str, Any]:
        self.npy.seek(0)
        self.npy.write(npy_header(self.count))
        self.npy.close()
        return {
            "final": self.final,
            "min": self.lo,
            "max": self.hi,
            "count": self.count,
            "last_step": self.step if self.count else None,
        }

    def plot_columns(self, stats: dict[str, Any]) -> Columns:
        values, steps, times = (list(c) for c in self.sample)
        if self.last is not None and (self.count - 1) % self.stride:  # the last point, always
            values.append(self.last[0])
            steps.append(self.last[1])
            times.append(self.last[2])
        cols = Columns.of(values, steps, times)
        cols.stats = stats
        return cols


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
    partial = folder / f".{FOLDER}-partial"
    if partial.exists():
        shutil.rmtree(partial)
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
    for stale in (folder / FOLDER, folder / f".{FOLDER}-partial"):
        if stale.exists():  # a rebuild after a crash that left an older copy
            shutil.rmtree(stale)
    return columns


def _write(
    folder: Path, partial: Path, chunks: Iterable[tuple[str, list[Any]]]
) -> dict[str, Columns]:
    sinks: dict[str, _Sink] = {}
    parts: list[TextIO] = []
    out = partial / METRICS
    try:
        for name, chunk in chunks:
            sink = sinks.get(name)
            if sink is None:
                part = out if not parts else partial / f"{len(parts)}.csv"
                csv = open(part, "w", encoding="utf-8")  # noqa: SIM115
                if not parts:
                    csv.write(CSV_HEADER)
                parts.append(csv)
                target = partial / file_name(name)
                target.parent.mkdir(parents=True, exist_ok=True)
                sink = sinks[name] = _Sink(name, target, csv)
            sink.add(chunk)
        stats = {name: sink.close() for name, sink in sinks.items()}
    finally:
        for handle in parts:
            handle.close()
        for sink in sinks.values():
            sink.npy.close()
    if not parts:
        out.write_text(CSV_HEADER, encoding="utf-8")
    with open(out, "a", encoding="utf-8") as joined:
        for i in range(1, len(parts)):
            with open(partial / f"{i}.csv", encoding="utf-8") as rest:
                shutil.copyfileobj(rest, joined, 1 << 20)
            os.unlink(partial / f"{i}.csv")
    index = [{"name": name, "file": file_name(name), **stats[name]} for name in sinks]
    (partial / INDEX).write_text(json.dumps(index, indent=1) + "\n", encoding="utf-8")
    os.replace(out, folder / METRICS)
    final = folder / FOLDER
    if final.exists():  # a rebuild after a crash that left an older copy
        shutil.rmtree(final)
    if sinks:
        os.replace(partial, final)
    else:
        shutil.rmtree(partial)
    return {name: sink.plot_columns(stats[name]) for name, sink in sinks.items()}


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

    dtype = np.dtype([("value", "<f8"), ("step", "<i8"), ("time", "<f8")])
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
        head = handle.read(_HEADER_SIZE)
        text = head[10:].decode("latin1")
        if head[:10] != npy_header(0)[:10] or _DESCR not in text:
            raise ValueError(f"{path.name}: not a series file of (value, step, time) records")
        count = int(text.split("'shape': (", 1)[1].split(",", 1)[0])
        if picks is None:
            body = handle.read(24 * count)
            if len(body) != 24 * count:
                raise ValueError(f"{path.name}: holds {len(body)} bytes for {count} records")
        else:
            parts = []
            for i in picks:
                if not 0 <= i < count:
                    raise ValueError(f"{path.name}: no record {i} of {count}")
                handle.seek(_HEADER_SIZE + 24 * i)
                parts.append(handle.read(24))
            body = b"".join(parts)
            if len(body) != 24 * len(picks):
                raise ValueError(f"{path.name}: shorter than its {count} records")
    view = memoryview(body)
    doubles, ints = view.cast("d"), view.cast("q")
    return Columns.of(doubles[0::3].tolist(), ints[1::3].tolist(), doubles[2::3].tolist())
