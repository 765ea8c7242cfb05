"""Running a sweep's @sweep_analysis in the controller, once its table is written.

Which code runs: only the test modules this session collected, never a path an
archive recorded. The sweep's records say which module holds its experiment:

- a run of this session: its worker (or the lone process) wrote the file of the
  test it collected;
- a reused run (--exp-resume): the test of this session that reused it
  (resume.reusable); what the archived config.yaml says is dropped.

The module found there is used only if it is a .py file, is the file of the
run's node id (the path part of the node id ends the module's path), and lies
inside no run folder and no hidden folder of the archive (a code/ snapshot, an
artifact, an import being staged: the only places an import writes code to).
Without xdist the lone process collected that module: it is taken from the
loaded modules and nothing is imported. Under xdist, and when `expharness
collect` ends a SLURM job, the controller collected nothing and imports that
file. A module that fails the rule is not run, with a warning saying why.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Any

from ..archive import layout
from ..catalog.loading import RunRecord, read_folder
from ..plan.variants import bind, find_marked
from ..run.relay import notify
from .analyses import SWEEP_ATTR, AnalysisWarning, Commits, call, class_named, import_module_at
from .table import SweepTable


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


class Untrusted(Exception):
    """A record names a module this session did not collect."""


def _archive_root(table: SweepTable) -> Path:
    """The archive root of a sweep: <root>[/_testing]/<experiment>/<session or debug>."""
    base = Path(table.folder).parent.parent
    return base.parent if base.name == layout.TESTING_DIR else base


def collected_file(record: dict[str, Any], root: Path) -> Path:
    """Return the test module a record names, if the rule above allows it; else raise."""
    text, node_id = record.get("module"), str(record.get("node_id") or "")
    path = Path(os.path.abspath(str(text)))
    named = [p for p in PurePosixPath(node_id.split("::")[0]).parts if p != ".."]
    if path.suffix != ".py" or not named or list(path.parts[-len(named) :]) != named:
        raise Untrusted(f"{text} is not the test file of {node_id or 'its run'}")
    for parent in path.parents:
        if layout.is_run_folder(parent):
            raise Untrusted(f"{text} lies inside the run folder {parent}")
    top = Path(os.path.abspath(root))
    if top in path.parents:
        inside = path.relative_to(top).parts[:-1]
        if any(part.startswith(".") for part in inside):
            raise Untrusted(f"{text} lies in a hidden folder of the archive {top}")
    return path


def _function(records: list[dict[str, Any]], root: Path) -> tuple[Any, type | None] | None:
    first = next((r for r in records if r.get("module")), None)
    if first is None or not Path(first["module"]).is_file():
        return None
    path = collected_file(first, root)
    module = import_module_at(path, "sweep")  # the loaded module, if this process collected it
    cls = class_named(module, first.get("test_class"))
    found = find_marked(SWEEP_ATTR, None, cls, module)
    return None if found is None else (found, cls)


def analyse_sweeps(tables: list[SweepTable], records: list[dict[str, Any]]) -> None:
    """Call each sweep's @sweep_analysis (if it has one); rewrite its table files after."""
    from .tablefiles import write

    for table in tables:
        mine = [r for r in records if r.get("sweep") == table.folder and r.get("path")]
        try:
            located = _function(mine, _archive_root(table))
        except Untrusted as error:
            notify(
                f"sweep analysis of {table.folder} not run: {error}; code runs only from "
                "the test modules this session collected",
                AnalysisWarning,
            )
            continue
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
