"""One series written as its points are read: .npy records, metrics.csv rows, a summary.

A sink writes a stretch of one series: from its global index `start` (and the
step before it, for automatic steps) to wherever its points end. It writes the
.npy records in place (24 bytes each, at a known offset, so two processes can
write two stretches of one file) and the CSV rows to its own part file, and
keeps a `Part`: the stretch's summary and plot sample. `merge` joins the parts
of a series into exactly what one sink over the whole series would have kept,
so a series written in one pass or in two stretches ends with the same files.

Formatting rows is most of the cost (about half of it is repr of the values):
the steps of automatic or consecutive steps are written into the row template
a thousand at a time (`str(p).join` of cached rows) instead of by `%d` per row,
and the times, which come in long runs of one value, are formatted once a run.
"""

from __future__ import annotations

import bisect
import itertools
import os
import shutil
import struct
from pathlib import Path
from typing import Any, BinaryIO

FOLDER = "series"
INDEX = "index.json"
LIVE = f".{FOLDER}-live"  # a big run's helper's files while the run runs (helper.py)
BLOCK = 131072  # points formatted at a time (a journal record holds at most as many)
PLOT_POINTS = 4096  # points of a series kept for plots (every k-th, and the last)
FIELDS = [("value", "<f8"), ("step", "<i8"), ("time", "<f8")]  # one record of a .npy file
DESCR = str(FIELDS)  # as the .npy header spells the dtype
HEADER_SIZE = 192  # fixed, so the count can be written in place at the end
RECORD = 24
_RECORDS: dict[int, struct.Struct] = {}
_ROWS: dict[tuple[str, bool], list[str]] = {}  # a name's row templates of steps 0-999


def npy_header(count: int) -> bytes:
    """Return the .npy (version 1.0) header of `count` records, always 192 bytes."""
    text = f"{{'descr': {DESCR}, 'fortran_order': False, 'shape': ({count},), }}"
    text = text.ljust(HEADER_SIZE - 10 - 1) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode("latin1")


def file_name(name: str) -> str:
    """Return a series' file under series/ (a hierarchical name makes sub-folders)."""
    return f"{name}.npy"


def pwrite_all(fd: int, data: bytes | memoryview, offset: int) -> None:
    """Write all of data at offset (a regular file writes it at once; this is sure)."""
    view = memoryview(data)
    while view:
        done = os.pwrite(fd, view, offset)
        view, offset = view[done:], offset + done


def append_file(out: int, path: Path) -> None:
    """Append a file's bytes to the file open as `out`, in the kernel (no copy through Python)."""
    with open(path, "rb") as src:
        size = os.fstat(src.fileno()).st_size
        start = os.fstat(out).st_size
        done = 0
        try:
            while done < size:
                n = os.copy_file_range(src.fileno(), out, size - done, done, start + done)
                if n <= 0:
                    break
                done += n
        except OSError:  # a file system or kernel without it
            pass
        if done < size:
            src.seek(done)
            os.lseek(out, start + done, os.SEEK_SET)
            with open(out, "wb", closefd=False) as dst:
                shutil.copyfileobj(src, dst, 1 << 20)


class Part:
    """What a sink kept of its stretch of a series: enough to merge stretches exactly."""

    def __init__(self, start: int = 0, step: int = -1) -> None:
        self.start = start  # the global index of the stretch's first point
        self.count = start  # the global index after its last point
        self.step = step  # the last step so far (an automatic step follows it)
        self.lo: float | None = None
        self.hi: float | None = None
        self.final: float | None = None
        self.last: list[Any] | None = None  # [value, step, time] of the last point
        self.stride = 1  # the sample holds the points whose global index it divides
        self.first = start  # the global index of sample[0]
        self.sample: list[list[Any]] = [[], [], []]

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Part:
        part = cls()
        part.__dict__.update(data)
        return part


