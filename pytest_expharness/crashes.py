"""Finding the run folders of a session whose process died, and recording them crashed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from . import archive
from .reading import mark_crashed


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
        summary = mark_crashed(folder, reason, worker=worker)
        records.append(
            {
                "experiment": summary.get("experiment"),
                "run_id": summary.get("run_id"),
                "status": summary.get("status"),
                "path": str(folder),
                "duration": None,
                "testing": archive.TESTING_DIR in folder.parts,
            }
        )
    return records
