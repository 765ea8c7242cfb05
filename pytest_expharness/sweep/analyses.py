"""Analysis of finished runs and sweeps.

    @analysis
    def plot_errors(run):                 # after each completed run, and by `expharness analyze`
        run.commit_fig("errors.png", fig)  # into <run>/analysis/

    @sweep_analysis
    def pick(sweep):                      # once per sweep, in the controller
        sweep.recommend(f"use lr={sweep.best.params['LR']}")

An analysis gets the `load_run` record of the run, with commit helpers that
write into the run's `analysis/` folder; a sweep analysis gets every run of the
sweep and writes into the session folder. A failing analysis never changes the
run's status: it is logged, recorded in summary.json and raised as a warning.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import sys
import traceback
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from _pytest.warning_types import PytestWarning  # pytest.PytestWarning, light for the CLI

from ..archive import layout
from ..catalog.loading import RunRecord, read_folder
from ..plan.variants import bind, find_marked
from ..run import artifacts
from ..run.relay import notify

ANALYSIS_ATTR = "__expharness_analysis__"
SWEEP_ATTR = "__expharness_sweep_analysis__"
FOLDER = "analysis"
F = TypeVar("F", bound=Callable[..., Any])


class AnalysisWarning(PytestWarning):
    """An analysis function raised; the run itself is unchanged."""


def analysis(func: F) -> F:
    """Mark a function (or method) to analyse each completed run right after it ends."""
    setattr(func, ANALYSIS_ATTR, True)
    return func


def sweep_analysis(func: F) -> F:
    """Mark a function (or method) to analyse all runs of a sweep at the end of the session."""
    setattr(func, SWEEP_ATTR, True)
    return func


class Commits:
    """commit_json / commit_fig / commit_raw into `<base>/analysis/`."""

    base: Path

    @property
    def folder(self) -> Path:
        """Where the commits go."""
        return self.base / FOLDER

    def written(self) -> list[str]:
        """The files in the analysis folder, relative to it."""
        folder = self.folder
        if not folder.is_dir():
            return []
        return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())

    def commit_json(self, name: str, obj: Any) -> Path:
        """Write obj as JSON into the analysis folder."""
        return artifacts.write(self.base, name, artifacts.json_bytes(name, obj), FOLDER)

    def commit_fig(self, name: str, fig: Any, **savefig: Any) -> Path:
        """Write a matplotlib figure ('.png' unless the name says otherwise)."""
        name, data = artifacts.figure_bytes(name, fig, **savefig)
        return artifacts.write(self.base, name, data, FOLDER)

    def commit_raw(self, name: str, content: str | bytes) -> Path:
        """Write text or bytes."""
        data = content.encode("utf-8") if isinstance(content, str) else bytes(content)
        return artifacts.write(self.base, name, data, FOLDER)


class AnalysisRun(RunRecord, Commits):
    """A finished run as an analysis sees it: the load_run record, writing into analysis/."""

    @property
    def base(self) -> Path:  # type: ignore[override]
        return self.path


def _as_analysis_run(record: RunRecord) -> AnalysisRun:
    return AnalysisRun(record.path, record.config, record.summary, record.data, record.metrics)


def _record_outcome(folder: Path, outcome: dict[str, Any]) -> None:
    from ..archive.locks import update_summary

    summary = update_summary(folder, lambda found: found.update(analysis=outcome))
    with open(folder / layout.LOG, "a", encoding="utf-8") as log:
        text = outcome.get("traceback") or ", ".join(outcome.get("files") or []) or "no files"
        level = "INFO" if outcome["status"] == "completed" else "ERROR"
        stamp = dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        log.write(
            f"{stamp} {level} analysis {outcome['status']} ({outcome['function']}, "
            f"{outcome['source']}): {text.rstrip()}\n"
        )
    from ..archive.yamltext import load
    from ..report import runreport

    config = load((folder / layout.CONFIG).read_text("utf-8"))
    runreport.write_report(folder, config, summary)  # REPORT.md lists the analysis files


def call(func: Callable[[Any], Any], argument: Any, where: str) -> dict[str, Any]:
    """Call an analysis function; return its outcome (never raising what it raised)."""
    outcome: dict[str, Any] = {"function": where}
    try:
        func(argument)
    except Exception as error:
        outcome.update(status="failed", error=f"{type(error).__name__}: {error}")
        outcome["traceback"] = traceback.format_exc()
    else:
        outcome["status"] = "completed"
    return outcome


def analyse_run(
    folder: Path, cls: type | None, module: types.ModuleType | None, instance: Any, source: str
) -> dict[str, Any] | None:
    """Run the @analysis function of a test on a finished run folder; return what happened."""
    found = find_marked(ANALYSIS_ATTR, None, cls, module)
    if found is None:
        return None
    run = _as_analysis_run(read_folder(folder))
    outcome = {**call(bind(found, cls, instance), run, found[1]), "source": source}
    outcome["files"] = run.written()
    _record_outcome(folder, outcome)  # first: a warning turned into an error loses nothing
    if outcome["status"] == "failed":
        notify(
            f"analysis {found[1]} of {folder} failed: {outcome['error']} (the run stays "
            f"{run.status}; see its run.log)",
            AnalysisWarning,
        )
    return outcome


def import_module_at(
    path: Path, name_hint: str, extra_paths: tuple[Path, ...] = ()
) -> types.ModuleType:
    """Import a module from a file (its folder first on sys.path, for its own imports)."""
    for loaded in list(sys.modules.values()):
        if getattr(loaded, "__file__", None) == str(path):
            return loaded
    name = f"_expharness_{name_hint}_{abs(hash(str(path)))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    module.__expharness_name__ = path.stem  # type: ignore[attr-defined]  # shown, not the alias
    added = [str(p) for p in (path.parent, *extra_paths)]
    sys.path[:0] = added
    try:
        sys.modules[name] = module
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    finally:
        for entry in added:
            sys.path.remove(entry)
    return module


class NotTrusted(Exception):
    """Running a stored run's code that was not asked for explicitly enough."""


