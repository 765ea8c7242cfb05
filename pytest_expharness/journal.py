"""The metrics journal: an append-only binary file that survives a hard crash.

A background thread appends tracked points to `metrics.journal` at least once
a second. Binary, because the writer shares the GIL with the experiment: a
chunk of a million floats is one memcpy here, where text would cost the
experiment about a second of its own time. The file reaches the operating
system on every flush (no fsync: it survives the process dying, not the
machine losing power).

Format, little-endian: the 8-byte magic, then records.
  b"S" u32 series id, u16 name length, UTF-8 name          (a new series)
  b"P" u32 series id, u32 n, u8 explicit, i64 first step,   (a chunk of points)
       n f64 values, n f64 unix times, [n i64 steps if explicit]
Auto steps are `first step + i`. A record cut short by a crash is ignored.
"""

from __future__ import annotations

import struct
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

MAGIC = b"EXPJRN1\n"
_SERIES = struct.Struct("<cIH")
_CHUNK = struct.Struct("<cIIBq")


def write_series(handle: BinaryIO, series_id: int, name: str) -> None:
    """Append the record that names a new series."""
    raw = name.encode("utf-8")
    handle.write(_SERIES.pack(b"S", series_id, len(raw)) + raw)


def write_chunk(
    handle: BinaryIO,
    series_id: int,
    first_step: int,
    values: array[float],
    times: array[float],
    steps: array[int] | None,
) -> None:
    """Append one chunk of points of a series."""
    header = _CHUNK.pack(b"P", series_id, len(values), steps is not None, first_step)
    parts = [header, values.tobytes(), times.tobytes()]
    if steps is not None:
        parts.append(steps.tobytes())
    handle.write(b"".join(parts))


@dataclass
class SeriesColumns:
    """The points of one series as compact columns."""

    values: array[float] = field(default_factory=lambda: array("d"))
    steps: array[int] = field(default_factory=lambda: array("q"))
    times: array[float] = field(default_factory=lambda: array("d"))


def read_journal(path: Path) -> dict[str, SeriesColumns]:
    """Read every complete record of a journal; a torn last record is dropped."""
    data = path.read_bytes()
    if not data.startswith(MAGIC):
        raise ValueError(f"{path}: not a metrics journal")
    names: dict[int, str] = {}
    out: dict[str, SeriesColumns] = {}
    pos, end = len(MAGIC), len(data)
    while pos < end:
        kind = data[pos : pos + 1]
        if kind == b"S":
            if pos + _SERIES.size > end:
                break
            _, sid, length = _SERIES.unpack_from(data, pos)
            stop = pos + _SERIES.size + length
            if stop > end:
                break
            names[sid] = data[pos + _SERIES.size : stop].decode("utf-8")
            out.setdefault(names[sid], SeriesColumns())
            pos = stop
        elif kind == b"P":
            if pos + _CHUNK.size > end:
                break
            _, sid, n, explicit, first = _CHUNK.unpack_from(data, pos)
            body = pos + _CHUNK.size
            stop = body + n * (24 if explicit else 16)
            if stop > end or sid not in names:
                break
            cols = out[names[sid]]
            cols.values.frombytes(data[body : body + 8 * n])
            cols.times.frombytes(data[body + 8 * n : body + 16 * n])
            if explicit:
                cols.steps.frombytes(data[body + 16 * n : stop])
            else:
                cols.steps.extend(range(first, first + n))
            pos = stop
        else:
            break
    return out
