"""The end of a session (or of a SLURM job): tables, sweep analyses, reports, the index."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .relay import notify
from .sweeptable import SweepTable


def finalize(
    records: list[dict[str, Any]], root: Path, stamp: str, interrupted: bool
) -> list[SweepTable]:
    """Write every sweep's tables and report.html, run sweep analyses, index the runs.

    Runs whose record never arrived are read back from their folders (see
    sweepfiles.fill_gaps). Returns the tables, for the terminal.
    """
    from .archive import DEBUG_DIR, TESTING_DIR
    from .htmlreport import write_sweep_reports
    from .index import index_records
    from .sweepfiles import write_sweeps

    tables, every = write_sweeps(records, root, stamp, interrupted)
    if not interrupted:
        from .sweepanalysis import analyse_sweeps

        analyse_sweeps(tables, every)
    for problem in write_sweep_reports(tables, every):
        notify(f"expharness: {problem}")
    new = [
        r
        for r in every
        if r["status"] != "reused" and r.get("path") and Path(r["sweep"]).name != DEBUG_DIR
    ]
    for testing in (False, True):
        chosen = [r for r in new if r["testing"] == testing]
        if not chosen:
            continue
        try:
            index_records(root / TESTING_DIR if testing else root, chosen, stamp)
        except Exception as error:  # the folders hold everything; reindex can catch up
            notify(f"expharness: the index was not updated: {error}")
    return tables
