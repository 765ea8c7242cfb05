"""Baselines from the archive: the runs labelled `baseline` (or another label) of a point.

`--exp-baseline=label:baseline` compares a run with the completed runs of the
same experiment and point that carry the label, in the newest session that has
any (all of them when they are repeats); testing runs with testing runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..archive.layout import TESTING_DIR
from .baselines import entry, point_of, run_values


def labelled_entry(
    root: Path, experiment: str, testing: bool, point: str, label: str
) -> tuple[dict[str, Any], str] | None:
    """The point's baseline entry and the session it came from; None when no run has the label."""
    from ..catalog.loading import Archive

    base = root / TESTING_DIR if testing else root
    if not base.is_dir():
        return None
    rows = Archive(base).runs(experiment=experiment, status="completed", label=label).rows
    mine = [r for r in rows if point_of(str(r.get("run_id"))) == point]
    if not mine:
        return None
    newest = mine[0].get("session")  # rows come newest first
    chosen = [r for r in mine if r.get("session") == newest]
    values = [run_values(r.get("metrics") or {}, r.get("results") or {}) for r in chosen]
    return entry({}, values), str(newest)
