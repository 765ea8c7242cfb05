"""Tracked metric series: a cheap hot path and durable journaling (metricsfile.py writes the CSV).

`Exp.track` extends one flat list per series with `(value, step or None, clock)`:
a single C call, so under the GIL the list always holds whole triples. The
flusher thread moves what the list holds into the journal and out of memory
(`Tracker.flush`), so memory holds at most one flush interval of points. At the
end, archive/seriesfiles.py streams the journal (or, for a run too short to
have one, the lists) into series/ and metrics.csv. Once the journal of a run
that asked for it (Exp does) passes seriesfiles.COLUMNAR_BYTES, the flusher
starts the run's helper process (archive/seriesio/split.py), which writes those
files as the run goes; `write_files` ends with it, or without it if it failed.
"""

from __future__ import annotations

import contextlib
import io
import operator
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from ..archive import journal, layout, seriesfiles
from ..archive.metricsfile import Columns
from ..archive.seriesio.split import Helper

CHUNK_POINTS = 131072  # points a journal record holds at most
# an automatic step is the step before it + 1: room for 2**32 of them after the largest step
STEP_LIMIT = 2**63 - 2**32
LIVE_SERIES = 6  # series whose latest value live.json holds
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


class Tracker:
    """All series of one run: hot lists of unjournaled points, the journal and image frames."""

    def __init__(
        self, folder: Path, clock: Callable[[], float] = time.time, helper: bool = False
    ) -> None:
        self.folder = folder
        self._want_helper = helper  # a helper process writes series/ as a big run goes
        self._helper: Helper | None = None
        self._intact = True  # no journal write failed (and was rolled back)
        self._clock = clock
        self.hot: dict[str, Extend] = {}
        self._lists: dict[str, list[Any]] = {}
        self.counts: dict[str, int] = {}  # points journaled, per series
        self.latest: dict[str, float] = {}  # the last journaled value, per series (live.json)
        self.top_step: dict[str, int] = {}  # the largest explicit step journaled, per series
        self.frames: dict[str, int] = {}
        self._ids: dict[str, int] = {}
        self._journal: BinaryIO | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._watchers: dict[str, Callable[[float, int | None], None]] = {}

    # -- the experiment's side -------------------------------------------------

    def track_slow(self, name: str, value: Any, step: Any, at: float | None = None) -> None:
        """Validate and record a point the hot path did not take (`at`: a carried point's time)."""
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
            extend = self.hot[name] = self._hot_entry(name, flat)
        extend((number, step, self._clock() if at is None else at))

    def watch(self, name: str, callback: Callable[[float, int | None], None]) -> None:
        """Call callback(value, step) after each point of series name is kept (a search's pruner).

        The series' hot-path entry becomes a Python function that keeps the
        point first, so a callback that raises (a pruned trial) loses nothing.
        """
        if name in self.hot:
            raise RuntimeError(f"track: series {name!r} is tracked already; watch it before")
        self._watchers[name] = callback

    def _hot_entry(self, name: str, flat: list[Any]) -> Extend:
        callback = self._watchers.get(name)
        if callback is None:
            return flat.extend

        def keep_and_report(point: tuple[float, Any, float], extend: Extend = flat.extend) -> None:
            extend(point)
            callback(point[0], point[1])

        return keep_and_report

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
        """Move every series' new points to the journal, out of memory; return how many.

        The hot path only ever appends whole triples (one C call), and only this
        method removes any: it copies the first n entries, journals them, then
        deletes exactly those (`del flat[:n]`, one C call), so points appended
        meanwhile stay for the next flush.
        """
        moved = 0
        with self._lock:
            if self._closed:
                return 0
            for name, flat in list(self._lists.items()):
                n = len(flat)
                if not n:
                    continue
                value, step = flat[n - 3], flat[n - 2]
                self.latest[name] = value
                if step is not None and step > self.top_step.get(name, step - 1):
                    self.top_step[name] = step
                handle = self._open_journal()
                sid = self._ids.get(name)
                if sid is None:
                    sid = self._ids[name] = len(self._ids)
                    journal.write_series(handle, sid, name)
                left = n
                while left:  # each chunk leaves memory once written: a failed write repeats none
                    size = min(left, 3 * CHUNK_POINTS)
                    start = handle.tell()
                    try:
                        journal.write_chunk(handle, sid, flat[:size])
                    except BaseException:  # no half record stays in the middle of the journal
                        self._intact = False  # a helper may have read what is rolled back
                        with contextlib.suppress(OSError):
                            handle.seek(start)
                            handle.truncate()
                        raise
                    del flat[:size]
                    left -= size
                    self.counts[name] = self.counts.get(name, 0) + size // 3
                    moved += size // 3
            if moved and self._journal is not None:
                self._journal.flush()
                if self._want_helper and self._journal.tell() >= seriesfiles.COLUMNAR_BYTES:
                    self._want_helper = False
                    self._helper = Helper.start(self.folder)
        return moved

    def live_state(self, main: str | None) -> tuple[int | None, dict[str, float]]:
        """Return the main series' step and the latest values (main first, LIVE_SERIES at most).

        The step is the larger of the main series' point count and its largest
        explicit step, so steps 0..9 and 1..10 both read 10 at the end.
        """
        latest = self.latest
        if main not in latest:  # the first series the run tracked itself, else sys/...
            main = next((n for n in latest if not n.startswith("sys/")), next(iter(latest), None))
        if main is None:
            return None, {}
        rest = sorted((n for n in latest if n != main), key=lambda n: n.startswith("sys/"))
        names = [main, *rest][:LIVE_SERIES]  # the run's own series before its sys/ ones
        step = max(self.counts.get(main, 0), self.top_step.get(main, 0))
        return step, {n: latest[n] for n in names}

    def last_step(self) -> int:
        """The largest step journaled in any series (0 before any point)."""
        steps = [max(self.counts.get(n, 0) - 1, self.top_step.get(n, -1)) for n in self.counts]
        return max([0, *steps])

    def held(self) -> int:
        """Return how many points are in memory, not yet journaled."""
        return sum(len(flat) for flat in self._lists.values()) // 3

    def chunks(self) -> Iterator[tuple[str, list[Any]]]:
        """Yield every point tracked, as (name, flat chunk): from the journal, or from memory.

        Call after close(): a run that has a journal has flushed everything into it.
        """
        path = self.folder / layout.JOURNAL
        if self._journal is not None and path.exists():
            yield from journal.iter_journal(path)
            yield from ((name, flat) for name, flat in self._lists.items() if flat)
            return
        yield from self._lists.items()

    def write_files(self) -> dict[str, Columns]:
        """Write series/ and metrics.csv (after close()): with the helper, or alone.

        Without a helper, or when it fails, the journal (or memory) is streamed
        here (seriesfiles.write); the files are the same either way.
        """
        helper, self._helper = self._helper, None
        if helper is not None:
            path = self.folder / layout.JOURNAL
            if self._intact and not self.held() and path.exists():
                columns = helper.finish(path.stat().st_size)
                if columns is not None:
                    return columns
            else:
                helper.stop()
        try:
            return seriesfiles.write(self.folder, self.chunks())
        except BaseException:  # the points only memory holds go to the journal: none is lost
            with contextlib.suppress(OSError):
                self._journal_memory()
            raise

    def _journal_memory(self) -> None:
        """Append the points still in memory to the journal (after close, when writing failed)."""
        if not any(self._lists.values()):
            return
        with open(self.folder / layout.JOURNAL, "ab") as handle:
            if handle.tell() == 0:
                handle.write(journal.MAGIC)
            for name, flat in self._lists.items():
                if flat:
                    sid = self._ids.get(name)
                    if sid is None:
                        sid = self._ids[name] = len(self._ids)
                        journal.write_series(handle, sid, name)
                    journal.write_chunk(handle, sid, flat)
                    self.counts[name] = self.counts.get(name, 0) + len(flat) // 3
        for flat in self._lists.values():
            flat.clear()

    def _open_journal(self) -> BinaryIO:
        if self._journal is None:
            self._journal = open(self.folder / layout.JOURNAL, "ab")  # noqa: SIM115
            if self._journal.tell() == 0:
                self._journal.write(journal.MAGIC)
        return self._journal

    def close(self) -> None:
        """Stop flushing, after a last flush if the run is long enough to have a journal.

        A short run (no journal yet) writes its files from memory right after;
        a long one journals the rest, and its files are written from the journal.
        """
        self._want_helper = False  # too late to start one
        try:
            if self._journal is not None:
                self.flush()  # a failure leaves its points in memory: chunks() yields them
        finally:
            with self._lock:
                self._closed = True
                if self._journal is not None:
                    self._journal.close()

    def discard_journal(self) -> None:
        """Remove the journal once metrics.csv holds everything."""
        (self.folder / layout.JOURNAL).unlink(missing_ok=True)


def check_total(where: str, total: Any) -> int:
    """Return a run's number of steps, or raise saying that it must be a positive int."""
    if isinstance(total, bool) or not hasattr(total, "__index__") or operator.index(total) < 1:
        raise ValueError(f"{where}: total must be a positive int (the run's steps), got {total!r}")
    return operator.index(total)


def _as_step(name: str, step: Any) -> int:
    if isinstance(step, bool) or not hasattr(step, "__index__"):
        raise TypeError(f"track({name!r}): step must be an int, got {_describe(step)}")
    index: int = operator.index(step)
    if not -(2**63) <= index < STEP_LIMIT:
        raise ValueError(
            f"track({name!r}): step {index} is out of range; steps lie in [-2**63, 2**63 - 2**32) "
            "(64 bits, with room for the automatic steps that may follow)"
        )
    return index


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
