"""What one collected experiment item is: its name, description, tags and parameters.

Parameters resolve in this order, later winning: module constants (a variant's base
modules first), class attributes, the marker's testing overrides (with --exp-testing),
--exp-config, --exp-set, the test's parametrize arguments (the sweep axes), a trial's.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from ..gates.bounds import GateError
from ..gates.expect import KEYS as GATE_KEYS
from ..gates.expect import marker_bounds, marker_tolerances
from . import params as P
from .searchspace import SearchError, checked_space

MARKER = "experiment"
MARKER_KEYS = (
    "name", "description", "tags", "testing", "repeats", "metric", "mode", "steps", "search",
    "expect", "testing_expect", "tolerance",
)  # fmt: skip
POINT = "_expharness_point"  # the fixture parametrized with --exp-sweep values and repeat indices
REPEAT_STEP = "__pytest_repeat_step_number"  # pytest-repeat's --count index: a repeat, not an axis
MODES = ("min", "max")


class SpecError(ValueError):
    """A collected experiment that cannot run as declared (bad marker or override)."""


@dataclass(frozen=True)
class Overrides:
    """Parameter overrides of the session, by source."""

    from_file: dict[str, Any] = field(default_factory=dict)
    from_cli: dict[str, Any] = field(default_factory=dict)
    file_path: str | None = None
    sweep: dict[str, list[Any]] = field(default_factory=dict)
    search: dict[str, str] = field(default_factory=dict)  # --exp-search: name -> distribution

    def merged(self) -> dict[str, Any]:
        return {**self.from_file, **self.from_cli}

    def any(self) -> bool:
        """Whether the session was given anything to check against the experiments."""
        return bool(self.from_file or self.from_cli or self.sweep or self.search)


@dataclass
class RunSpec:
    """Everything needed to start a run of one collected item."""

    experiment: str
    description: str | None
    tags: list[str]
    node_id: str
    module_path: str | None
    declared: dict[str, P.Param]
    params: dict[str, Any]
    axes: dict[str, Any]
    applied: dict[str, Any]
    testing: bool
    patch_targets: list[Any]
    repeat: int = 0
    repeats: int = 1
    seed: int = 0
    metric: str | None = None
    mode: str = "min"
    source_hash: str | None = None
    callspec_id: str | None = None
    order: int = 0
    parent: str | None = None
    test_class: str | None = None
    attempt: int = 1  # pytest-rerunfailures' attempt number (item.execution_count)
    parent_module: str | None = None  # a module variant's base module (see modvariants.py)
    explicit_ids: dict[str, str | None] = field(default_factory=dict)  # see paramids.py
    search: dict[str, Any] = field(default_factory=dict)  # searched name -> searchspace.Dist
    trial_slot: int | None = None  # which trial slot (test item) of a search this is
    resumed: dict[str, Any] | None = None  # the run this one resumes (plan/resume.resumable)
    trial: int | None = None  # Optuna's trial number, once asked (search/trial.py)
    study: str | None = None  # the study's name in the session's study.journal
    id_axes: dict[str, Any] | None = None  # what the run id is made of, when not the axes
    steps: str | None = None  # the marker's steps=: the parameter that says a run's total steps
    expect: dict[str, Any] = field(default_factory=dict)  # metric -> gates.bounds.Bound
    tolerance: dict[str, Any] = field(default_factory=dict)  # metric -> gates.bounds.Tolerance


def uses_exp(item: pytest.Item) -> bool:
    """Return whether a collected item asks for the exp fixture."""
    return "exp" in getattr(item, "fixturenames", ())


def marker_kwargs(item: pytest.Item) -> dict[str, Any]:
    """Return the experiment marker's arguments, refusing unknown ones."""
    mark = item.get_closest_marker(MARKER)
    if mark is None:
        return {}
    if mark.args:
        raise SpecError(f"{item.nodeid}: @pytest.mark.experiment takes keyword arguments only")
    unknown = sorted(set(mark.kwargs) - set(MARKER_KEYS))
    if unknown:
        raise SpecError(
            f"{item.nodeid}: @pytest.mark.experiment got unknown argument {unknown[0]!r}"
            f"{P.suggest(unknown[0], MARKER_KEYS)}; it takes {', '.join(MARKER_KEYS)}"
        )
    kwargs = dict(mark.kwargs)
    where = f"{item.nodeid}: @pytest.mark.experiment"
    if kwargs.get("mode", "min") not in MODES:
        raise SpecError(f"{where}(mode={kwargs['mode']!r}): use 'min' or 'max'")
    if kwargs.get("metric") is not None and not isinstance(kwargs["metric"], str):
        raise SpecError(f"{where}(metric={kwargs['metric']!r}): name a series or a results/ key")
    repeats = kwargs.get("repeats")
    if repeats is not None and (
        isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1
    ):
        raise SpecError(f"{where}(repeats={repeats!r}): a whole number of at least 1")
    for key in ("name", "description", "steps"):
        if kwargs.get(key) is not None and not isinstance(kwargs[key], str):
            raise SpecError(f"{where}({key}={kwargs[key]!r}): expected a string")
    if any(kwargs.get(key) is not None for key in GATE_KEYS):
        try:
            marker_bounds(kwargs, False, where)  # checks testing_expect= too
            marker_tolerances(kwargs, where)
        except GateError as error:
            raise SpecError(str(error)) from None
    return kwargs


