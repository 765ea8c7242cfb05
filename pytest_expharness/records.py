"""The end-of-session summary of run records.

A finished run's record (plain JSON-able data) rides on its teardown report's
`user_properties`, which pytest-xdist carries from the workers; the controller,
or the lone process without xdist, collects them (see plugin.py). No shared
file is written by a worker.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any


def summary_lines(records: list[dict[str, Any]], cwd: Path) -> list[str]:
    """Return one line per experiment: how many runs, their statuses, and where they are."""
    by_folder: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for record in records:
        folder = str(Path(record["path"]).parent)
        by_folder.setdefault((record["experiment"], folder), []).append(record)
    lines = []
    for (experiment, folder), runs in sorted(by_folder.items()):
        counts = Counter(r["status"] for r in runs)
        states = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        where = os.path.relpath(folder, cwd) if folder.startswith(str(cwd)) else folder
        lines.append(f"{experiment}: {len(runs)} run{'s' * (len(runs) != 1)} ({states}) in {where}")
    return lines
