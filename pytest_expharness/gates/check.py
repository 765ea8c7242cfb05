"""The gates of one run, checked when its test body returns: expectations, then its baseline.

The plugin calls `check` from the run (run/authoring.py) with what the run
knows; the result goes into summary.json (`expectations`, `baseline`), onto
the test's junitxml properties, and, when a gate failed, into GateFailed,
which fails the test while the run stays completed (sweep/outcomes.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .baselines import file_for, measured, read, run_values
from .bounds import Bound, GateError, Tolerance
from .compare import FAILING, IMPROVED, Measured, change_text, compare, message
from .expect import evaluate, final_of
from .labelled import labelled_entry
from .repeats import register

LABEL = "label:"
DEFAULT_TOLERANCE = Tolerance(0.05, relative=True)  # --exp-tolerance's default, 5%


class GateFailed(pytest.fail.Exception):  # type: ignore[misc,name-defined]
    """An expectation or a baseline comparison failed: the test fails, the run completed.

    A pytest.fail without its traceback: the message says all (the test body returned).
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, pytrace=False)


@dataclass(frozen=True)
class GateOptions:
    """What the session asks of the gates (--exp-baseline, --exp-tolerance, ...)."""

    baseline: str | None = None  # None, "file" or "label:NAME"
    strict: bool = False
    tolerance: Tolerance = DEFAULT_TOLERANCE


@dataclass
class RunFacts:
    """What a run tells the gates about itself when its body returns."""

    experiment: str
    point: str
    testing: bool
    module_path: str | None
    metric: str | None
    mode: str
    repeat: int
    repeats: int
    sweep: Path
    root: Path
    finals: dict[str, Any]
    expectations: list[tuple[str, Bound, str]] = field(default_factory=list)
    tolerances: dict[str, Tolerance] = field(default_factory=dict)
    search: bool = False


@dataclass
class Checked:
    """The outcome: what summary.json records, the failure lines, the junitxml properties."""

    summary: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    properties: list[tuple[str, str]] = field(default_factory=list)


def check(facts: RunFacts, options: GateOptions) -> Checked:
    """Check the run's expectations and (when asked) its baseline."""
    done = Checked()
    if facts.expectations:
        checked, failures = evaluate(facts.expectations, facts.finals)
        done.summary["expectations"] = checked
        done.failures += failures
        for one in checked:
            word = "ok" if one["ok"] else "failed"
            text = f"{word}: {one['value']} {one['expected']}"
            done.properties.append((f"expectation:{one['metric']}", text))
    if options.baseline is not None:
        found = _baseline(facts, options)
        done.summary["baseline"] = found
        for one in found.get("metrics", []):
            text = f"{one['verdict']}: now {one['now']}, baseline {one['baseline']}"
            done.properties.append((f"baseline:{one['metric']}", f"{text} ({change_text(one)})"))
        if found["status"] != "compared":
            done.properties.append(("baseline", f"{found['status']}: {found.get('reason')}"))
        done.failures += [message(m, found["source"]) for m in found.get("metrics", [])
                          if m["verdict"] in FAILING]  # fmt: skip
        if found["status"] == "missing" and options.strict:
            reason = f"{found['point']} ({found['reason']})"
            done.failures.append(f"no baseline: {reason} (--exp-baseline-strict)")
    return done


def _names(facts: RunFacts) -> list[str]:
    """The metrics a baseline compares: the main one, then each the marker gives a tolerance."""
    names = [facts.metric] if facts.metric else []
    return names + [n for n in facts.tolerances if n not in names]


def _mode(facts: RunFacts, name: str) -> str | None:
    if name == facts.metric:
        return facts.mode
    tolerance = facts.tolerances.get(name)
    if tolerance is not None and tolerance.mode:
        return tolerance.mode
    return next((b.direction for n, b, _ in facts.expectations if n == name and b.direction), None)


def _entry(facts: RunFacts, options: GateOptions) -> tuple[dict[str, Any] | None, str, str]:
    """The point's baseline entry (None when there is none), its source, and why it is missing."""
    if options.baseline and options.baseline.startswith(LABEL):
        label = options.baseline[len(LABEL) :]
        found = labelled_entry(facts.root, facts.experiment, facts.testing, facts.point, label)
        source = f"runs labelled {label!r}"
        if found is None:
            return None, source, f"no completed run of it is labelled {label!r}"
        return found[0], f"{source} of session {found[1]}", ""
    if facts.module_path is None:
        return None, "a baseline file", "the experiment has no module to keep one beside"
    path = file_for(facts.module_path, facts.experiment, facts.testing)
    data = read(path)
    shown = f"{path.parent.name}/{path.name}"
    if data is None:
        return None, shown, f"{shown} does not exist; write it with --exp-baseline-update"
    return data["points"].get(facts.point), shown, f"{shown} has no entry for it"


def _baseline(facts: RunFacts, options: GateOptions) -> dict[str, Any]:
    names = _names(facts)
    if facts.search:
        return _not("not compared", "-", facts, "a search's trials are no fixed grid points")
    if not names:
        return _not("not compared", "-", facts, "no main metric (metric=) and no tolerance=")
    try:
        entry, source, why = _entry(facts, options)
    except GateError as error:
        raise GateFailed(str(error)) from None
    if entry is None:
        return _not("missing", source, facts, why)
    runs = [facts.finals]
    if facts.repeats > 1:
        values = run_values(facts.finals, {})
        every = register(facts.sweep, facts.point, facts.repeat, facts.repeats, values)
        if every is None:
            reason = f"compared by the mean once all {facts.repeats} repeats have run"
            return _not("pending", source, facts, reason)
        runs = every
    compared = []
    for name in names:
        base = measured(entry, name) or measured(entry, f"results/{name}")
        if base is None:
            return _not("missing", source, facts, f"{source} has no {name} for it")
        now = [final_of(values, name) for values in runs]
        numbers = [found[1] for found in now if found is not None and found[1] is not None]
        if len(numbers) < len(runs):
            compared.append(_absent(name, base))
            continue
        tolerance = facts.tolerances.get(name, options.tolerance)
        compared.append(compare(name, Measured.of(numbers), base, tolerance, _mode(facts, name)))
    verdicts = {one["verdict"] for one in compared}
    verdict = next(
        (v for v in FAILING if v in verdicts), IMPROVED if IMPROVED in verdicts else "ok"
    )
    return {"status": "compared", "source": source, "point": facts.point, "verdict": verdict,
            "metrics": compared}  # fmt: skip


def _absent(name: str, base: Measured) -> dict[str, Any]:
    """A metric the baseline has and this run never tracked: a regression, said so."""
    return {"metric": name, "baseline": base.mean, "now": "not tracked", "change": None,
            "relative": None, "tolerance": "-", "allowed": 0.0, "mode": None, "n": 1,
            "baseline_n": base.n, "verdict": "regressed"}  # fmt: skip


def _not(status: str, source: str, facts: RunFacts, reason: str) -> dict[str, Any]:
    return {"status": status, "source": source, "point": facts.point, "reason": reason}