def experiment_name(item: pytest.Item, kwargs: dict[str, Any]) -> str:
    """Return the experiment name: the marker's, else the test's name without 'test_'.

    A module variant's has its module's name in front: `high_lr.train` (see modvariants.py).
    """
    from .modvariants import variant_name

    name = _base_name(item, kwargs)
    return variant_name(item, name) or name


def _base_name(item: pytest.Item, kwargs: dict[str, Any]) -> str:
    if kwargs.get("name"):
        return str(kwargs["name"])
    func = getattr(item, "originalname", None) or item.name.split("[")[0]
    name = func.removeprefix("test_") or func
    cls = getattr(item, "cls", None)
    if cls is not None:
        name = f"{cls.__name__.removeprefix('Test') or cls.__name__}.{name}"
    return name


def declared_params(item: Any) -> dict[str, P.Param]:
    """Return the parameters the item's (or metafunc's) modules and classes declare.

    Module constants first (those of a variant's base modules, then its own
    module), then class attributes from the base class down: the class wins.
    """
    from .modvariants import experiment_modules, merged_params
    from .variants import lineage

    cls = getattr(item, "cls", None)
    found = merged_params(experiment_modules(item))
    for klass in lineage(cls):
        try:
            hints = typing.get_type_hints(klass)
        except Exception:
            hints = dict(inspect.get_annotations(klass))
        found.update(P.discover(dict(vars(klass)), hints))
    return found


def axes_of(item: pytest.Item) -> dict[str, Any]:
    """Return the parametrize arguments of the item (its point in the sweep grid)."""
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return {}
    params = {k: v for k, v in callspec.params.items() if k not in (POINT, REPEAT_STEP)}
    order = {name: i for i, name in enumerate(_signature_names(item))}
    return dict(sorted(params.items(), key=lambda kv: order.get(kv[0], len(order))))


def _signature_names(item: pytest.Item) -> tuple[str, ...]:
    code = getattr(getattr(item, "function", None), "__code__", None)
    if code is None:
        return ()
    return tuple(code.co_varnames[: code.co_argcount + code.co_kwonlyargcount])


def declared_names(module: Any, cls: Any) -> list[str]:
    """Return the names of the parameters a module and class declare."""

    class _Where:
        pass

    where = _Where()
    where.module, where.cls = module, cls  # type: ignore[attr-defined]
    return list(declared_params(where))