def _snapshot(folder: Path, code: list[Any]) -> Path | None:
    """The run's code snapshot, which lies inside its code/ folder (or None without one)."""
    if not code:
        return None
    name = str(code[0])
    base = (folder / "code").resolve()
    snapshot = (base / name).resolve()
    if base not in snapshot.parents:
        raise NotTrusted(
            f"{folder}: config.yaml names the code snapshot {name!r}, which is not inside "
            "the run's code/ folder; refusing to run it"
        )
    return snapshot


def rerun(folder: Path, current: bool, trust: bool = False) -> tuple[dict[str, Any] | None, str]:
    """Run a stored run's @analysis again: from its code snapshot, or the current module.

    This runs code, by request only: the run's code/ snapshot, or with `current`
    the module its config.yaml names. For a run imported from someone else's
    archive that is their code: refused unless `trust`. Returns the outcome
    (None without an @analysis) and where the code came from.
    """
    from ..archive.yamltext import load

    config = load((folder / layout.CONFIG).read_text("utf-8"))
    head = config.get("experiment") or {}
    original = Path(head["module"]) if head.get("module") else None
    snapshot = _snapshot(folder, list(head.get("code") or []))
    if not current and snapshot is not None and snapshot.is_file():
        shown = snapshot.relative_to(folder.resolve()).as_posix()
        path, source = snapshot, f"the code snapshot {shown}"
    elif original is not None and original.is_file():
        path, source = original, f"the current module {original}"
    else:
        raise FileNotFoundError(
            f"{folder}: neither a code snapshot nor the module {original} is there"
        )
    imported = head.get("imported_from")
    if imported and not trust:
        where = imported.get("archive") if isinstance(imported, dict) else imported
        raise NotTrusted(
            f"{folder} was imported (from {where}): analyze would run {source}, code that "
            "came with it; read it, then pass --trust to run it"
        )
    extra = (original.parent,) if original is not None else ()
    module = import_module_at(path, "analysis", extra)
    cls = class_named(module, head.get("test_class"))
    outcome = analyse_run(folder, cls, module, None, source)
    return outcome, source


def class_named(module: types.ModuleType, qualname: str | None) -> type | None:
    """Return the test class of a module by its qualified name (None for a module-level test)."""
    if not qualname:
        return None
    found: Any = module
    for part in qualname.split("."):
        found = getattr(found, part, None)
    return found if isinstance(found, type) else None
