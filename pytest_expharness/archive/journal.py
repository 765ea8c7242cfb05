"""The metrics journal: an append-only file that survives a hard crash.

The flusher thread appends tracked points to `metrics.journal` at least once a
second. Each chunk is a flat list `[value, step or None, time, ...]` pickled by
the C pickler: the flusher shares the GIL with the experiment, and this costs
it about 30 ns a point where converting to arrays or text costs several times
that. The file reaches the operating system on every flush (no fsync: it
survives the process dying, not the machine losing power).

Format: the 8-byte magic, then records.
  b"S" u32 series id, u16 name length, UTF-8 name     (a new series)
  b"C" u32 series id, u64 payload length, payload     (a pickled chunk)
A record cut short by a crash is ignored. Reading never resolves a global,
so a journal from someone else's archive cannot run code.
"""

from __future__ import annotations

import io
import os
import pickle
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

MAGIC = b"EXPJRN2\n"
_SERIES = struct.Struct("<cIH")
_CHUNK = struct.Struct("<cIQ")


def write_series(handle: BinaryIO, series_id: int, name: str) -> None:
    """Append the record that names a new series."""
    raw = name.encode("utf-8")
    handle.write(_SERIES.pack(b"S", series_id, len(raw)) + raw)


def write_chunk(handle: BinaryIO, series_id: int, flat: list[Any]) -> None:
    """Append one chunk of points of a series."""
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=5)
    pickler.fast = True  # no memo: a flat list of numbers has nothing to share
    pickler.dump(flat)
    payload = buffer.getbuffer()
    handle.write(_CHUNK.pack(b"C", series_id, len(payload)))
    handle.write(payload)


class _PlainUnpickler(pickle.Unpickler):
    """Unpickles lists of numbers and None only: every global is refused."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"journal refers to {module}.{name}: not allowed")


def iter_journal(path: Path) -> Iterator[tuple[str, list[Any]]]:
    """Yield (series name, flat chunk) for every complete record, reading as it goes.

    A series' first record yields an empty chunk, so series with no points show.
    Raises ValueError for a file that is not a journal; a torn end is dropped.
    """
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size  # a length beyond it is a torn record
        head = handle.read(len(MAGIC))
        if len(head) < len(MAGIC) and MAGIC.startswith(head):
            return  # created, but the process died before anything reached it
        if head != MAGIC:
            raise ValueError(f"{path}: not a metrics journal")
        names: dict[int, str] = {}
        while True:
            kind = handle.read(1)
            if kind == b"S":
                rest = handle.read(_SERIES.size - 1)
                if len(rest) < _SERIES.size - 1:
                    return
                _, sid, length = _SERIES.unpack(kind + rest)
                if length > size - handle.tell():
                    return
                raw = handle.read(length)
                if len(raw) < length:
                    return
                names[sid] = raw.decode("utf-8")
                yield names[sid], []
            elif kind == b"C":
                rest = handle.read(_CHUNK.size - 1)
                if len(rest) < _CHUNK.size - 1:
                    return
                _, sid, length = _CHUNK.unpack(kind + rest)
                if length > size - handle.tell():
                    return
                payload = handle.read(length)
                if len(payload) < length or sid not in names:
                    return
                try:
                    chunk = _PlainUnpickler(io.BytesIO(payload)).load()
                except (pickle.UnpicklingError, EOFError, ValueError):
                    return
                if not isinstance(chunk, list) or len(chunk) % 3:
                    return
                yield names[sid], chunk
            else:
                return
