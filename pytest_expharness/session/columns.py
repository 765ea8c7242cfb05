"""The columns `--exp-columns` adds to a sweep's table: what each run used, and sys/ series.

    wall_s            wall time of the run (s)
    cpu_s             CPU time of the process that ran it, user + system (s)
    peak_rss_mb       its peak resident memory (MB)
    gpu_mem_mb        GPU memory peak, summed over the run's GPUs (MB)
    gpu_util_percent  GPU utilisation, the mean over the run's GPUs (%)
    resources         all five (the GPU ones only when some run of the sweep had a GPU)
    sys/NAME          the last sample of the sys/NAME series (e.g. sys/rss_mb)

They come from summary.json's `resources` and the run's sys/ series; a run
that did not record them (an older run, a reused one) leaves its cell empty.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

SYS = "sys/"
ALL = "resources"
RESOURCES = ("wall_s", "cpu_s", "peak_rss_mb", "gpu_mem_mb", "gpu_util_percent")


class ColumnError(ValueError):
    """A column name --exp-columns does not know."""


def parse(items: Iterable[str]) -> tuple[str, ...]:
    """Return the column names asked for (comma-separated, repeatable), in order, once each."""
    found: list[str] = []
    for item in items:
        for name in (part.strip() for part in str(item).split(",")):
            if not name:
                continue
            known_name = name == ALL or name in RESOURCES
            if known_name or (name.startswith(SYS) and len(name) > len(SYS)):
                found.append(name)
            else:
                known = ", ".join((*RESOURCES, ALL))
                raise ColumnError(f"--exp-columns: no column {name!r}; known: {known}, sys/NAME")
    return tuple(dict.fromkeys(found))


def expand(names: Iterable[str], records: list[dict[str, Any]]) -> list[str]:
    """The table's columns for the names asked for: `resources` becomes the five it stands for,
    without the GPU ones when no run of the sweep had a GPU reading."""
    gpus = any(isinstance(r.get("resources"), dict) and r["resources"].get("gpus") for r in records)
    found: list[str] = []
    for name in names:
        if name == ALL:
            found.extend(n for n in RESOURCES if gpus or not n.startswith("gpu_"))
        else:
            found.append(name)
    return list(dict.fromkeys(found))


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return None if math.isnan(value) else float(value)


def cell(record: dict[str, Any], column: str) -> float | None:
    """The value of an --exp-columns column for one run record; None when it has none."""
    if column.startswith(SYS):
        return _number((record.get("metrics") or {}).get(column))
    used = record.get("resources")
    if not isinstance(used, dict):
        return None
    if column == "wall_s":
        wall = _number(used.get("wall_s"))
        return None if wall is None else round(wall, 3)
    if column == "cpu_s":
        user, system = _number(used.get("cpu_user_s")), _number(used.get("cpu_system_s"))
        return None if user is None or system is None else round(user + system, 3)
    if column == "peak_rss_mb":
        rss = _number(used.get("peak_rss_bytes"))
        return None if rss is None else round(rss / 2**20, 1)
    gpus = [g for g in used.get("gpus") or () if isinstance(g, dict)]
    key = "memory_peak_mb" if column == "gpu_mem_mb" else "util_mean_percent"
    values = [v for v in (_number(g.get(key)) for g in gpus) if v is not None]
    if not values:
        return None
    total = sum(values) if column == "gpu_mem_mb" else sum(values) / len(values)
    return round(total, 1)
