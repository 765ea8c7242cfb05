"""Running a sweep's @sweep_analysis in the controller, once its table is written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .analyses import SWEEP_ATTR, AnalysisWarning, Commits, call, class_named, import_module_at
from .loading import RunRecord, read_folder
from .relay import notify
from .sweeptable import SweepTable
from .variants import bind, find_marked


class Sweep(Commits):
    """All runs of one sweep as a @sweep_analysis sees them; commits go to <session>/analysis/."""

    def __init__(self, table: SweepTable, runs: list[RunRecord]) -> None:
        self.table = table
        self.runs = runs
        self.base = Path(table.folder)
        self.experiment = table.experiment
        self.session = table.session

    @property
    def best(self) -> RunRecord | None:
        """The best run by the main metric (None without one)."""
        return next((r for r in self.runs if r.run_id == self.table.best), None)

    @property
    def completed(self) -> list[RunRecord]:
        """The runs that completed (or were reused)."""
        return [r for r in self.runs if r.status in ("completed", "reused")]

    def recommend(self, text: str) -> None:
        """Add a recommendation line, shown under the sweep's table."""
        self.table.recommendations.append(str(text))


def _function(records: list[dict[str, Any]]) -> tuple[Any, type | None] | None:
    first = next((r for r in records if r.get("module")), None)
    if first is None or not Path(first["module"]).is_file():
        return None
    module = import_module_at(Path(first["module"]), "sweep")
    cls = class_named(module, first.get("test_class"))
    found = find_marked(SWEEP_ATTR, None, cls, module)
    return None if found is None else (found, cls)


def analyse_sweeps(tables: list[SweepTable], records: list[dict[str, Any]]) -> None:
    """Call each sweep's @sweep_analysis (if it has one); rewrite its table files after."""
    from .sweepfiles import write

    for table in tables:
        mine = [r for r in records if r.get("sweep") == table.folder and r.get("path")]
        try:
            located = _function(mine)
        except Exception as error:  # the module no longer imports
            notify(f"sweep analysis of {table.folder}: {error}", AnalysisWarning)
            continue
        if located is None:
            continue
        found, cls = located
        runs = []
        for record in mine:
            try:
                runs.append(read_folder(Path(record["path"])))
            except (OSError, ValueError):
                continue
        sweep = Sweep(table, runs)
        outcome = call(bind(found, cls, None), sweep, found[1])
        if outcome["status"] == "failed":
            notify(
                f"sweep analysis {found[1]} of {table.folder} failed: {outcome['error']}",
                AnalysisWarning,
            )
        outcome["files"] = sweep.written()
        table.analysis = outcome
        write(table)