def repeats_of(
    kwargs: dict[str, Any], option: int | None, where: str, testing: bool = False
) -> int:
    """Return how many times each grid point runs: --exp-repeats, else the marker's repeats.

    A testing (smoke) run does each point once unless --exp-repeats says otherwise.
    """
    repeats = option if option is not None else kwargs.get("repeats", 1)
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise SpecError(f"{where}: repeats must be a whole number of at least 1, got {repeats!r}")
    return 1 if testing and option is None else repeats


_ORDER: dict[str, int] = {}


def remember_order(items: Sequence[pytest.Item]) -> None:
    """Remember the collection order, which sweep tables keep where no metric decides."""
    _ORDER.clear()
    _ORDER.update((item.nodeid, i) for i, item in enumerate(items))


def build(
    item: pytest.Item, overrides: Overrides, testing: bool, repeats_option: int | None = None
) -> RunSpec:
    """Resolve the item's experiment spec, raising SpecError for anything invalid."""
    kwargs = marker_kwargs(item)
    declared = declared_params(item)
    axes = axes_of(item)
    callspec = getattr(item, "callspec", None)
    point = callspec.params.get(POINT) if callspec is not None else None
    values = {name: p.value for name, p in declared.items()}
    applied: dict[str, Any] = {}
    layers: list[tuple[str, dict[str, Any]]] = []
    if testing:
        layers.append(("testing override", _testing_overrides(item, kwargs)))
    layers.append(("--exp-config", overrides.from_file))
    layers.append(("--exp-set", overrides.from_cli))
    for source, layer in layers:
        for key, raw in layer.items():
            if key in axes:
                raise SpecError(
                    f"{key} is a parametrize axis of {item.nodeid}; choose its points with -k "
                    "or parametrize, not an override"
                )
            if key not in declared:
                if source != "testing override":
                    continue  # another selected experiment may declare it
                raise SpecError(
                    f"{item.nodeid}: testing override {key!r} is not a parameter"
                    f"{P.suggest(key, declared)}"
                )
            try:
                if source == "--exp-set":  # a text, read by the declared type
                    raw, values[key] = P.check_given(key, raw, declared[key].declared)
                else:
                    values[key] = P.check_value(key, raw, declared[key].declared)
            except P.OverrideError as error:
                where = item.nodeid.split("::")[0]
                raise SpecError(f"{source} {error} ({key} is declared in {where})") from None
            if source != "testing override":
                applied[key] = raw
    for key in overrides.sweep:
        if key in axes:
            raise SpecError(
                f"--exp-sweep {key}: {key} is a parametrize axis of {item.nodeid} already"
            )
    if point:
        for key, raw in point["sweep"].items():
            try:
                P.check_sweep(key, overrides.sweep.get(key, [raw]), declared[key].declared)
                axes[key] = P.check_given(key, raw, declared[key].declared)[1]
            except P.OverrideError as error:
                where = item.nodeid.split("::")[0]
                raise SpecError(f"--exp-sweep {error} ({key} is declared in {where})") from None
    values.update(axes)
    _check_steps(item.nodeid, kwargs.get("steps"), values)
    repeat = point["repeat"] if point else 0
    repeats = repeats_of(kwargs, repeats_option, item.nodeid, testing)
    try:
        space = checked_space(item.nodeid, kwargs, overrides, declared, axes)
    except SearchError as error:
        raise SpecError(str(error)) from None
    step = callspec.params.get(REPEAT_STEP) if callspec is not None else None
    if isinstance(step, int):  # pytest-repeat's copies: repeats of the point, seeds apart
        count = _repeat_count(item)
        repeat, repeats = repeat * count + step, repeats * count
    base_seed = values.get("SEED")
    seed = (base_seed if isinstance(base_seed, int) else 0) + repeat
    mode = kwargs.get("mode", "min")
    if mode not in MODES:
        raise SpecError(f"{item.nodeid}: experiment(mode={mode!r}): use 'min' or 'max'")
    tags = kwargs.get("tags") or ()
    if isinstance(tags, str):
        tags = (tags,)
    module = getattr(item, "module", None)
    cls = getattr(item, "cls", None)
    from .modvariants import experiment_modules, parent_of
    from .paramids import explicit_ids
    from .sources import modules_hash
    from .variants import lineage, parent_experiment

    function = getattr(item, "originalname", None) or item.name.split("[")[0]
    modules = experiment_modules(item)
    parent, parent_module = parent_of(item, _base_name(item, kwargs)) or (None, None)
    return RunSpec(
        experiment=experiment_name(item, kwargs),
        description=kwargs.get("description") or _docstring(item),
        tags=[str(t) for t in tags],
        node_id=item.nodeid,
        module_path=getattr(module, "__file__", None),
        declared=declared,
        params=values,
        axes=axes,
        applied=applied,
        testing=testing,
        patch_targets=[*modules, *lineage(cls)],
        repeat=repeat,
        repeats=repeats,
        seed=seed,
        metric=kwargs.get("metric"),
        mode=mode,
        source_hash=modules_hash(modules),
        callspec_id=callspec.id if callspec is not None else None,
        order=_ORDER.get(item.nodeid, 0),
        parent=parent or parent_experiment(cls, function),
        test_class=cls.__qualname__ if cls is not None else None,
        attempt=_attempt(item),
        parent_module=parent_module,
        explicit_ids=explicit_ids(item, axes),
        search=space,
        trial_slot=point.get("trial") if point and space else None,
        steps=kwargs.get("steps"),
        expect=marker_bounds(kwargs, testing, item.nodeid),
        tolerance=marker_tolerances(kwargs, item.nodeid),
    )


