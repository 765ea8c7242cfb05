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
from ..plan.searchspace import grid_size, pruner_of, trial_count
from ..plan.spec import RunSpec
from ..session.state import SessionState, Settings
from . import study as S


class Pruned(pytest.skip.Exception):  # type: ignore[misc,name-defined]
    """Raised by exp.track when the pruner stops a trial (pytest shows the test skipped)."""


def wanted(settings: Settings, testing: bool, space: dict[str, Any]) -> int:
    """How many trials a study runs in all (a grid sampler's no more than its grid has)."""
    count = trial_count(settings.trials, testing)
    if settings.sampler == "grid":
        count = min(count, grid_size(space))
    return count


class Trial:
    """A started trial: its study, its number, and how its run reports to it.

    With repeats, a trial's repeats are runs of their own that share one trial: the
    first of them to start asks the study, the others find its number in the slots
    file, and the last to end tells the study the mean of their objectives. The
    pruner needs one curve per trial, so it applies only to trials without repeats.
    """

    def __init__(self, study: Any, number: int, spec: RunSpec, pruner: str, parent: Any) -> None:
        self.study = study
        self.number = number
        self.trial: Any = None  # Optuna's own trial object, which reports to the pruner
        self.metric = spec.metric
        self.pruner = pruner
        self.steps = 0
        self.parent = parent
        self.slot = f"{spec.study}/{spec.trial_slot}"
        self.repeat, self.repeats = spec.repeat, spec.repeats

    @classmethod
    def ask(cls, spec: RunSpec, state: SessionState) -> Trial | None:
        """Ask the study for this slot's parameters and put them into spec (None: study full)."""
        settings, stamp = state.settings, state.stamp
        parent = layout.experiment_parent(
            settings.root, spec.experiment, stamp, testing=spec.testing, debug=settings.debug
        )
        grid = names.run_id_for(spec.axes, spec.callspec_id, explicit=spec.explicit_ids)
        seed = settings.seed if settings.seed is not None else _seed(stamp)
        if settings.sampler not in S.SHARED_SEED:  # one stream per slot, not the same draws
            seed += spec.trial_slot or 0
        chosen = S.sampler(settings.sampler, seed, spec.search)
        pruner = pruner_of(settings.pruner, spec.repeats)
        if settings.debug:  # the debug folder is this session's before the study goes in
            from ..session import debugfolder

            debugfolder.claim(parent, stamp, state.controller)
        parent.mkdir(parents=True, exist_ok=True)
        name = S.study_name(grid if spec.axes else None)
        slot, asked = f"{name}/{spec.trial_slot}", None
        with run_lock(parent):
            study = S.open_study(parent, name, spec.mode, settings.resume, chosen, S.pruner(pruner))
            slots = S.read_slots(parent)
            number = slots.get(slot, {}).get("trial") if spec.repeats > 1 else None
            if number is None:
                if S.counted(study) >= wanted(settings, spec.testing, spec.search):
                    return None
                asked = study.ask({n: S.distribution(d) for n, d in spec.search.items()})
                number, params = asked.number, asked.params
                if spec.repeats > 1:
                    S.write_slots(parent, {**slots, slot: {"trial": number, "values": {}}})
            else:
                params = S.trial_params(study, number)
        sampled = {
            name: P.check_value(name, value, spec.declared[name].declared)
            for name, value in params.items()
        }
        spec.params.update(sampled)
        spec.id_axes = {"trial": number, **spec.axes}
        spec.axes = {**spec.axes, **sampled}
        spec.trial = number
        spec.study = study.study_name
        found = cls(study, number, spec, pruner, parent)
        found.trial = asked
        return found

    def attach(self, run: Any) -> None:
        """Report each point of the objective series to the trial (with a pruner)."""
        if self.pruner != "none" and self.metric and self.trial is not None and self.repeats == 1:
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
        value = objective(record or {}, self.metric) if status == "completed" else None
        if status == "completed" and value is None:
            print(
                f"expharness: trial {self.number} has no value of {self.metric!r}; "
                "told the study it failed",
                file=sys.stderr,
            )
        try:
            if self.repeats > 1:
                value, status = self._mean(value)
                if status is None:
                    return  # other repeats of the trial are still running
            if value is not None:
                self.study.tell(self.number, value)
            else:
                ended = state.PRUNED if status == "pruned" else state.FAIL
                self.study.tell(self.number, state=ended)
        except Exception as error:  # the run is archived: a study that cannot hear it is said
            print(f"expharness: telling the study failed: {error}", file=sys.stderr)

    def _mean(self, value: float | None) -> tuple[float | None, str | None]:
        """Keep this repeat's objective; once all repeats have ended, their mean."""
        with run_lock(self.parent):
            slots = S.read_slots(self.parent)
            entry = slots.setdefault(self.slot, {"trial": self.number, "values": {}})
            entry["values"][str(self.repeat)] = value
            S.write_slots(self.parent, slots)
        values = list(entry["values"].values())
        if len(values) < self.repeats:
            return None, None
        good = [v for v in values if v is not None]
        return (sum(good) / len(good) if good else None), "failed"


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
        settings = state.settings
        count = wanted(settings, spec.testing, spec.search)
        if settings.sampler == "grid" and count < trial_count(settings.trials, spec.testing):
            pytest.skip(f"the grid sampler has tried all {count} combinations of the space")
        pytest.skip(f"the study has its {count} trials already (--exp-trials)")
    return trial
