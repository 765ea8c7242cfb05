"""Tracked metric series: a cheap hot path, durable journaling, the final metrics.csv.

`Exp.track` extends one flat list per series with `(value, step or None, clock)`:
a single C call, so under the GIL the list always holds whole triples. The
list is the run's in-memory record of the series; the flusher thread pickles
its new tail into the journal (`Tracker.flush`) and never changes the list.
"""

from __future__ import annotations

import io
import math
import operator
import os
import re
import sys
import threading
import time
from array import array
from collections.abc import Callable, Iterator, MutableSequence, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from ..archive import journal, layout

NAME = re.compile(r"^[A-Za-z0-9_.\-+=/ ]+$")

Extend = Callable[[tuple[float, Any, float]], None]


def check_name(name: object) -> str:
    """Return a valid series name or raise saying what a name may hold."""
    if not isinstance(name, str) or not NAME.match(name):
        raise ValueError(
            f"track: invalid series name {name!r}; use letters, digits and _ . - + = / "
            "(hierarchies as 'loss.kl.z' or 'metrics/loss')"
        )
    parts = name.split("/")
    if any(part in ("", ".", "..") for part in parts) or name != name.strip():
        raise ValueError(f"track: invalid series name {name!r}; no empty, '.' or '..' parts")
    return name


class Columns:
    """The points of one series: lists for a finished run, compact arrays for a rebuilt one."""

    def __init__(self, flat: list[Any]) -> None:
        self.values: MutableSequence[float] = flat[0::3]
        self.times: MutableSequence[float] = flat[2::3]
        steps = flat[1::3]
        self.steps: Sequence[int]
        if steps.count(None) == len(steps):
            self.steps = range(len(steps))
        else:  # an automatic step follows the step before it
            resolved, previous = [], -1
            for step in steps:
                previous = previous + 1 if step is None else step
                resolved.append(previous)
            self.steps = resolved

    def __len__(self) -> int:
        return len(self.values)

    @classmethod
    def compact(cls) -> Columns:
        """Empty columns held as arrays (8 bytes a number), filled with `extend`."""
        cols = cls([])
        cols.values, cols.times, cols.steps = array("d"), array("d"), array("q")
        return cols

    def extend(self, flat: list[Any]) -> list[int]:
        """Append a flat chunk to compact columns; return its resolved steps."""
        steps, previous = [], self.steps[-1] if len(self.steps) else -1
        for step in flat[1::3]:
            previous = previous + 1 if step is None else step
            steps.append(previous)
        assert isinstance(self.steps, array), "extend() is for compact columns"
        self.values.extend(array("d", flat[0::3]))
        self.times.extend(array("d", flat[2::3]))
        self.steps.extend(steps)
        return steps


