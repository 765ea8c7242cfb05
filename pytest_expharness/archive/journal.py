"""The metrics journal: an append-only file that survives a hard crash.

The flusher thread appends tracked points to `metrics.journal` at least once a
second. Each chunk is a flat list `[value, step or None, time, ...]` pickled by
the C pickler: the flusher shares the GIL with the experiment, and this costs
it about 30 ns a point where converting to arrays or text costs several times
that. The file reaches the operating system on every flush (no fsync: it
survives the process dying, not the machine losing power).

Chunks are pickled with protocol 2 (no frames), so that a chunk of floats with
automatic steps can be read without unpickling it (`dense`); journals of
earlier versions (protocol 5) are unpickled as before.

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
    pickler = pickle.Pickler(buffer, protocol=2)  # no frames: dense() reads it without unpickling
    pickler.fast = True  # no memo: a flat list of numbers has nothing to share
    pickler.dump(flat)
    payload = buffer.getbuffer()
    handle.write(_CHUNK.pack(b"C", series_id, len(payload)))
    handle.write(payload)


class _PlainUnpickler(pickle.Unpickler):
    """Unpickles lists of numbers and None only: every global is refused."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"journal refers to {module}.{name}: not allowed")


class Reader:
    """Reads a journal's complete records from an offset on, as far as a given end.

    `read(end)` yields (series id, chunk) and advances `offset` past each record;
    it stops before a record not complete by `end` (a live journal's next one,
    or a crash's torn end), and sets `bad` at one that is not a valid record.
    `names` maps the ids seen to their names, `order` lists them as first named.
    """

    def __init__(self, fd: int, offset: int = len(MAGIC)) -> None:
        self.fd = fd
        self.offset = offset
        self.names: dict[int, str] = {}
        self.bad = False

    def read(self, end: int, load: bool = True, fast: bool = False) -> Iterator[tuple[int, Any]]:
        """Yield each complete record until end: ([] for a new series; None if not load).

        With `fast`, a chunk of floats with automatic steps comes as a Dense
        (numpy columns, read without unpickling: see dense), any other as a list.
        """
        while not self.bad and self.offset + _SERIES.size <= end:
            head = os.pread(self.fd, _CHUNK.size, self.offset)
            kind = head[:1]
            if kind == b"S":
                _, sid, length = _SERIES.unpack(head[: _SERIES.size])
                start = self.offset + _SERIES.size
                if start + length > end:
                    return
                self.names[sid] = os.pread(self.fd, length, start).decode("utf-8")
                self.offset = start + length
                yield sid, []
            elif kind == b"C":
                if len(head) < _CHUNK.size or self.offset + _CHUNK.size > end:
                    return
                _, sid, length = _CHUNK.unpack(head)
                start = self.offset + _CHUNK.size
                if start + length > end:
                    return
                if sid not in self.names:
                    self.bad = True
                    return
                chunk: Any = None
                if load:
                    payload = os.pread(self.fd, length, start)
                    chunk = (dense(payload) if fast else None) or _load(payload)
                    if chunk is None:
                        self.bad = True
                        return
                self.offset = start + length
                yield sid, chunk
            else:
                self.bad = True
                return


