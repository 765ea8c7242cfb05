"""Per-run records travelling to the controller, and the end-of-session summary.

A finished run's record (plain JSON-able data) rides on its teardown report's
`user_properties`, which pytest-xdist carries from the workers; the controller,
or the lone process without xdist, collects them here. No shared file is written
by a worker.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

PROPERTY = "expharness_run"


def attach(report: pytest.TestReport, record: dict[str, Any]) -> None:
    """Put a run record on a report."""
    report.user_properties.append((PROPERTY, record))


def extract(report: pytest.TestReport) -> list[dict[str, Any]]:
    """Return the run records a report carries."""
    found: list[dict[str, Any]] = []
    for key, value in report.user_properties:
        if key == PROPERTY and isinstance(value, dict):
            found.append(value)
    return found


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
