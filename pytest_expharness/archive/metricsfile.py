"""metrics.csv: series as `step,name,value,time` rows, written, read back and rebuilt."""

from __future__ import annotations

import math
import os
from array import array
from collections.abc import Iterator, MutableSequence, Sequence
from pathlib import Path
from typing import Any

from . import journal


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