class Sink:
    """One stretch of one series being written: its .npy records, its CSV part, its Part."""

    def __init__(self, name: str, npy: Path, csv: BinaryIO, part: Part) -> None:
        self.name = name
        self.fd = os.open(npy, os.O_WRONLY | os.O_CREAT, 0o644)  # never truncated: it is shared
        self.csv = csv
        self.part = part
        self.escaped = name.replace("%", "%%")
        self._array: Any = None
        self.line = "%d," + self.escaped + ",%r,%s\n"

    def add(self, flat: Any) -> None:
        """Write a chunk of points: a flat list, or a journal.Dense (its numpy columns)."""
        if not isinstance(flat, list):
            if len(flat.values):
                times = flat.times
                self._block(flat.values.tolist(), None, times, flat.values, times)
            return
        for start in range(0, len(flat), 3 * BLOCK):
            part = flat if len(flat) <= 3 * BLOCK else flat[start : start + 3 * BLOCK]
            if part:
                self._block(part[0::3], part[1::3], part[2::3], None, None)

    def _block(self, values: list[float], raw: Any, times: Any, varr: Any, tarr: Any) -> None:
        n = len(values)
        part = self.part
        nones = n if raw is None else raw.count(None)
        steps: Any
        if nones == n:
            steps = range(part.step + 1, part.step + 1 + n)
        else:
            if nones:  # an automatic step follows the step before it
                steps, previous = [], part.step
                for step in raw:
                    previous = previous + 1 if step is None else step
                    steps.append(previous)
            else:
                steps = raw
            first = steps[0]
            if steps[-1] - first == n - 1 and steps == list(range(first, first + n)):
                steps = range(first, first + n)
        records = self._records(values, steps, times, varr)
        pwrite_all(self.fd, records, HEADER_SIZE + RECORD * part.count)
        stamps = time_strings(times) if tarr is None else array_time_strings(tarr)
        self.csv.write(self._rows(steps, values, stamps).encode("utf-8"))
        self._summarize(values, self._array)
        self._keep(values, steps, times)
        part.count += n
        part.step = steps[-1]
        part.final = values[-1]
        part.last = [values[-1], steps[-1], float(times[-1])]

    def _records(self, values: list[float], steps: Any, times: Any, varr: Any) -> Any:
        """The block's .npy records (numpy when it is there; the bytes are the same)."""
        np = _numpy()
        self._array = None
        n = len(values)
        try:
            if np is not None:
                array = np.empty(n, _dtype())
                array["value"] = values if varr is None else varr
                array["time"] = times
                if isinstance(steps, range):
                    array["step"] = np.arange(steps.start, steps.stop, dtype=np.int64)
                else:
                    array["step"] = steps
                self._array = array["value"]
                return array.view(np.uint8).data
            records: list[Any] = [None] * (3 * n)
            records[0::3], records[1::3], records[2::3] = values, steps, times
            packer = _RECORDS.get(n)
            if packer is None:
                packer = struct.Struct("<" + "dqd" * n)
                if n == BLOCK:
                    _RECORDS[n] = packer
            return packer.pack(*records)
        except (struct.error, OverflowError):
            raise OverflowError(
                f"series {self.name!r}: a step does not fit in 64 bits "
                f"(steps from {min(steps)} to {max(steps)})"
            ) from None

    def _rows(self, steps: Any, values: list[float], stamps: list[str]) -> str:
        n = len(values)
        if not isinstance(steps, range) or steps.start < 0 or n < 64:
            records: list[Any] = [None] * (3 * n)
            records[0::3], records[1::3], records[2::3] = steps, values, stamps
            return (self.line * n) % tuple(records)
        pieces, i, at = [], 0, steps.start
        while i < n:  # the steps p000-p999 share their prefix p: joined in, not formatted
            prefix, row = divmod(at + i, 1000)
            k = min(1000 - row, n - i)
            if prefix:
                p = str(prefix)
                pieces.append(p + p.join(self._templates(True)[row : row + k]))
            else:
                pieces.append("".join(self._templates(False)[row : row + k]))
            i += k
        args: list[Any] = [None] * (2 * n)
        args[0::2], args[1::2] = values, stamps
        return "".join(pieces) % tuple(args)

    def _templates(self, padded: bool) -> list[str]:
        found = _ROWS.get((self.escaped, padded))
        if found is None:
            if len(_ROWS) > 1024:
                _ROWS.clear()
            rest = "," + self.escaped + ",%r,%s\n"
            found = [(f"{i:03d}" if padded else str(i)) + rest for i in range(1000)]
            _ROWS[self.escaped, padded] = found
        return found

    def _summarize(self, values: list[float], array: Any) -> None:
        if array is not None:  # numpy's fmin and fmax skip NaN; a zero may be -0.0: Python says
            lo, hi = _numpy().fmin.reduce(array), _numpy().fmax.reduce(array)
            if lo != lo:
                return
            if lo and hi:
                self._widen(float(lo), float(hi))
                return
        total = sum(values)
        if total != total:  # a NaN (or +inf and -inf): min and max skip NaN
            values = [x for x in values if x == x]
            if not values:
                return
        self._widen(min(values), max(values))

    def _widen(self, lo: float, hi: float) -> None:
        part = self.part
        part.lo = lo if part.lo is None or lo < part.lo else part.lo
        part.hi = hi if part.hi is None or hi > part.hi else part.hi

    def _keep(self, values: list[float], steps: Any, times: list[float]) -> None:
        part = self.part
        offset = -part.count % part.stride
        if not part.sample[0]:
            part.first = part.count + offset
        for kept, column in zip(part.sample, (values, steps, times), strict=True):
            taken = column[offset :: part.stride]
            kept.extend(taken.tolist() if hasattr(taken, "tolist") else taken)
        while len(part.sample[0]) > 2 * PLOT_POINTS:  # thin out: twice the stride
            skip = (-part.first % (2 * part.stride)) // part.stride
            for column in part.sample:
                column[:] = column[skip::2]
            part.first += skip * part.stride
            part.stride *= 2

    def close(self) -> Part:
        os.close(self.fd)
        return self.part


