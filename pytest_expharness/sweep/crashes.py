"""The runs of a test whose worker died: crashed, or as they were if their data was final."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ..archive import layout
from ..catalog.reading import mark_crashed
from ..catalog.records import record_from_folder


def session_runs(root: Path, stamp: str, node_id: str) -> list[tuple[Path, str | None]]:
    """Return this session's run folders of node_id, each with the status its summary says."""
    patterns = [f"*/{stamp}/*/{layout.SUMMARY}", f"*/{layout.DEBUG_DIR}/*/{layout.SUMMARY}"]
    found = []
    for base in (root, root / layout.TESTING_DIR):
        for pattern in patterns:
            for path in base.glob(pattern):
                try:
                    summary = json.loads(path.read_text("utf-8"))
                except (OSError, ValueError):
                    continue
                if summary.get("session") == stamp and summary.get("node_id") == node_id:
                    found.append((path.parent, summary.get("status")))
    return found


def record_crash(root: Path, stamp: str, node_id: str, worker: str | None) -> list[dict[str, Any]]:
    """Record the runs of a test whose worker died; return their records.

    A run still `running` whose data was final is recorded as what it was, with
    a note (see catalog/reading.py); any other running one is recorded crashed. A run
    that had finished (the worker died after, in an analysis or a later
    teardown) is read as it is: its record never left the worker either.
    """
    from ..catalog.reading import complete

    records = []
    who = f"worker {worker}" if worker else "its process"
    for folder, status in session_runs(root, stamp, node_id):
        try:
            if status == "running" and complete(folder, who, worker=worker) is None:
                reason = f"{who} died while running it" if worker else "its process died"
                mark_crashed(folder, reason, worker=worker)
            records.append(record_from_folder(folder))
        except Exception as error:  # the session goes on; read_run can try again later
            print(f"expharness: could not record {folder} as crashed: {error}", file=sys.stderr)
    return records


def as_teardown(report: Any, records: list[dict[str, Any]]) -> str | None:
    """Make xdist's crash report of a test whose call was reported count as its teardown.

    The call's outcome is already counted; a second `failed` would count the test
    twice. If every run of the test kept its data, the teardown passed (and a
    line saying so is returned); otherwise it is a teardown error, as pytest
    reports any teardown that fails.
    """
    report.when = "teardown"
    if any(r.get("status") == "crashed" for r in records):
        return None
    report.outcome = "passed"
    said = f"expharness: {report.longrepr}; its data was complete: " + ", ".join(
        f"{r.get('run_id')} recorded {r.get('status')}" for r in records
    )
    report.longrepr = None
    return said
