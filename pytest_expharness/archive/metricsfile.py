"""metrics.csv rows (`step,name,value,time`) and series columns; seriesfiles.py writes both."""

from __future__ import annotations

import math
from collections.abc import Iterator, MutableSequence, Sequence
from pathlib import Path
from typing import Any


class Columns:
    """The points of one series: lists, or numpy arrays read from series/."""

    stats: dict[str, Any] | None = None  # the whole series' summary, when these are a sample

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
    def of(cls, values: Any, steps: Any, times: Any) -> Columns:
        """Columns from three equally long sequences (lists or numpy arrays)."""
        cols = cls([])
        cols.values, cols.steps, cols.times = values, steps, times
        return cols


def series_stats(cols: Columns) -> dict[str, Any]:
    """Return final, min, max and count of a series (NaN ignored for min and max)."""
    if cols.stats is not None:
        return dict(cols.stats)
    values = cols.values
    finite = [float(x) for x in values if not math.isnan(x)]
    return {
        "final": float(values[-1]) if len(values) else None,
        "min": min(finite) if finite else None,
        "max": max(finite) if finite else None,
        "count": len(values),
        "last_step": int(cols.steps[-1]) if len(values) else None,
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