_NUMPY: list[Any] = []
USE_NUMPY = True  # False writes with struct alone (tests compare the two)


def _numpy() -> Any:
    """numpy, once imported here (None without it): a big run's records are made with it."""
    if not USE_NUMPY:
        return None
    if not _NUMPY:
        try:
            import numpy
        except ImportError:
            numpy = None  # type: ignore[assignment]
        _NUMPY.append(numpy)
    return _NUMPY[0]


def _dtype() -> Any:
    return _numpy().dtype(FIELDS)


def last_step(chunk: Any, step: int) -> int:
    """The last step of a chunk of points that follows a point at `step`."""
    if not isinstance(chunk, list):  # a journal.Dense: automatic steps
        return step + len(chunk) // 3
    raw = chunk[1::3]
    if raw.count(None) == len(raw):
        return step + len(raw)
    for back, found in enumerate(reversed(raw)):
        if found is not None:
            return int(found) + back
    return step + len(raw)  # not reached


def time_strings(times: list[float]) -> list[str]:
    """Return repr of every time: once for each run of one value (the flusher's clock ticks)."""
    out: list[str] = []
    i, n = 0, len(times)
    while i < n:
        t = times[i]
        end = bisect.bisect_right(times, t, i) if t == t and t != 0 else i  # runs, if in order
        if end <= i or times[i:end].count(t) != end - i:
            rest = times[i:]
            cache = {x: repr(x) for x in dict.fromkeys(rest)}
            if 0.0 in cache:  # 0.0 and -0.0 are one key
                out.extend(map(repr, rest))
            else:
                out.extend(map(cache.__getitem__, rest))
            return out
        out += [repr(t)] * (end - i)
        i = end
    return out


def array_time_strings(times: Any) -> list[str]:
    """time_strings of a numpy column: its runs found by numpy."""
    if not times.all():  # a zero: 0.0 and -0.0 are equal, and one run
        return list(map(repr, times.tolist()))
    starts = [0, *(_numpy().flatnonzero(times[1:] != times[:-1]) + 1).tolist(), len(times)]
    out: list[str] = []
    for start, end in itertools.pairwise(starts):  # a NaN is a run of its own
        out += [repr(float(times[start]))] * (end - start)
    return out


def merge(parts: list[Part]) -> tuple[dict[str, Any], tuple[list[Any], list[Any], list[Any]]]:
    """Return the summary and the plot sample of a series written in consecutive parts.

    They are what one sink over the whole series keeps: the sample holds the
    points whose index is a multiple of the smallest power of two that leaves
    at most 2 * PLOT_POINTS of them, and the last point.
    """
    count = parts[-1].count
    stride = 1
    while -(-count // stride) > 2 * PLOT_POINTS:
        stride *= 2
    lo = hi = final = last = None
    sample: tuple[list[Any], list[Any], list[Any]] = ([], [], [])
    for part in parts:
        if part.lo is not None and (lo is None or part.lo < lo):
            lo = part.lo
        if part.hi is not None and (hi is None or part.hi > hi):
            hi = part.hi
        if part.count > part.start:
            final, last = part.final, part.last
        if part.sample[0]:
            skip = (-part.first % stride) // part.stride
            for kept, column in zip(sample, part.sample, strict=True):
                kept.extend(column[skip :: stride // part.stride])
    if last is not None and (count - 1) % stride:  # the last point, always
        for kept, x in zip(sample, last, strict=True):
            kept.append(x)
    stats = {
        "final": final,
        "min": lo,
        "max": hi,
        "count": count,
        "last_step": parts[-1].step if count else None,
    }
    return stats, sample
