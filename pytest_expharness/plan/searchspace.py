"""Search spaces: `search=` on the marker and `--exp-search NAME=DIST`, read and type-checked.

A searched parameter's distribution is given as a short text or as one of
Optuna's distribution objects (read by their attributes, so Optuna is not
imported here):

    uniform(LOW, HIGH)         float(LOW, HIGH[, log][, step=S])
    loguniform(LOW, HIGH)      int(LOW, HIGH[, log][, step=K])
    choice(V1, V2, ...)        (a list or tuple on the marker is a choice too)

Bounds are numbers; choice values are read as --exp-set reads a value, by the
parameter's declared type (a str parameter takes `none` as the text "none").
Every distribution is checked against the declared type before any run starts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from . import params as P

_CALL = re.compile(r"^\s*([a-z]+)\s*\((.*)\)\s*$", re.S)
FORMS = "uniform(LOW, HIGH), loguniform(LOW, HIGH), float(LOW, HIGH[, log][, step=S]), "
FORMS += "int(LOW, HIGH[, log][, step=K]) or choice(V1, V2, ...)"


DEFAULT_TRIALS = 20
TESTING_TRIALS = 2


def trial_count(option: int | None, testing: bool) -> int:
    """How many trials a study runs: --exp-trials, else 2 in testing mode, else 20."""
    if option is not None:
        return option
    return TESTING_TRIALS if testing else DEFAULT_TRIALS


def searched(marker: Any, cli: Mapping[str, str], declared: Iterable[str]) -> bool:
    """Whether an experiment searches anything (the marker's search=, or --exp-search)."""
    return bool(marker) or any(name in cli for name in declared)


class SearchError(ValueError):
    """A search space that cannot be searched; the message says what would be right."""


@dataclass(frozen=True)
class Dist:
    """One searched parameter's distribution: a float or int range, or a choice."""

    kind: str  # "float", "int" or "choice"
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: tuple[Any, ...] = ()

    def text(self) -> str:
        """The distribution as its short text (recorded in config.yaml)."""
        if self.kind == "choice":
            return "choice(" + ", ".join(repr(c) for c in self.choices) + ")"
        extra = (", log" if self.log else "") + (f", step={self.step}" if self.step else "")
        if self.kind == "float" and not self.step:
            return f"{'loguniform' if self.log else 'uniform'}({self.low}, {self.high})"
        return f"{self.kind}({self.low}, {self.high}{extra})"


def parse_cli(items: Iterable[str]) -> dict[str, str]:
    """Parse `--exp-search NAME=DIST` items into each name's distribution text."""
    found: dict[str, str] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not P.PARAM_NAME.match(name):
            raise SearchError(
                f"--exp-search {item!r:.80}: expected NAME=DIST with an UPPERCASE parameter "
                f"name, for example --exp-search 'LEARNING_RATE=loguniform(1e-4,1e-1)'"
            )
        if name in found:
            raise SearchError(f"--exp-search {name}: given twice")
        if len(text) > 10_000:
            raise SearchError(f"--exp-search {name}: {len(text):,} characters; at most 10,000")
        found[name] = text
    return found


def read(name: str, given: Any, declared: Any, where: str) -> Dist:
    """Return the distribution `given` (text, list or Optuna object) checked against declared."""
    dist = _from_object(given) if not isinstance(given, str) else _from_text(name, given, where)
    if dist is None:
        raise SearchError(
            f"{where}: search {name}={given!r:.80} is not a distribution; use {FORMS}, "
            "or an optuna.distributions object"
        )
    return _checked(name, dist, declared, where, isinstance(given, str))


def space_of(
    marker: Mapping[str, Any] | None,
    cli: Mapping[str, str],
    declared: Mapping[str, P.Param],
    where: str,
) -> dict[str, Dist]:
    """Return an experiment's search space: the marker's, with --exp-search's added or winning.

    A marker's name that is not a parameter is an error; a command-line one is
    only searched where it is declared (another selected experiment may declare it).
    """
    if marker is not None and not isinstance(marker, Mapping):
        raise SearchError(f"{where}: experiment(search=...) must be a dict NAME: distribution")
    space: dict[str, Dist] = {}
    for name, given in (marker or {}).items():
        if name not in declared:
            raise SearchError(
                f"{where}: search names {name!r}, which is not a parameter"
                f"{P.suggest(str(name), declared)}"
            )
        space[name] = read(name, given, declared[name].declared, where)
    for name, text in cli.items():
        if name in declared:
            space[name] = read(name, text, declared[name].declared, f"--exp-search {name}")
    return space


def _from_text(name: str, text: str, where: str) -> Dist | None:
    found = _CALL.match(text)
    if found is None:
        return None
    kind, args = found.group(1), P.split_values(found.group(2))
    if kind == "choice":
        if not args or any(not a for a in args):
            raise SearchError(f"{where}: search {name}={text!r:.80}: choice needs values")
        return Dist("choice", choices=tuple(args))
    if kind not in ("uniform", "loguniform", "float", "int"):
        return None
    flags = [a for a in args[2:] if a == "log"]
    steps = [a for a in args[2:] if a.replace(" ", "").startswith("step=")]
    if len(args) < 2 or len(flags) + len(steps) != len(args) - 2 or len(steps) > 1:
        raise SearchError(f"{where}: search {name}={text!r:.80}: expected {FORMS}")
    low, high = (_number(name, text, a, where) for a in args[:2])
    step = _number(name, text, steps[0].split("=", 1)[1], where) if steps else None
    log = bool(flags) or kind == "loguniform"
    if kind in ("uniform", "loguniform") and (flags or steps):
        raise SearchError(f"{where}: search {name}={text!r:.80}: {kind} takes LOW, HIGH only")
    return Dist("int" if kind == "int" else "float", low, high, log, step)


def _number(name: str, text: str, arg: str, where: str) -> float | int:
    try:
        value: float | int = int(arg) if re.fullmatch(r"[+-]?\d+", arg.strip()) else float(arg)
    except ValueError:
        raise SearchError(
            f"{where}: search {name}={text!r:.80}: {arg!r:.40} is not a number"
        ) from None
    if not math.isfinite(value):
        raise SearchError(f"{where}: search {name}={text!r:.80}: bounds must be finite")
    return value


def _from_object(given: Any) -> Dist | None:
    if isinstance(given, (list, tuple)):
        return Dist("choice", choices=tuple(given)) if given else None
    kind = type(given).__name__
    if kind == "CategoricalDistribution":
        return Dist("choice", choices=tuple(given.choices))
    if kind in ("FloatDistribution", "IntDistribution"):
        step = getattr(given, "step", None)
        if kind == "IntDistribution" and step == 1:
            step = None
        return Dist(
            "float" if kind == "FloatDistribution" else "int",
            given.low,
            given.high,
            bool(given.log),
            step,
        )
    return None


def _checked(name: str, dist: Dist, declared: Any, where: str, texts: bool) -> Dist:
    shown = f"{where}: search {name}={dist.text()}"
    if dist.kind == "choice":
        values = []
        for raw in dist.choices:
            try:
                if texts:
                    values.append(P.check_given(name, raw, declared)[1])
                else:
                    values.append(P.check_value(name, raw, declared))
            except P.OverrideError as error:
                raise SearchError(f"{where}: search {error}") from None
            if values[-1] in values[:-1]:
                raise SearchError(f"{shown}: {values[-1]!r} is given more than once")
        return Dist("choice", choices=tuple(values))
    low, high, step = dist.low, dist.high, dist.step
    assert low is not None and high is not None
    if not low < high:
        raise SearchError(f"{shown}: LOW must be below HIGH")
    if dist.log and low <= 0:
        raise SearchError(f"{shown}: a log range needs LOW above 0")
    if dist.log and step:
        raise SearchError(f"{shown}: a log range takes no step")
    if step is not None and step <= 0:
        raise SearchError(f"{shown}: step must be above 0")
    if dist.kind == "int" and any(not isinstance(v, int) for v in (low, high, step) if v):
        raise SearchError(f"{shown}: int() takes whole numbers")
    try:
        P.check_value(name, int(low) if dist.kind == "int" else float(low), declared)
    except P.OverrideError:
        kind = "an int range needs an int" if dist.kind == "int" else "a float range needs a float"
        hint = "" if dist.kind == "int" else " (for whole numbers use int(LOW, HIGH))"
        raise SearchError(
            f"{shown}: {name} is declared {P.type_name(declared)}; {kind} parameter{hint}"
        ) from None
    if dist.kind == "float":
        low, high = float(low), float(high)
        step = float(step) if step is not None else None
    return Dist(dist.kind, low, high, dist.log, step)


def checked_space(
    nodeid: str,
    kwargs: dict[str, Any],
    overrides: Any,
    declared: Mapping[str, P.Param],
    axes: Mapping[str, Any],
) -> dict[str, Dist]:
    """An experiment's search space (spec.Overrides given), refused where it cannot be searched."""
    space = space_of(kwargs.get("search"), overrides.search, declared, nodeid)
    if not space:
        return space
    where = f"{nodeid}: @pytest.mark.experiment(search=...)"
    for name in space:
        if name in axes:
            raise SearchError(f"{where}: {name} is a sweep axis too; search it or sweep it")
        for source, layer in (
            ("--exp-set", overrides.from_cli),
            ("--exp-config", overrides.from_file),
        ):
            if name in layer:
                raise SearchError(f"{source} {name}: {name} is searched; give one or the other")
    try:
        import optuna  # noqa: F401
    except ImportError:
        raise SearchError(
            f"{where}: searching needs Optuna, which is not installed: "
            "pip install 'pytest-expharness[search]'"
        ) from None
    if not kwargs.get("metric"):
        raise SearchError(
            f"{where}: a search needs the main metric it optimises: add metric='NAME' "
            "(a tracked series or a results/ key) and mode='min' or 'max'"
        )
    return space


def pruner_of(given: str | None, repeats: int) -> str:
    """The pruner a trial reports to: --exp-pruner, else median (none for repeated trials)."""
    return given or ("none" if repeats > 1 else "median")


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
            raise SearchError(
                f"--exp-sampler grid: {name}={dist.text()} has no finite set of values; "
                "use choice(...) or int(LOW, HIGH), or another sampler"
            )
    return grid


def grid_size(space: dict[str, Dist]) -> int:
    """How many combinations a grid sampler tries over this space."""
    return math.prod(len(values) for values in grid_space(space).values())


NEEDS = {"cmaes": "cmaes", "qmc": "scipy"}  # the package each sampler needs beside Optuna


def check_sampler(sampler: str, space: dict[str, Dist]) -> None:
    """Refuse a sampler that cannot sample this space, or whose package is not installed."""
    import importlib.util

    package = NEEDS.get(sampler)
    if package and importlib.util.find_spec(package) is None:
        raise SearchError(
            f"--exp-sampler {sampler} needs the {package} package, which is not installed: "
            "pip install 'pytest-expharness[search]'"
        )
    if sampler == "grid":
        grid_space(space)