class Tracker:
    """All series of one run: hot lists, flushed columns, the journal and image frames."""

    def __init__(self, folder: Path, clock: Callable[[], float] = time.time) -> None:
        self.folder = folder
        self._clock = clock
        self.hot: dict[str, Extend] = {}
        self._lists: dict[str, list[Any]] = {}
        self._flushed: dict[str, int] = {}
        self.frames: dict[str, int] = {}
        self._ids: dict[str, int] = {}
        self._journal: BinaryIO | None = None
        self._lock = threading.Lock()
        self._closed = False

    # -- the experiment's side -------------------------------------------------

    def track_slow(self, name: str, value: Any, step: Any) -> None:
        """Validate and record a point the hot path did not take."""
        if name not in self.hot:
            check_name(name)
        if step is not None:
            step = _as_step(name, step)
        number = _as_number(value)
        if number is None:
            if _is_image(value):
                self._track_frame(name, value, step)
                return
            raise TypeError(
                f"track({name!r}): expected a number (int, float, bool, numpy scalar or 0-d "
                f"array) or an image (matplotlib figure, 2-D/3-D array), got {_describe(value)}"
            )
        if name in self.frames:
            raise TypeError(f"track({name!r}): this name already holds image frames")
        extend = self.hot.get(name)
        if extend is None:
            flat: list[Any] = []
            self._lists[name] = flat
            extend = self.hot[name] = flat.extend
        extend((number, step, self._clock()))

    def _track_frame(self, name: str, image: Any, step: int | None) -> None:
        if name in self.hot:
            raise TypeError(f"track({name!r}): this name already holds numbers, not images")
        index = self.frames.get(name, 0)
        label = index if step is None else step
        png = image_png(image)
        target = self.folder / layout.TRACKED / Path(*name.split("/"))
        target.mkdir(parents=True, exist_ok=True)
        path, n = target / f"{label:06d}.png", 1
        while path.exists():  # a second frame at the same step is kept beside the first
            path, n = target / f"{label:06d}-{n}.png", n + 1
        layout.atomic_write_bytes(path, png)
        self.frames[name] = index + 1

    # -- the flusher's side ----------------------------------------------------

    def flush(self) -> int:
        """Append every series' new points to the journal; return how many."""
        moved = 0
        with self._lock:
            if self._closed:
                return 0
            for name, flat in list(self._lists.items()):
                done, n = self._flushed.get(name, 0), len(flat)
                if n == done:
                    continue
                handle = self._open_journal()
                sid = self._ids.get(name)
                if sid is None:
                    sid = self._ids[name] = len(self._ids)
                    journal.write_series(handle, sid, name)
                journal.write_chunk(handle, sid, flat[done:n])
                self._flushed[name] = n
                moved += (n - done) // 3
            if moved and self._journal is not None:
                self._journal.flush()
        return moved

    def columns(self) -> dict[str, Columns]:
        """Return every series' points so far."""
        return {
            name: Columns(flat[: len(flat) - len(flat) % 3]) for name, flat in self._lists.items()
        }

    def _open_journal(self) -> BinaryIO:
        if self._journal is None:
            self._journal = open(self.folder / layout.JOURNAL, "ab")  # noqa: SIM115
            if self._journal.tell() == 0:
                self._journal.write(journal.MAGIC)
        return self._journal

    def close(self) -> None:
        """Stop flushing, after a last flush if the run is long enough to have a journal.

        A short run (no journal yet) writes metrics.csv from memory right after;
        a long one keeps its journal complete in case that is interrupted.
        """
        if self._journal is not None:
            self.flush()
        with self._lock:
            self._closed = True
            if self._journal is not None:
                self._journal.close()

    def discard_journal(self) -> None:
        """Remove the journal once metrics.csv holds everything."""
        (self.folder / layout.JOURNAL).unlink(missing_ok=True)


def _as_step(name: str, step: Any) -> int:
    if isinstance(step, bool) or not hasattr(step, "__index__"):
        raise TypeError(f"track({name!r}): step must be an int, got {_describe(step)}")
    return operator.index(step)


def _as_number(value: Any) -> float | None:
    try:
        if isinstance(value, (int, float)):  # bool is an int
            return float(value)
        kind = getattr(getattr(value, "dtype", None), "kind", None)
        if kind is not None and kind in "biuf" and getattr(value, "ndim", None) == 0:
            return float(value)
    except OverflowError:
        return None
    return None


def _is_image(value: Any) -> bool:
    figure_module = sys.modules.get("matplotlib.figure")
    if figure_module is not None and isinstance(value, figure_module.Figure):
        return True
    shape = getattr(value, "shape", None)
    kind = getattr(getattr(value, "dtype", None), "kind", None)
    if shape is None or kind is None or kind not in "biuf":
        return False
    return (len(shape) == 2 or (len(shape) == 3 and shape[2] in (1, 3, 4))) and min(shape[:2]) > 1


def _describe(value: Any) -> str:
    shape = getattr(value, "shape", None)
    if shape is not None:
        return f"{type(value).__name__} of shape {tuple(shape)}"
    return f"{type(value).__name__} {value!r:.60}"


