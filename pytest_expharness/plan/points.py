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


def checked_space(
    item: pytest.Item,
    kwargs: dict[str, Any],
    overrides: spec.Overrides,
    declared: dict[str, Any],
    axes: dict[str, Any],
    repeats: int,
) -> dict[str, Any]:
    """The experiment's search space, refused where it cannot be searched as declared."""
    from .searchspace import SearchError, space_of

    try:
        space = space_of(kwargs.get("search"), overrides.search, declared, item.nodeid)
    except SearchError as error:
        raise spec.SpecError(str(error)) from None
    if not space:
        return space
    where = f"{item.nodeid}: @pytest.mark.experiment(search=...)"
    for name in space:
        if name in axes:
            raise spec.SpecError(f"{where}: {name} is a sweep axis too; search it or sweep it")
        for source, layer in (
            ("--exp-set", overrides.from_cli),
            ("--exp-config", overrides.from_file),
        ):
            if name in layer:
                raise spec.SpecError(f"{source} {name}: {name} is searched; give one or the other")
    try:
        import optuna  # noqa: F401
    except ImportError:
        raise spec.SpecError(
            f"{where}: searching needs Optuna, which is not installed: "
            "pip install 'pytest-expharness[search]'"
        ) from None
    if not kwargs.get("metric"):
        raise spec.SpecError(
            f"{where}: a search needs the main metric it optimises: add metric='NAME' "
            "(a tracked series or a results/ key) and mode='min' or 'max'"
        )
    if repeats > 1:
        raise spec.SpecError(
            f"{where}: repeats are not supported with a search (each trial runs once)"
        )
    return space