class Dense:
    """A chunk of points with automatic steps, as numpy columns of values and times."""

    def __init__(self, values: Any, times: Any) -> None:
        self.values, self.times = values, times

    def __len__(self) -> int:
        return 3 * len(self.values)  # as long as its flat list

    def __getitem__(self, flat: slice) -> Dense:
        """The points of a slice of the flat list (whole points only)."""
        a, b, _ = flat.indices(len(self))
        return Dense(self.values[a // 3 : b // 3], self.times[a // 3 : b // 3])


_HEAD = b"\x80\x02]"  # protocol 2, an empty list (then batches of 1000 items, then STOP)
_BATCHES: dict[int, list[tuple[int, int]]] = {}


def _item_bytes(items: int) -> int:
    """Bytes of the first `items` items of a flat list of (float, None, float) points."""
    return 19 * (items // 3) + (0, 9, 10)[items % 3]


def _batches(n: int) -> list[tuple[int, int]]:
    """The (start, end) of each batch's items in the pickle of n points (after its MARK)."""
    found = _BATCHES.get(n)
    if found is None:
        found, at = [], len(_HEAD)
        for first in range(0, 3 * n, 1000):
            size = _item_bytes(min(first + 1000, 3 * n)) - _item_bytes(first)
            found.append((at + 1, at + 1 + size))  # after its MARK; its APPENDS follows
            at += size + 2
        if len(_BATCHES) > 64:
            _BATCHES.clear()
        _BATCHES[n] = found
    return found


def dense(payload: bytes) -> Dense | None:
    """Read a pickled chunk of floats with automatic steps without unpickling it; else None.

    Such a chunk pickles (protocol 2, no memo) as BINFLOAT, NONE, BINFLOAT for
    each point, in batches between MARK and APPENDS: 19 bytes a point at known
    offsets. Unpickling makes a float object of every value and every time
    (about 150 ns a point); this checks every opcode byte and views the doubles,
    about a tenth of that. Anything else (ints, explicit steps, another
    protocol) is not this layout and is left to the unpickler.
    """
    n = (len(payload) - 4) * 1000 // 19006
    for guess in (n - 1, n, n + 1, n + 2):
        if guess > 0 and len(payload) == 4 + _item_bytes(3 * guess) + 2 * -(-3 * guess // 1000):
            n = guess
            break
    else:
        return None
    if payload[:3] != _HEAD or payload[-1:] != b".":
        return None
    batches = _batches(n)
    view = memoryview(payload)
    for start, end in batches:
        if view[start - 1] != 0x28 or view[end] != 0x65:  # MARK ... APPENDS
            return None
    try:
        import numpy as np
    except ImportError:
        return None
    records = np.frombuffer(
        b"".join([view[start:end] for start, end in batches]),
        dtype=np.dtype([("g", "u1"), ("v", ">f8"), ("n", "u1"), ("h", "u1"), ("t", ">f8")]),
    )
    if not ((records["g"] == 0x47).all() and (records["n"] == 0x4E).all()):
        return None
    if not (records["h"] == 0x47).all():  # BINFLOAT, NONE, BINFLOAT
        return None
    return Dense(records["v"].astype("<f8"), records["t"].astype("<f8"))


def _load(payload: bytes) -> list[Any] | None:
    try:
        chunk = _PlainUnpickler(io.BytesIO(payload)).load()
    except (pickle.UnpicklingError, EOFError, ValueError):
        return None
    if not isinstance(chunk, list) or len(chunk) % 3:
        return None
    return chunk


def open_journal(path: Path) -> tuple[int, int] | None:
    """Open a journal; return (fd, size), or None when nothing reached it yet.

    Raises ValueError for a file that is not a journal.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        head = os.pread(fd, len(MAGIC), 0)
        if len(head) < len(MAGIC) and MAGIC.startswith(head):
            os.close(fd)
            return None  # created, but the process died before anything reached it
        if head != MAGIC:
            raise ValueError(f"{path}: not a metrics journal")
    except BaseException:
        os.close(fd)
        raise
    return fd, size


def iter_journal(path: Path) -> Iterator[tuple[str, list[Any]]]:
    """Yield (series name, flat chunk) for every complete record, reading as it goes.

    A series' first record yields an empty chunk, so series with no points show.
    Raises ValueError for a file that is not a journal; a torn end is dropped.
    """
    opened = open_journal(path)
    if opened is None:
        return
    fd, size = opened
    try:
        reader = Reader(fd)
        for sid, chunk in reader.read(size):
            yield reader.names[sid], chunk or []
    finally:
        os.close(fd)