def image_png(image: Any) -> bytes:
    """Encode a matplotlib figure or an image array as PNG bytes."""
    buffer = io.BytesIO()
    if hasattr(image, "savefig"):
        image.savefig(buffer, format="png")
    else:
        import matplotlib.image
        import numpy as np

        arr = np.asarray(image)
        if arr.ndim == 3 and arr.shape[2] == 1:
            arr = arr[:, :, 0]
        if arr.dtype.kind == "f" and arr.ndim == 3:
            arr = np.clip(arr, 0.0, 1.0)
        elif arr.dtype.kind in "iu" and arr.ndim == 3:
            arr = np.clip(arr, 0, 255).astype(np.uint8)
        elif arr.dtype.kind == "b":
            arr = arr.astype(np.uint8) * 255
        matplotlib.image.imsave(buffer, arr, format="png")
    return buffer.getvalue()


def series_stats(cols: Columns) -> dict[str, Any]:
    """Return final, min, max and count of a series (NaN ignored for min and max)."""
    values = cols.values
    finite = [x for x in values if not math.isnan(x)]
    return {
        "final": values[-1] if values else None,
        "min": min(finite) if finite else None,
        "max": max(finite) if finite else None,
        "count": len(values),
        "last_step": cols.steps[-1] if values else None,
    }


CSV_HEADER = "step,name,value,time\n"


def csv_lines(name: str, steps: Any, values: Any, times: Any) -> Iterator[str]:
    """Yield the metrics.csv lines of points of one series."""
    prefix = f",{name},"
    return (f"{s}{prefix}{v!r},{t!r}\n" for s, v, t in zip(steps, values, times, strict=True))


def csv_text(columns: dict[str, Columns]) -> str:
    """Return metrics.csv (step,name,value,time) for the given series."""
    out = [CSV_HEADER]
    for name, cols in columns.items():
        out.extend(csv_lines(name, cols.steps, cols.values, cols.times))
    return "".join(out)


def columns_from_csv(path: Path) -> dict[str, Columns]:
    """Read metrics.csv back into series columns."""
    flat: dict[str, list[Any]] = {}
    with open(path, encoding="utf-8") as handle:
        next(handle, None)
        for line in handle:
            step, name, value, when = line.rstrip("\n").split(",")
            flat.setdefault(name, []).extend((float(value), int(step), float(when)))
    return {name: Columns(points) for name, points in flat.items()}


def rebuild_from_journal(path: Path, csv_path: Path) -> dict[str, Columns]:
    """Write metrics.csv from the journal of a run that died, chunk by chunk; return the series.

    Points are kept as compact arrays only (a journal can hold hundreds of
    millions of them), and CSV lines go to one temporary file per series,
    joined at the end so the CSV is grouped by series as a finished run's is.
    """
    import shutil
    import tempfile

    columns: dict[str, Columns] = {}
    with tempfile.TemporaryDirectory(dir=csv_path.parent) as tmp:
        parts: dict[str, Any] = {}
        try:
            for name, chunk in journal.iter_journal(path):
                cols = columns.get(name)
                if cols is None:
                    cols = columns[name] = Columns.compact()
                    parts[name] = open(Path(tmp) / f"{len(parts)}.csv", "w", encoding="utf-8")  # noqa: SIM115
                steps = cols.extend(chunk)
                parts[name].writelines(csv_lines(name, steps, chunk[0::3], chunk[2::3]))
        finally:
            for handle in parts.values():
                handle.close()
        out = Path(tmp) / "metrics.csv"
        with open(out, "w", encoding="utf-8") as target:
            target.write(CSV_HEADER)
            for i in range(len(parts)):
                with open(Path(tmp) / f"{i}.csv", encoding="utf-8") as part:
                    shutil.copyfileobj(part, target)
        os.replace(out, csv_path)
    return columns
