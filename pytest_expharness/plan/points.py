"""The points the plugin adds to an experiment's grid: --exp-sweep axes, repeats, trial slots."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from . import searchspace, spec


def added_points(
    metafunc: pytest.Metafunc, overrides: spec.Overrides | None
) -> tuple[list[dict[str, Any]], list[str]] | None:
    """Return the points (and ids) to parametrize one experiment with, or None if none."""
    config = metafunc.config
    mark = metafunc.definition.get_closest_marker(spec.MARKER)
    kwargs = dict(mark.kwargs) if mark is not None else {}
    overrides = overrides or spec.Overrides()
    testing = bool(config.getoption("exp_testing"))
    try:
        repeats = spec.repeats_of(
            kwargs, config.getoption("exp_repeats"), metafunc.definition.nodeid, testing
        )
    except spec.SpecError:
        return None  # reported as a usage error when the items are checked
    declared = spec.declared_names(metafunc.module, metafunc.cls)
    trials = 0
    if searchspace.searched(kwargs.get("search"), overrides.search, declared):
        option = config.getoption("exp_trials")
        trials = searchspace.trial_count(option, testing)
        if config.getoption("exp_sampler") == "grid" and option is None and not testing:
            trials = _grid_size(metafunc, kwargs, overrides) or trials
    return sweep_points(declared, overrides.sweep, repeats, trials)


def _grid_size(metafunc: pytest.Metafunc, kwargs: dict[str, Any], overrides: Any) -> int:
    """How many combinations a grid sampler tries (0 for a space the checks will refuse)."""
    try:
        declared = spec.declared_params(metafunc)
        where = metafunc.definition.nodeid
        space = searchspace.space_of(kwargs.get("search"), overrides.search, declared, where)
        return searchspace.grid_size(space)
    except searchspace.SearchError:
        return 0


def sweep_points(
    declared: Sequence[str], sweep: dict[str, list[Any]], repeats: int, trials: int = 0
) -> tuple[list[dict[str, Any]], list[str]] | None:
    """Return the points (and their ids) that --exp-sweep, repeats and a search's trial slots
    add to one test, if any."""
    axes = {name: values for name, values in sweep.items() if name in declared}
    if not axes and repeats == 1 and not trials:
        return None
    points: list[dict[str, Any]] = [{"sweep": {}, "repeat": 0}]
    ids = [""]
    for name, values in axes.items():
        points = [{**p, "sweep": {**p["sweep"], name: v}} for p in points for v in values]
        ids = [f"{i}-{name}={v}".lstrip("-") for i in ids for v in values]
    if trials:  # a trial's repeats side by side: they share one trial of the study
        marks = [(k, r, f"trial{k}-rep{r}" if repeats > 1 else f"trial{k}")
                 for k in range(trials) for r in range(repeats)]  # fmt: skip
        points = [{**p, "trial": k, "repeat": r} for p in points for k, r, _ in marks]
        ids = [f"{i}-{mark}".lstrip("-") for i in ids for _, _, mark in marks]
    elif repeats > 1:
        points = [{**p, "repeat": r} for p in points for r in range(repeats)]
        ids = [f"{i}-rep{r}".lstrip("-") for i in ids for r in range(repeats)]
    return points, ids