def _check_steps(nodeid: str, steps: str | None, values: dict[str, Any]) -> None:
    """Refuse a marker's steps= that names no parameter, or one that is no positive int."""
    if steps is None:
        return
    where = f"{nodeid}: @pytest.mark.experiment(steps={steps!r})"
    if steps not in values:
        known = ", ".join(sorted(values)) or "none"
        hint = P.suggest(steps, values)
        raise SpecError(f"{where}: no such parameter{hint}; parameters: {known}")
    value = values[steps]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SpecError(f"{where}: {steps} is {value!r}; steps= names a positive int parameter")


def _repeat_count(item: pytest.Item) -> int:
    """Return pytest-repeat's number of copies of the item (its marker, else --count)."""
    marker = item.get_closest_marker("repeat")
    count = marker.args[0] if marker is not None and marker.args else None
    count = count or getattr(item.config.option, "count", 1)
    return count if isinstance(count, int) and count > 0 else 1


def _attempt(item: pytest.Item) -> int:
    """Return which attempt at the item this is: pytest-rerunfailures counts them from 1."""
    count = getattr(item, "execution_count", 1)
    return count if isinstance(count, int) and count > 0 else 1


def _testing_overrides(item: pytest.Item, kwargs: dict[str, Any]) -> dict[str, Any]:
    testing = kwargs.get("testing") or {}
    if not isinstance(testing, dict):
        raise SpecError(f"{item.nodeid}: experiment(testing=...) must be a dict of overrides")
    return testing


def _docstring(item: pytest.Item) -> str | None:
    """A variant's own class (or module) docstring, else the test function's, else the module's."""
    from .modvariants import base_modules

    cls, module = getattr(item, "cls", None), getattr(item, "module", None)
    own = vars(cls).get("__doc__") if cls is not None else None
    if cls is None and module is not None and base_modules(item):
        own = module.__doc__
    if own:
        return inspect.cleandoc(own)
    func = getattr(item, "function", None)
    doc = inspect.getdoc(func) if func is not None else None
    if not doc and module is not None:
        doc = inspect.getdoc(module)
    return doc or None
