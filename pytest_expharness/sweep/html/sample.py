"""The points of report.html's curves, read no further than a chart can show.

A chart is 640 px wide and overlays every run of the sweep, so each curve gets
a share of the chart's points (`curve_budget`): up to 1,000 for a small sweep,
as few as MIN_POINTS for a very large one. A run's series are read so that the
work is bounded by what is drawn, not by what was tracked:

- a series no longer than its share, or short enough for the sweep's parse
  budget, is read whole and thinned as the charts always did (each stretch's
  lowest and highest point), so small and mid-size sweeps look as before;
- a longer one is sampled: evenly spaced lines, its first and last included.
  metrics.csv is grouped by series and summary.json counts each one's points,
  so the lines to parse are found by index without parsing the others;
- a metrics.csv over WHOLE_FILE bytes is not read whole: lines are sampled at
  evenly spaced byte offsets (a few hundred bytes each), and each series ends
  on its final value from summary.json.

A run with series/ (archive/seriesfiles.py) is read there instead: its
records have a fixed size, so a long series' evenly spaced points are read by
offset, exactly, and a short one whole; metrics.csv is for runs without it.

`Sampled.thinned` says whether a run's curves were thinned or sampled, so the
page can say so plainly.
"""

from __future__ import annotations

import math
import os
from array import array
from functools import lru_cache
from pathlib import Path
from typing import Any

from ...archive import seriesfiles
from .plots import MAX_POINTS, POINTS_PER_CHART, _thin

MIN_POINTS = 4  # the fewest points a curve is drawn from, however many runs share its chart
CHART_FLOOR = 100  # the charts' own floor (plots.Plotter.curves): below it, the page says so
PARSE_BUDGET = 1_000_000  # lines of metrics.csv parsed per sweep at most, over all its runs
WHOLE_FILE = 4 * 1024 * 1024  # bytes: a larger metrics.csv is sampled by offset, never read whole
PROBE = 512  # bytes read at each sampled offset of a large metrics.csv


class Curve(array):  # type: ignore[type-arg]
    """A series' values (doubles, not float objects: 10,000 runs' worth), with `.steps`."""

    __slots__ = ("steps",)
    steps: Any


class Sampled(dict):  # type: ignore[type-arg]
    """A run's curves (name -> Curve) and whether any was thinned or sampled to fit its chart."""

    __slots__ = ("thinned",)

    def __init__(self) -> None:
        super().__init__()
        self.thinned = False


