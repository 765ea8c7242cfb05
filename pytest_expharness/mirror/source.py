"""One run folder read for a mirror: its header, parameters, statuses, and its points streamed.

Points come in batches of at most `size` (name, value, step, time) tuples, so a
run of ten million points is never one list: from series/ (memory-mapped, a
slice at a time), else metrics.csv (a line at a time), else the journal of a
run that died before writing either (a chunk at a time). Reading changes
nothing in the folder: a run found dead reads `crashed` without being marked so.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..archive import layout

Point = tuple[str, float, int, float]
BATCH = 1000
FINAL_FILES = (layout.CONFIG, layout.SUMMARY, layout.DATA, layout.REPORT, layout.LOG)


@dataclass
class Source:
    """What a mirror needs of one run, read from its folder."""

    folder: Path
    config: dict[str, Any]
    summary: dict[str, Any]

    @property
    def header(self) -> dict[str, Any]:
        return dict(self.config.get("experiment") or {})

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.config.get("parameters") or {})

    @property
    def run_id(self) -> str:
        return str(self.header.get("run_id") or self.folder.name)

    @property
    def session(self) -> str:
        return str(self.header.get("session") or self.folder.parent.name)

    @property
    def experiment(self) -> str:
        return str(self.header.get("name") or self.folder.parent.parent.name)

    @property
    def status(self) -> str:
        return str(self.summary.get("status"))

    def series_names(self) -> list[str]:
        """The names of the run's scalar series, as its summary lists them."""
        return list(self.summary.get("metrics") or {})

    def points(self, size: int = BATCH) -> Iterator[list[Point]]:
        """Yield every point of every series in batches of at most `size`."""
        yield from _batches(_points(self.folder), size)

    def frames(self) -> Iterator[tuple[str, int, Path]]:
        """Yield (series name, step, png path) of every tracked image frame, in step order."""
        base = self.folder / layout.TRACKED
        for name in self.summary.get("frames") or {}:
            found: list[tuple[int, int, Path]] = []
            for path in (base / Path(*name.split("/"))).glob("*.png"):
                label, _, again = path.stem.partition("-")
                if label.isdigit() and (not again or again.isdigit()):
                    found.append((int(label), int(again or 0), path))
            for step, _, path in sorted(found):
                yield name, step, path

    def files(self) -> Iterator[tuple[Path, str]]:
        """Yield (file, folder inside the mirror) of what a mirror carries as artifacts."""
        for name in FINAL_FILES:
            if (self.folder / name).is_file():
                yield self.folder / name, ""
        for sub in (layout.ARTIFACTS, layout.PLOTS, layout.TRACKED):
            base = self.folder / sub
            for path in sorted(base.rglob("*")) if base.is_dir() else ():
                if path.is_file() and not path.name.endswith(".tmp"):
                    yield path, path.parent.relative_to(self.folder).as_posix()


def read(folder: Path) -> Source:
    """Read a run folder's config.yaml and summary.json (a damaged one raises DamagedRun)."""
    from ..catalog.damage import read_config, read_summary

    return Source(folder, read_config(folder), read_summary(folder, repair=False))


def _batches(points: Iterator[Point], size: int) -> Iterator[list[Point]]:
    batch: list[Point] = []
    for point in points:
        batch.append(point)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _points(folder: Path) -> Iterator[Point]:
    from ..archive import seriesfiles

    columnar = seriesfiles.read(folder)
    if columnar is not None:
        for name, cols in columnar.items():
            for start in range(0, len(cols), BATCH):  # a slice of the map at a time
                stop = start + BATCH
                values = cols.values[start:stop].tolist()  # type: ignore[attr-defined]
                steps = cols.steps[start:stop].tolist()  # type: ignore[attr-defined]
                times = cols.times[start:stop].tolist()  # type: ignore[attr-defined]
                yield from zip([name] * len(values), values, steps, times, strict=True)
    elif (folder / layout.METRICS).is_file():
        with open(folder / layout.METRICS, encoding="utf-8") as handle:
            next(handle, None)
            for line in handle:
                step, name, value, when = line.rstrip("\n").split(",")
                yield name, float(value), int(step), float(when)
    elif (folder / layout.JOURNAL).is_file():
        yield from _journal_points(folder / layout.JOURNAL)


def _journal_points(path: Path) -> Iterator[Point]:
    """The journal's points; an automatic step follows the series' step before it."""
    from ..archive.journal import iter_journal

    previous: dict[str, int] = {}
    for name, chunk in iter_journal(path):
        last = previous.get(name, -1)
        for i in range(0, len(chunk) - len(chunk) % 3, 3):
            value, step, when = chunk[i : i + 3]
            last = last + 1 if step is None else int(step)
            yield name, float(value), last, float(when)
        previous[name] = last
