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
import pickle
import struct
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


def read_journal(path: Path) -> dict[str, list[Any]]:
    """Return series name -> flat [value, step, time, ...] from every complete record."""
    data = path.read_bytes()
    if len(data) < len(MAGIC) and MAGIC.startswith(data):
        return {}  # created, but the process died before anything reached it
    if not data.startswith(MAGIC):
        raise ValueError(f"{path}: not a metrics journal")
    names: dict[int, str] = {}
    out: dict[str, list[Any]] = {}
    pos, end = len(MAGIC), len(data)
    while pos < end:
        kind = data[pos : pos + 1]
        if kind == b"S" and pos + _SERIES.size <= end:
            _, sid, length = _SERIES.unpack_from(data, pos)
            stop = pos + _SERIES.size + length
            if stop > end:
                break
            names[sid] = data[pos + _SERIES.size : stop].decode("utf-8")
            out.setdefault(names[sid], [])
        elif kind == b"C" and pos + _CHUNK.size <= end:
            _, sid, length = _CHUNK.unpack_from(data, pos)
            stop = pos + _CHUNK.size + length
            if stop > end or sid not in names:
                break
            try:
                chunk = _PlainUnpickler(io.BytesIO(data[pos + _CHUNK.size : stop])).load()
            except (pickle.UnpicklingError, EOFError, ValueError):
                break
            if not isinstance(chunk, list) or len(chunk) % 3:
                break
            out[names[sid]].extend(chunk)
        else:
            break
        pos = stop
    return out
