"""One metric against its baseline: the change, the margin it may move, and the verdict.

The margin is the tolerance (absolute, or relative to the baseline) and, where
either side has repeats, at least K_SE standard errors of the difference of the
two means, so noise alone does not fail a point. The better direction is the
mode (the main metric's, a tolerance's own, or an expectation's); a metric with
none may change within the margin either way ("changed" beyond it).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .bounds import Tolerance

K_SE = 2.0  # standard errors of the difference a mean may move by noise alone
REGRESSED, IMPROVED, CHANGED, WITHIN = "regressed", "improved", "changed", "ok"
FAILING = (REGRESSED, CHANGED)


@dataclass(frozen=True)
class Measured:
    """A metric's value at a point: the mean of its runs, their std (None for one) and count."""

    mean: float
    std: float | None = None
    n: int = 1

    @classmethod
    def of(cls, values: Sequence[float]) -> Measured:
        """Mean and std of values; inf where they overflow a float (1e308 and more)."""
        try:
            mean = statistics.fmean(values)
        except OverflowError:
            mean = math.inf
        try:
            std = statistics.stdev(values) if len(values) > 1 else None
        except OverflowError:
            std = math.inf
        return cls(mean, std, len(values))


def margin(now: Measured, base: Measured, tolerance: Tolerance) -> float:
    """How far `now` may be from `base` before it counts as a change."""
    allowed = tolerance.allowed(base.mean)
    if now.n > 1 or base.n > 1:
        spread = (now.std or 0.0) ** 2 / now.n + (base.std or 0.0) ** 2 / base.n
        allowed = max(allowed, K_SE * math.sqrt(spread))
    return allowed


def compare(
    name: str, now: Measured, base: Measured, tolerance: Tolerance, mode: str | None
) -> dict[str, Any]:
    """The comparison record of one metric (summary.json's baseline.metrics entries)."""
    change = now.mean - base.mean
    allowed = margin(now, base, tolerance)
    if math.isnan(now.mean):
        verdict = REGRESSED if mode else CHANGED
    elif mode is None:
        verdict = CHANGED if abs(change) > allowed else WITHIN
    else:
        worse = change if mode == "min" else -change
        verdict = REGRESSED if worse > allowed else IMPROVED if -worse > allowed else WITHIN
    return {
        "metric": name,
        "baseline": base.mean,
        "now": now.mean if math.isfinite(now.mean) else str(now.mean),
        "change": change if math.isfinite(change) else None,
        "relative": change / abs(base.mean) if base.mean and math.isfinite(change) else None,
        "tolerance": str(tolerance),
        "allowed": allowed,
        "mode": mode,
        "n": now.n,
        "baseline_n": base.n,
        "verdict": verdict,
    }


def change_text(found: dict[str, Any]) -> str:
    """`+0.06, +20.0%` (or the absolute change alone when the baseline is 0)."""
    change, relative = found.get("change"), found.get("relative")
    if change is None:
        return f"now {found.get('now')}"
    text = f"{change:+.4g}"
    return text + (f", {relative * 100:+.1f}%" if relative is not None else "")


def message(found: dict[str, Any], where: str) -> str:
    """The failure line of a regression (metric, baseline, now, change, tolerance)."""
    what = "regressed" if found["verdict"] == REGRESSED else "changed"
    means = " (means)" if found["n"] > 1 or found["baseline_n"] > 1 else ""
    now = found["now"]
    now_text = f"{now:g}" if isinstance(now, float) else str(now)
    return (
        f"baseline {what}: {found['metric']}{means} = {now_text}, baseline "
        f"{found['baseline']:g} ({change_text(found)}), tolerance {found['tolerance']} "
        f"(allowed {found['allowed']:.4g}{', ' + found['mode'] if found['mode'] else ''}) "
        f"[{where}]"
    )
