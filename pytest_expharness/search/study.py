"""A session's Optuna studies: one journal file in the experiment's session folder.

Optuna's journal file storage is safe for many processes on one machine and on
a shared filesystem, so xdist workers and SLURM array tasks all ask the same
study for their next trial. Each grid point of an experiment has a study of its
own in that file (named after the point, `search` without one). With
--exp-resume the latest earlier session's file is copied in first: the study
goes on from where it stopped, and the earlier session is left as it was.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from ..archive.locks import run_lock
from ..plan.searchspace import Dist, grid_space

STUDY_FILE = "study.journal"
INTERRUPTED = "interrupted"  # a trial's user attribute: its session ended before it did
SLOTS_FILE = "trial-slots.json"  # the trial each slot of a repeated search holds
SAMPLERS = ("tpe", "random", "cmaes", "grid", "qmc")
PRUNERS = ("median", "hyperband", "none")
SHARED_SEED = ("grid", "qmc")  # their order of points is drawn from the seed: one per study
EXTRA = "pip install 'pytest-expharness[search]'"


class SearchUnavailable(RuntimeError):
    """Optuna (or a sampler's own dependency) is not installed."""


def optuna() -> Any:
    """Import Optuna, or say which extra installs it."""
    try:
        import optuna as found
    except ImportError:
        raise SearchUnavailable(f"search= needs Optuna, which is not installed: {EXTRA}") from None
    found.logging.set_verbosity(found.logging.WARNING)
    return found


def study_name(grid_id: str | None) -> str:
    """The name of a grid point's study (`search` for an experiment without a grid)."""
    return grid_id or "search"


def previous_study(parent: Path) -> Path | None:
    """The study file of the latest earlier session of this experiment, if any.

    Latest by the file's last write, not by the folder's name: two sessions that
    start within one second have stamps whose order is their random suffix's.
    """
    earlier = [p for p in parent.parent.glob(f"*/{STUDY_FILE}") if p.parent != parent]
    return max(earlier, key=lambda p: (_written(p), p.parent.name), default=None)


def _written(path: Path) -> int:
    """When the file was last written (-1 for one deleted meanwhile)."""
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return -1


def storage(parent: Path, resume: bool) -> Any:
    """The journal storage of this session's studies (an earlier session's copied in on resume)."""
    path = parent / STUDY_FILE
    parent.mkdir(parents=True, exist_ok=True)
    optuna()
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    if resume and not path.exists():
        with run_lock(parent):
            before = previous_study(parent)
            if not path.exists() and before is not None:
                tmp = path.with_name(f".{STUDY_FILE}.copy")
                shutil.copyfile(before, tmp)
                _end_interrupted(JournalStorage(JournalFileBackend(str(tmp))))
                tmp.replace(path)
    return JournalStorage(JournalFileBackend(str(path)))


def _end_interrupted(storage: Any) -> None:
    """Mark the trials an earlier session left running as failed and interrupted.

    Their session is over, so they will never end; marked, they neither count
    towards --exp-trials nor stand as trials in flight for the sampler.
    """
    running = optuna().trial.TrialState.RUNNING
    for study in storage.get_all_studies():
        for trial in storage.get_all_trials(study._study_id, deepcopy=False, states=(running,)):
            storage.set_trial_user_attr(trial._trial_id, INTERRUPTED, True)
            storage.set_trial_state_values(trial._trial_id, optuna().trial.TrialState.FAIL)


def sampler(kind: str, seed: int, space: dict[str, Dist]) -> Any:
    """The sampler `--exp-sampler` names, seeded (each trial slot its own seed)."""
    samplers = optuna().samplers
    if kind == "tpe":  # constant liar: trials in flight are not sampled again
        return samplers.TPESampler(seed=seed, constant_liar=True)
    if kind == "random":
        return samplers.RandomSampler(seed=seed)
    if kind == "qmc":
        return samplers.QMCSampler(seed=seed, warn_independent_sampling=False)
    if kind == "cmaes":
        return samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    return samplers.GridSampler(grid_space(space), seed=seed)


def pruner(kind: str) -> Any:
    """The pruner `--exp-pruner` names."""
    pruners = optuna().pruners
    if kind == "median":
        return pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0)
    if kind == "hyperband":
        return pruners.HyperbandPruner()
    return pruners.NopPruner()


def distribution(dist: Dist) -> Any:
    """An Optuna distribution for a Dist."""
    d = optuna().distributions
    if dist.kind == "choice":
        return d.CategoricalDistribution(list(dist.choices))
    if dist.kind == "int":
        return d.IntDistribution(int(dist.low or 0), int(dist.high or 0), log=dist.log,
                                 step=int(dist.step or 1))  # fmt: skip
    return d.FloatDistribution(float(dist.low or 0), float(dist.high or 0), log=dist.log,
                               step=dist.step)  # fmt: skip


def open_study(parent: Path, name: str, mode: str, resume: bool, chosen: Any, prune: Any) -> Any:
    """Open (or create) one grid point's study in this session's file."""
    return optuna().create_study(
        storage=storage(parent, resume),
        study_name=name,
        direction="minimize" if mode == "min" else "maximize",
        sampler=chosen,
        pruner=prune,
        load_if_exists=True,
    )


def counted(study: Any) -> int:
    """How many trials the study holds, finished or in flight (not those interrupted)."""
    return sum(not t.user_attrs.get(INTERRUPTED) for t in study.get_trials(deepcopy=False))


def study_of(folder: Path) -> Path | None:
    """The study file of the session folder that holds this run folder, if it has one."""
    path = Path(folder).parent / STUDY_FILE
    return path if path.exists() else None


def read_slots(parent: Path) -> dict[str, Any]:
    """Which trial each repeated trial slot holds, and its repeats' objectives so far."""
    try:
        found = json.loads((parent / SLOTS_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def write_slots(parent: Path, slots: dict[str, Any]) -> None:
    """Replace the slots file (the caller holds the session folder's lock)."""
    tmp = parent / f".{SLOTS_FILE}.tmp"
    tmp.write_text(json.dumps(slots, sort_keys=True), "utf-8")
    tmp.replace(parent / SLOTS_FILE)


def trial_params(study: Any, number: int) -> dict[str, Any]:
    """The parameters the study gave trial `number`."""
    for trial in study.get_trials(deepcopy=False):
        if trial.number == number:
            return dict(trial.params)
    raise LookupError(f"the study {study.study_name!r} has no trial {number}")