def curve_budget(runs: int) -> int:
    """The points each curve of a chart overlaying `runs` runs is drawn from, at most."""
    return max(MIN_POINTS, min(MAX_POINTS, POINTS_PER_CHART // max(runs, 1)))


def parse_limit(runs: int, series: int) -> int:
    """The longest series read whole (and thinned by extremes) in a sweep of `runs` runs."""
    return PARSE_BUDGET // max(runs * max(series, 1), 1)


def _curve(steps: list[int], values: list[float], budget: int) -> Curve:
    """A curve of at most `budget` points: each stretch's extremes, then the final point."""
    if len(steps) > budget:
        xs, ys = _thin([float(s) for s in steps], values, budget - 1)
        curve = Curve("d", [*ys, values[-1]])
        curve.steps = [*(int(x) if x.is_integer() else x for x in xs), steps[-1]]
        return curve
    curve = Curve("d", values)
    curve.steps = steps
    return curve


def _parse(line: bytes) -> tuple[int, str, float]:
    step, name, value, _ = line.split(b",")
    return int(step), name.decode("utf-8"), float(value)


def read_bytes(path: str) -> bytes:
    """A small file's bytes, with no file object (10,000 runs: a few hundred ms less)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = [os.read(fd, os.fstat(fd).st_size + 1)]
        while chunks[-1]:  # the file grew, or a short read
            chunks.append(os.read(fd, 1 << 20))
    finally:
        os.close(fd)
    return b"".join(chunks)


@lru_cache(maxsize=1024)
def _picks(count: int, budget: int) -> tuple[int, ...]:
    """`budget` evenly spaced indices of `count` (the first and the last included).

    Cached: the runs of a sweep mostly track series of the same lengths.
    """
    if count <= budget:
        return tuple(range(count))
    return tuple(sorted({round(i * (count - 1) / (budget - 1)) for i in range(budget)}))


def read_curves(folder: Path | str, summary: dict[str, Any], budget: int, limit: int) -> Sampled:
    """Read a run's curves, each `budget` points at most: from series/, else metrics.csv.

    Paths are joined as text: Path objects cost more than the reading for 10,000 runs.
    """
    base = os.fspath(folder)
    if os.path.exists(os.path.join(base, seriesfiles.FOLDER, seriesfiles.INDEX)):
        entries = seriesfiles.read_index(Path(base))
        if entries is not None:
            return _from_series(Path(base), entries, budget, limit)
    path = os.path.join(base, "metrics.csv")
    found = Sampled()
    try:
        size = os.stat(path).st_size
    except OSError:
        return found
    counts = {
        str(name): s.get("count")
        for name, s in (summary.get("metrics") or {}).items()
        if isinstance(s, dict)
    }
    if size > WHOLE_FILE and counts:
        return _probe(path, size, summary, budget)
    lines = read_bytes(path).split(b"\n")
    lines = lines[1:-1] if lines and not lines[-1] else lines[1:]
    grouped = _by_index(lines, counts) if counts else None
    if grouped is None:  # not grouped as summary.json counts it: parse every line
        flat: dict[str, tuple[list[int], list[float]]] = {}
        for line in lines:
            step, name, value = _parse(line)
            steps, values = flat.setdefault(name, ([], []))
            steps.append(step)
            values.append(value)
        for name, (steps, values) in flat.items():
            found[name] = _curve(steps, values, budget)
            found.thinned |= len(values) > budget
        return found
    for name, (start, count) in grouped.items():
        whole = count <= max(budget, limit)
        picked = range(count) if whole else _picks(count, budget)
        points = [_parse(lines[start + i]) for i in picked]
        found[name] = _curve([p[0] for p in points], [p[2] for p in points], budget)
        found.thinned |= count > budget
    return found


def _from_series(folder: Path, entries: list[dict[str, Any]], budget: int, limit: int) -> Sampled:
    """A run's curves from series/: short series whole (then thinned), long ones by offset."""
    found = Sampled()
    for entry in entries:
        count = entry.get("count")
        if not isinstance(count, int) or count < 0:
            raise ValueError(f"series/index.json: {entry['name']!r} has no count")
        whole = count <= max(budget, limit)
        picks = None if whole else list(_picks(count, budget))
        cols = seriesfiles.read_points(folder, entry, picks)
        found[entry["name"]] = _curve(list(cols.steps), list(cols.values), budget)
        found.thinned |= count > budget
    return found


def _by_index(lines: list[bytes], counts: dict[str, Any]) -> dict[str, tuple[int, int]] | None:
    """Where each series' lines start and how many there are; None unless grouped as counted."""
    if not all(isinstance(n, int) and n > 0 for n in counts.values()):
        return None
    if sum(counts.values()) != len(lines):
        return None
    out, start = {}, 0
    for name, count in counts.items():
        first, last, key = lines[start], lines[start + count - 1], name.encode("utf-8")
        if first.split(b",", 2)[1] != key or last.split(b",", 2)[1] != key:
            return None
        out[name] = (start, count)
        start += count
    return out


def _probe(path: str, size: int, summary: dict[str, Any], budget: int) -> Sampled:
    """Sample a large metrics.csv at evenly spaced byte offsets; each series ends on its final."""
    metrics = summary.get("metrics") or {}
    wanted = budget * len(metrics)
    points: dict[str, list[tuple[int, float]]] = {}
    fd = os.open(path, os.O_RDONLY)
    try:
        for i in range(wanted + 1):
            offset = min(size - 1, math.floor(i * size / wanted)) if wanted else 0
            chunk = os.pread(fd, PROBE, max(offset - 1, 0)).decode("utf-8", "replace")
            lines = chunk.split("\n")
            if len(lines) < 3:
                continue
            try:
                step, name, value = _parse(lines[1].encode("utf-8"))
            except ValueError:  # the header, or a line longer than PROBE
                continue
            points.setdefault(name, []).append((step, value))
    finally:
        os.close(fd)
    found = Sampled()
    found.thinned = True
    for name, stats in metrics.items():
        got = sorted(set(points.get(str(name), [])))
        last = (stats.get("last_step"), stats.get("final"))
        if isinstance(last[0], int) and isinstance(last[1], (int, float)):
            got = [p for p in got if p[0] < last[0]] + [(last[0], float(last[1]))]
        if got:
            curve = Curve("d", [p[1] for p in got])
            curve.steps = [p[0] for p in got]
            found[str(name)] = curve
    return found
