"""The search section of report.html: each study's trials, its history and parameter importances.

Read from the session's study.journal with Optuna itself (imported only when the
session searched); the importances are Optuna's own (fANOVA).
"""

from __future__ import annotations

import math
import sys
import warnings
from pathlib import Path
from typing import Any

from ...report.svgchart import Chart, colours
from ..table import SweepTable
from .parts import esc

STUDY_FILE = "study.journal"  # search/study.py's STUDY_FILE


def search_section(table: SweepTable) -> str:
    """The section for a table whose session searched (empty for any other)."""
    path = Path(table.folder) / STUDY_FILE
    if not path.is_file():
        return ""
    try:
        studies = _studies(path)
    except Exception as error:  # a damaged study file: the rest of the page stands
        print(f"expharness: reading {path} failed: {error}", file=sys.stderr)
        return f"<h2>Search</h2><p class='problem'>{esc(path.name)} could not be read.</p>"
    parts = ["<h2>Search</h2>"]
    for study in studies:
        parts.append(_study(study, len(studies) > 1))
    return "".join(parts)


def _studies(path: Path) -> list[Any]:
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = JournalStorage(JournalFileBackend(str(path)))
    return [
        optuna.load_study(study_name=summary.study_name, storage=storage)
        for summary in optuna.get_all_study_summaries(storage)
    ]


def _study(study: Any, named: bool) -> str:
    trials = study.get_trials(deepcopy=False)
    counts: dict[str, int] = {}
    for trial in trials:
        counts[trial.state.name.lower()] = counts.get(trial.state.name.lower(), 0) + 1
    said = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
    head = f"<h3>Study {esc(study.study_name)}</h3>" if named else ""
    done = [t for t in trials if t.state.name == "COMPLETE" and _finite(t.value)]
    text = f"<p>{len(trials)} trials ({esc(said)}); direction {esc(_direction(study))}."
    if done:
        best = (
            min(done, key=lambda t: t.value)
            if _minimize(study)
            else max(done, key=lambda t: t.value)
        )
        shown = ", ".join(f"{esc(k)}={esc(_short(v))}" for k, v in best.params.items())
        text += f" Best: trial {best.number}, {best.value:.6g} ({shown}).</p>"
    else:
        text += "</p>"
    return head + text + _history(study, done) + _importances(study, done)


def _history(study: Any, done: list[Any]) -> str:
    if not done:
        return ""
    done = sorted(done, key=lambda t: t.number)
    chart = Chart(title="Optimisation history", xlabel="trial", ylabel="objective", ident="h")
    blue, orange = colours(2)
    chart.scatter([t.number for t in done], [t.value for t in done], blue)
    best, bests = None, []
    for t in done:
        if best is None or (t.value < best if _minimize(study) else t.value > best):
            best = t.value
        bests.append(best)
    chart.line([t.number for t in done], bests, orange, width=1.6, title="best so far")
    return f"<div class='search-history'>{chart.render(css_class='chart search')}</div>"


def _importances(study: Any, done: list[Any]) -> str:
    if len(done) < 2 or not done[0].params:
        return ""
    import optuna

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found = optuna.importance.get_param_importances(study)
    except Exception:  # too few distinct trials, or a parameter that never varied
        return "<p>Parameter importances: not enough distinct completed trials yet.</p>"
    if not found:
        return ""
    chart = Chart(title="Parameter importances (fANOVA)", ylabel="importance", ident="i")
    for name, value in found.items():
        chart.bar(name, value)
    return f"<div class='search-importance'>{chart.render(css_class='chart search')}</div>"


def _minimize(study: Any) -> bool:
    return bool(study.direction.name == "MINIMIZE")


def _direction(study: Any) -> str:
    return "minimize" if _minimize(study) else "maximize"


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _short(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)
