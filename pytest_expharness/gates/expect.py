"""Expectations: bounds on a run's final values, from the marker or from `exp.expect`.

`expect={"loss/test": "< 0.25"}` holds for full runs; with --exp-testing the
marker's `testing_expect=` holds instead (smoke sizes give other numbers), and
without it a testing run checks none of the marker's. `exp.expect(...)` holds
in both modes: the code that calls it can look at `exp.testing` itself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .bounds import Bound, GateError, Tolerance, number, parse_bound, parse_tolerance

KEYS = ("expect", "testing_expect", "tolerance")  # the marker's arguments gates read
RESULTS = "results/"


def _named(where: str, key: str, given: Any) -> Mapping[Any, Any]:
    if not isinstance(given, Mapping):
        raise GateError(f"{where}({key}=...): give a dict of metric name to bound, not {given!r}")
    for name in given:
        if not isinstance(name, str) or not name:
            raise GateError(f"{where}({key}=...): {name!r} is no metric name")
    return given


def marker_bounds(kwargs: Mapping[str, Any], testing: bool, where: str) -> dict[str, Bound]:
    """The marker's expectations for this mode, each checked (a GateError names the bad one)."""
    for key in ("expect", "testing_expect"):  # both are checked, whichever mode runs
        if kwargs.get(key) is not None:
            for name, text in _named(where, key, kwargs[key]).items():
                parse_bound(text, f"{where}({key}={{{name!r}: ...}})")
    chosen = kwargs.get("testing_expect" if testing else "expect") or {}
    return {name: parse_bound(text, where) for name, text in chosen.items()}


def marker_tolerances(kwargs: Mapping[str, Any], where: str) -> dict[str, Tolerance]:
    """The marker's `tolerance=`: metric name to tolerance, each checked."""
    given = kwargs.get("tolerance")
    if given is None:
        return {}
    return {
        name: parse_tolerance(value, f"{where}(tolerance={{{name!r}: ...}})")
        for name, value in _named(where, "tolerance", given).items()
    }


def final_of(finals: Mapping[str, Any], name: str) -> tuple[str, float | None] | None:
    """Find a metric's final value: a series, a data key, or a key under results/.

    Returns (the key found, its number; None when it is no number), or None when absent.
    """
    for key in (name, RESULTS + name):
        if key in finals:
            return key, number(finals[key])
    return None


def evaluate(
    expectations: list[tuple[str, Bound, str]], finals: Mapping[str, Any]
) -> tuple[list[dict[str, Any]], list[str]]:
    """Check each (name, bound, source) on the final values; return the records and failures."""
    checked, failures = [], []
    for name, bound, source in expectations:
        found = final_of(finals, name)
        value = None if found is None else found[1]
        ok = value is not None and bound.holds(value)
        checked.append(
            {
                "metric": name,
                "expected": str(bound),
                "value": value if value is None or math.isfinite(value) else str(value),
                "ok": ok,
                "source": source,
            }
        )
        if ok:
            continue
        if found is None:
            failures.append(
                f"expectation {name} {bound}: {name} was never tracked "
                "(no series, data key or results/ key of that name)"
            )
        elif value is None:
            failures.append(f"expectation {name} {bound}: its final value is no number")
        else:
            failures.append(f"expectation failed: {name} = {value:g}, expected {bound}")
    return checked, failures
