"""A session's Optuna studies: one journal file in the experiment's session folder.

Optuna's journal file storage is safe for many processes on one machine and on
a shared filesystem, so xdist workers and SLURM array tasks all ask the same
study for their next trial. Each grid point of an experiment has a study of its
own in that file (named after the point, `search` without one). With
--exp-resume the latest earlier session's file is copied in first: the study
goes on from where it stopped, and the earlier session is left as it was.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from ..archive.locks import run_lock
from ..plan.searchspace import Dist

STUDY_FILE = "study.journal"
SAMPLERS = ("tpe", "random", "cmaes", "grid", "qmc")
PRUNERS = ("median", "hyperband", "none")
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
    """The study file of the latest earlier session of this experiment, if any."""
    earlier = sorted(
        (p for p in parent.parent.glob(f"*/{STUDY_FILE}") if p.parent.name < parent.name),
        key=lambda p: p.parent.name,
    )
    return earlier[-1] if earlier else None


def storage(parent: Path, resume: bool) -> Any:
    """The journal storage of this session's studies (an earlier session's copied in on resume)."""
    path = parent / STUDY_FILE
    parent.mkdir(parents=True, exist_ok=True)
    if resume and not path.exists():
        with run_lock(parent):
            before = previous_study(parent)
            if not path.exists() and before is not None:
                tmp = path.with_name(f".{STUDY_FILE}.copy")
                shutil.copyfile(before, tmp)
                tmp.replace(path)
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    optuna()
    return JournalStorage(JournalFileBackend(str(path)))


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
        try:
            import cmaes  # type: ignore[import-not-found]  # noqa: F401
        except ImportError:
            raise SearchUnavailable(
                "--exp-sampler cmaes needs the cmaes package: pip install cmaes"
            ) from None
        return samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    return samplers.GridSampler(grid_space(space), seed=seed)


def grid_space(space: dict[str, Dist]) -> dict[str, list[Any]]:
    """The values a grid sampler tries: choices, and the whole numbers of an int range."""
    grid: dict[str, list[Any]] = {}
    for name, dist in space.items():
        if dist.kind == "choice":
            grid[name] = list(dist.choices)
        elif dist.kind == "int" and not dist.log:
            assert isinstance(dist.low, int) and isinstance(dist.high, int)
            grid[name] = list(range(dist.low, dist.high + 1, int(dist.step or 1)))
        else:
            raise ValueError(
                f"--exp-sampler grid: {name}={dist.text()} has no finite set of values; "
                "use choice(...) or int(LOW, HIGH), or another sampler"
            )
    return grid


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
    """How many trials the study holds, finished or in flight."""
    return len(study.get_trials(deepcopy=False))


def study_of(folder: Path) -> Path | None:
    """The study file of the session folder that holds this run folder, if it has one."""
    path = Path(folder).parent / STUDY_FILE
    return path if path.exists() else None
