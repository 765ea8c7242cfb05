"""The checks of the selected experiments once collected, before any run starts.

Two test functions may not share an experiment name (their runs would share
one folder and one table), and every override must name a parameter of some
selected experiment; each problem is a SpecError, which the plugin reports as
a usage error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from . import params as P
from .searchspace import SearchError, check_sampler
from .spec import Overrides, SpecError, build, experiment_name, marker_kwargs, repeats_of, uses_exp


def _check_names(experiments: Sequence[pytest.Item]) -> None:
    """Refuse two different test functions that would share one experiment name (and table)."""
    from .modvariants import base_modules

    owners: dict[str, tuple[str, pytest.Item]] = {}
    for item in experiments:
        name = experiment_name(item, marker_kwargs(item))
        owner = item.nodeid.split("[")[0]
        first, other = owners.setdefault(name, (owner, item))
        if first != owner:
            fix = (
                "rename one of the modules (a module variant is named after its file)"
                if base_modules(item) and base_modules(other)
                else "name one with @pytest.mark.experiment(name=...)"
            )
            raise SpecError(
                f"experiment name {name!r} is used by both {first} and {owner}; their runs "
                f"would share one folder and one table: {fix}"
            )


def planned(items: Sequence[pytest.Item]) -> dict[str, int]:
    """How many runs of each experiment the selected items make."""
    counts: dict[str, int] = {}
    for item in items:
        if uses_exp(item):
            name = experiment_name(item, marker_kwargs(item))
            counts[name] = counts.get(name, 0) + 1
    return counts


def _check_baseline(item: pytest.Item, kwargs: dict[str, Any], testing: bool) -> None:
    """Refuse a baseline file that cannot be read, before any run (a missing one is fine)."""
    from ..gates.baselines import file_for, read
    from ..gates.bounds import GateError

    module = getattr(getattr(item, "module", None), "__file__", None)
    if module is None:
        return
    try:
        read(file_for(module, experiment_name(item, kwargs), testing))
    except GateError as error:
        raise SpecError(f"--exp-baseline: {error}") from None


def check_selected(items: Sequence[pytest.Item], overrides: Overrides, settings: Any) -> None:
    """Check the names, overrides and repeats of the selected experiments (plugin.py calls it).

    `settings` is the session's (session.state.Settings): testing, repeats, pruner, sampler.
    """
    testing, repeats_option = settings.testing, settings.repeats
    pruner, sampler = settings.pruner, settings.sampler
    experiments = [item for item in items if uses_exp(item)]
    _check_names(experiments)
    known: set[str] = set()
    for item in experiments:
        kwargs = marker_kwargs(item)
        if overrides.any() or testing or kwargs.get("search") or kwargs.get("steps") is not None:
            built = build(item, overrides, testing, repeats_option)
            known.update(built.declared)
            if built.search:
                try:
                    check_sampler(sampler, built.search)
                except SearchError as error:
                    raise SpecError(f"{item.nodeid.split('[')[0]}: {error}") from None
            if built.search and built.repeats > 1 and pruner not in (None, "none"):
                raise SpecError(
                    f"--exp-pruner {pruner}: {item.nodeid.split('[')[0]} repeats each trial "
                    f"{built.repeats} times and a pruner needs one curve per trial; "
                    "drop the repeats or --exp-pruner"
                )
        else:
            repeats_of(marker_kwargs(item), repeats_option, item.nodeid, testing)
        if settings.gates.baseline == "file":
            _check_baseline(item, kwargs, testing)
    for key in [*overrides.merged(), *overrides.sweep, *overrides.search]:
        if key not in known:
            source = (
                "--exp-search"
                if key in overrides.search
                else "--exp-sweep"
                if key in overrides.sweep
                else "--exp-set"
                if key in overrides.from_cli
                else "--exp-config"
            )
            count = len({item.nodeid.split("[")[0] for item in experiments})
            where = (
                "the selected experiment"
                if count == 1
                else f"any of the {count} selected experiments"
                if experiments
                else "any selected experiment (none of the selected tests uses the exp fixture)"
            )
            raise SpecError(f"{source} {key}: not a parameter of {where}{P.suggest(key, known)}")
