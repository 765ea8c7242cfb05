"""One trial of a search, as its run goes: asked for when the run starts, told when it ends.

Each trial slot (a test item `[trial7]`) asks the study for its parameters the
moment it starts, so under `-n W` W trials are always in flight. The count and
the ask hold the session folder's lock together: a study never gets more than
--exp-trials trials (a resumed one counts its earlier trials). With a pruner,
each point of the objective series is reported to the trial as it is tracked,
and a hopeless trial stops there with status `pruned`, keeping all it tracked.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import pytest

from ..archive import layout, names
from ..archive.locks import run_lock
from ..plan import params as P
from ..plan.searchspace import trial_count
from ..plan.spec import RunSpec
from ..session.state import SessionState, Settings
from . import study as S


class Pruned(pytest.skip.Exception):  # type: ignore[misc,name-defined]
    """Raised by exp.track when the pruner stops a trial (pytest shows the test skipped)."""


def wanted(settings: Settings, testing: bool) -> int:
    """How many trials a study runs in all."""
    return trial_count(settings.trials, testing)


class Trial:
    """A started trial: its study, its Optuna trial, and how its run reports to it."""

    def __init__(self, study: Any, trial: Any, spec: RunSpec, pruner: str) -> None:
        self.study = study
        self.trial = trial
        self.metric = spec.metric
        self.pruner = pruner
        self.steps = 0

    @classmethod
    def ask(cls, spec: RunSpec, state: SessionState) -> Trial | None:
        """Ask the study for this slot's parameters and put them into spec (None: study full)."""
        settings, stamp = state.settings, state.stamp
        parent = layout.experiment_parent(
            settings.root, spec.experiment, stamp, testing=spec.testing, debug=settings.debug
        )
        grid = names.run_id_for(spec.axes, spec.callspec_id, explicit=spec.explicit_ids)
        seed = (settings.seed if settings.seed is not None else _seed(stamp)) + (
            spec.trial_slot or 0
        )
        chosen = S.sampler(settings.sampler, seed, spec.search)
        if settings.debug:  # the debug folder is this session's before the study goes in
            from ..session import debugfolder

            debugfolder.claim(parent, stamp, state.controller)
        parent.mkdir(parents=True, exist_ok=True)
        with run_lock(parent):
            study = S.open_study(
                parent,
                S.study_name(grid if spec.axes else None),
                spec.mode,
                settings.resume,
                chosen,
                S.pruner(settings.pruner),
            )
            if S.counted(study) >= wanted(settings, spec.testing):
                return None
            trial = study.ask({name: S.distribution(d) for name, d in spec.search.items()})
        sampled = {
            name: P.check_value(name, value, spec.declared[name].declared)
            for name, value in trial.params.items()
        }
        spec.params.update(sampled)
        spec.id_axes = {"trial": trial.number, **spec.axes}
        spec.axes = {**spec.axes, **sampled}
        spec.trial = trial.number
        spec.study = study.study_name
        return cls(study, trial, spec, settings.pruner)

    def attach(self, run: Any) -> None:
        """Report each point of the objective series to the trial (with a pruner)."""
        if self.pruner != "none" and self.metric:
            run._tracker.watch(self.metric, self._report)

    def _report(self, value: float, step: int | None) -> None:
        step = self.steps if step is None else step
        self.steps += 1
        if not math.isfinite(value):
            return
        self.trial.report(value, step)
        if self.steps > 1 and self.trial.should_prune():  # never at the first point: a
            # one-point objective would be pruned after all its work
            raise Pruned(f"pruned at step {step} by the {self.pruner} pruner ({value:.6g})")

    def tell(self, record: dict[str, Any] | None) -> None:
        """Tell the study how the trial ended: its objective, pruned, or failed."""
        state = S.optuna().trial.TrialState
        status = (record or {}).get("status")
        try:
            if status == "completed":
                value = objective(record or {}, self.metric)
                if value is not None:
                    self.study.tell(self.trial, value)
                    return
                print(
                    f"expharness: trial {self.trial.number} has no value of {self.metric!r}; "
                    "told the study it failed",
                    file=sys.stderr,
                )
            self.study.tell(self.trial, state=state.PRUNED if status == "pruned" else state.FAIL)
        except Exception as error:  # the run is archived: a study that cannot hear it is said
            print(f"expharness: telling the study failed: {error}", file=sys.stderr)


def objective(record: dict[str, Any], metric: str | None) -> float | None:
    """A finished run's objective: the final value of the main metric (series or results/)."""
    if not metric:
        return None
    for found in (record.get("metrics", {}).get(metric), record.get("results", {}).get(metric),
                  record.get("results", {}).get(f"results/{metric}")):  # fmt: skip
        if isinstance(found, (int, float)) and not isinstance(found, bool):
            return None if math.isnan(found) else float(found)
    return None


def _seed(stamp: str) -> int:
    """A sampler seed from the session stamp (the same within one session)."""
    import zlib

    return zlib.crc32(stamp.encode("utf-8")) % 2**31


def start(spec: RunSpec, state: SessionState) -> Trial:
    """Start this trial slot's trial, or skip the slot when its study has all its trials."""
    try:
        trial = Trial.ask(spec, state)
    except S.SearchUnavailable as error:
        pytest.fail(str(error), pytrace=False)
    if trial is None:
        count = wanted(state.settings, spec.testing)
        pytest.skip(f"the study has its {count} trials already (--exp-trials)")
    return trial
