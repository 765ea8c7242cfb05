"""A point with repeats is compared once, by its mean, when its last repeat's body returns.

Each repeat adds its final values to the sweep folder's `baseline-repeats.json`
under the sweep folder's lock (xdist workers and SLURM tasks share the disk);
the repeat that brings the count to the point's repeats gets them all back and
compares the mean. A repeat that failed never adds its values, so its point is
not compared (its test failed already).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..archive import layout
from ..archive.locks import run_lock
from .bounds import number

FILE = "baseline-repeats.json"


def register(
    sweep: Path, point: str, repeat: int, repeats: int, values: Mapping[str, Any]
) -> list[dict[str, Any]] | None:
    """Add one repeat's values; return every repeat's once all `repeats` have come, else None."""
    with run_lock(sweep):
        path = sweep / FILE
        try:
            found: dict[str, Any] = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            found = {}
        runs = found.setdefault(point, {})
        runs[f"rep{repeat}"] = {k: v for k, v in values.items() if number(v) is not None}
        layout.atomic_write_text(path, json.dumps(found, allow_nan=True) + "\n")
        if len(runs) < repeats:
            return None
        return [runs[key] for key in sorted(runs)]
