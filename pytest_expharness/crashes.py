"""Finding the run folders of a session whose process died, and recording them crashed."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from . import archive
from .reading import mark_crashed
from .records import record_from_folder


def running_runs(root: Path, stamp: str, node_id: str) -> list[Path]:
    """Return this session's run folders of node_id that still say `running`."""
    patterns = [f"*/{stamp}/*/{archive.SUMMARY}", f"*/{archive.DEBUG_DIR}/*/{archive.SUMMARY}"]
    found = []
    for base in (root, root / archive.TESTING_DIR):
        for pattern in patterns:
            for path in base.glob(pattern):
                try:
                    summary = json.loads(path.read_text("utf-8"))
                except (OSError, ValueError):
                    continue
                if (
                    summary.get("session") == stamp
                    and summary.get("node_id") == node_id
                    and summary.get("status") == "running"
                ):
                    found.append(path.parent)
    return found


def record_crash(root: Path, stamp: str, node_id: str, worker: str | None) -> list[dict[str, Any]]:
    """Mark the runs of a test whose worker died as crashed; return their records."""
    records = []
    for folder in running_runs(root, stamp, node_id):
        reason = f"worker {worker} died while running it" if worker else "its process died"
        try:
            mark_crashed(folder, reason, worker=worker)
            records.append(record_from_folder(folder))
        except Exception as error:  # the session goes on; read_run can try again later
            print(f"expharness: could not record {folder} as crashed: {error}", file=sys.stderr)
    return records
