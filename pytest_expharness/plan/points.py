"""The points the plugin adds to an experiment's grid: --exp-sweep axes, repeats, trial slots."""

from __future__ import annotations

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
        trials = searchspace.trial_count(config.getoption("exp_trials"), testing)
    return spec.sweep_points(declared, overrides.sweep, repeats, trials)
