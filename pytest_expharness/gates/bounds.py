"""The small languages of gates: bounds (`"< 0.25"`, `">= 0.9"`) and tolerances (`0.05`, `"2%"`).

Both are parsed, never evaluated, and every refusal names what it got and what it takes.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "==": operator.eq,
    "<": operator.lt,
    ">": operator.gt,
}
MODES = ("min", "max")
_BOUND = re.compile(r"\s*(<=|>=|==|<|>)\s*(\S+)\s*\Z")
_PERCENT = re.compile(r"\s*(\S+?)\s*%\s*\Z")


class GateError(ValueError):
    """An expectation, tolerance or baseline that cannot be used as written."""


def number(value: Any) -> float | None:
    """A finite or infinite float from an int or float (not a bool); None for anything else."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _float(text: str) -> float | None:
    try:
        found = float(text)
    except ValueError:
        return None
    return None if math.isnan(found) else found


@dataclass(frozen=True)
class Bound:
    """One side of an expectation: the operator and the number it compares with."""

    op: str
    value: float

    def holds(self, value: float) -> bool:
        return not math.isnan(value) and OPS[self.op](value, self.value)

    @property
    def direction(self) -> str | None:
        """Which way is better for a metric so bounded: max for > and >=, min for < and <=."""
        return {"<": "min", "<=": "min", ">": "max", ">=": "max"}.get(self.op)

    def __str__(self) -> str:
        return f"{self.op} {self.value:g}"


def parse_bound(text: Any, where: str) -> Bound:
    """Read `"< 0.25"`, `">=0.9"` or `"== 3"`; a GateError naming `where` otherwise."""
    found = _BOUND.match(text) if isinstance(text, str) else None
    value = _float(found.group(2)) if found else None
    if found is None or value is None:
        raise GateError(
            f"{where}: {text!r} is no bound; write an operator and a number, "
            f"e.g. '< 0.25' or '>= 0.9' (operators: {', '.join(OPS)})"
        )
    return Bound(found.group(1), value)


def make_bound(op: Any, value: Any, where: str) -> Bound:
    """A bound from `exp.expect(name, op, value)`'s two arguments."""
    if op not in OPS:
        raise GateError(f"{where}: operator {op!r}; use one of {', '.join(OPS)}")
    found = number(value)
    if found is None or math.isnan(found):
        raise GateError(f"{where}: bound {value!r} is not a number")
    return Bound(str(op), found)


@dataclass(frozen=True)
class Tolerance:
    """How far a value may move from its baseline: absolute, or relative to the baseline."""

    amount: float
    relative: bool = False
    mode: str | None = None  # the better direction, when the tolerance names it

    def allowed(self, baseline: float) -> float:
        return self.amount * abs(baseline) if self.relative else self.amount

    def __str__(self) -> str:
        return f"{self.amount * 100:g}%" if self.relative else f"{self.amount:g}"


def parse_tolerance(value: Any, where: str) -> Tolerance:
    """Read `0.05` (absolute), `"2%"` (relative), or either paired with a mode: `("2%", "max")`."""
    mode = None
    if isinstance(value, (tuple, list)) and len(value) == 2:
        value, mode = value
        if mode not in MODES:
            raise GateError(f"{where}: mode {mode!r}; use 'min' or 'max'")
    amount = number(value)
    relative = False
    if amount is None and isinstance(value, str):
        percent = _PERCENT.match(value)
        amount = _float(percent.group(1)) if percent else _float(value)
        if percent and amount is not None:
            amount, relative = amount / 100.0, True
    if amount is None or math.isnan(amount) or amount < 0 or math.isinf(amount):
        raise GateError(
            f"{where}: {value!r} is no tolerance; give a number 0 or more (absolute, e.g. 0.05) "
            "or a percentage (relative to the baseline, e.g. '2%')"
        )
    return Tolerance(amount, relative, mode)
