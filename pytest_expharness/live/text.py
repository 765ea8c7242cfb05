"""The live view's lines: a line per sweep, then one per run in flight (or crashed).

    compare_latent  3 done, 2 running, 1 failed, 1 crashed of 7 · elapsed 1m05s · ETA 40s
      lr=0.1   [######----] 12/20  elapsed 30s  ETA 20s  loss=0.123  acc=0.9  kl=0.01
      lr=0.3   crashed: process 4242 on vm is gone

A run with a total extrapolates its own pace; one without uses the mean
duration of the sweep's finished runs. N is the number of runs the session
means to make (planned.json, written with the first run); the sweep's ETA gives
each run not started yet to the first run in flight to end, at the mean
duration (of the finished runs, else the projected ones in flight).
"""

from __future__ import annotations

import heapq
import math
import time

from .runs import RunState, SweepState

BAR = 10
SHOWN_VALUES = 3  # the main metric and up to two other series
IN_FLIGHT = ("running", "stale", "starting")
FAILED = ("failed", "interrupted")
TROUBLE = ("crashed", "unknown")


def duration(seconds: float | None) -> str:
    """'42s', '3m05s', '2h07m'; '?' for nothing."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "?"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def bar(step: int, total: int) -> str:
    """'[######----]' for step of total."""
    filled = min(BAR, max(0, round(BAR * step / total)))
    return "[" + "#" * filled + "-" * (BAR - filled) + "]"


def _value(value: float) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def run_eta(run: RunState, now: float, mean: float | None) -> float | None:
    """Seconds left for a running run: its own pace with a total, else the sweep's mean."""
    if run.started is None:
        return None
    elapsed = now - run.started
    if run.total and run.step:
        return max(0.0, elapsed * (run.total - run.step) / run.step)
    if mean is not None:
        return max(0.0, mean - elapsed)
    return None


def _mean_duration(sweep: SweepState) -> float | None:
    done = [r.duration for r in sweep.runs if r.status == "completed" and r.duration is not None]
    return sum(done) / len(done) if done else None


def sweep_eta(flight: list[tuple[float, float]], waiting: int, mean: float | None) -> float | None:
    """Seconds until the sweep ends, from each run in flight's (elapsed, ETA): each waiting
    run starts when the first run in flight ends and takes the mean duration."""
    etas = [eta for _, eta in flight]
    if waiting <= 0 or not etas:
        return max(etas, default=None)
    if mean is None:  # nothing finished yet: the projected durations of the runs in flight
        mean = sum(elapsed + eta for elapsed, eta in flight) / len(flight)
    free = sorted(etas)
    for _ in range(waiting):
        heapq.heappush(free, heapq.heappop(free) + mean)
    return max(free)


def _in_flight(runs: list[RunState]) -> list[RunState]:
    return [r for r in runs if r.status in IN_FLIGHT]


def run_line(run: RunState, now: float, mean: float | None) -> str:
    """The line of one run in flight, crashed or unreadable."""
    if run.status in TROUBLE or run.status == "stale":
        return f"  {run.run_id}  {run.status}: {run.reason or 'no reason known'}"
    parts = [f"  {run.run_id}"]
    if run.step is not None and run.total:
        parts.append(f"{bar(run.step, run.total)} {run.step}/{run.total}")
    elif run.step is not None:
        parts.append(f"step {run.step}")
    else:
        parts.append(run.status)
    elapsed = now - run.started if run.started is not None else None
    parts.append(f"elapsed {duration(elapsed)}")
    eta = run_eta(run, now, mean) if run.total else None
    if eta is not None:
        parts.append(f"ETA {duration(eta)}")
    parts.extend(f"{n}={_value(v)}" for n, v in list(run.values.items())[:SHOWN_VALUES])
    return "  ".join(parts)


def sweep_line(sweep: SweepState, now: float) -> str:
    """The sweep's line: its counts, elapsed time and ETA."""
    runs = sweep.runs
    counts = {
        "done": sum(r.status in ("completed", "reused") for r in runs),
        "running": sum(r.status in IN_FLIGHT for r in runs),
        "failed": sum(r.status in FAILED for r in runs),
        "preempted": sum(r.status == "preempted" for r in runs),  # to go on after a requeue
        "crashed": sum(r.status == "crashed" for r in runs),
        "unknown": sum(r.status == "unknown" for r in runs),
    }
    shown = [f"{n} {what}" for what, n in counts.items() if n or what in ("done", "running")]
    total = max(sweep.planned or 0, len(runs))
    text = f"{sweep.experiment}  {', '.join(shown)} of {total}"
    starts = [r.started for r in runs if r.started is not None]
    ends = [r.started + r.duration for r in runs if r.started is not None and r.duration]
    if starts and counts["running"] == 0 and ends:
        now = max(ends)  # nothing in flight: the sweep's elapsed time stops with its last run
    if starts:
        text += f" · elapsed {duration(now - min(starts))}"
    mean = _mean_duration(sweep)
    flight = [
        (now - (r.started or now), run_eta(r, now, mean)) for r in runs if r.status in IN_FLIGHT
    ]
    if flight and all(eta is not None for _, eta in flight):
        known = [(elapsed, eta) for elapsed, eta in flight if eta is not None]
        eta = sweep_eta(known, total - len(runs), mean)
        if eta is not None:
            text += f" · ETA {duration(eta)}"
    return text + (" · ended" if sweep.ended else "")


def lines(sweeps: list[SweepState], now: float | None = None) -> list[str]:
    """Every line of the view: each sweep's, then its runs in flight, crashed or unreadable."""
    now = time.time() if now is None else now
    out: list[str] = []
    for sweep in sweeps:
        out.append(sweep_line(sweep, now))
        mean = _mean_duration(sweep)
        shown = IN_FLIGHT + TROUBLE
        out.extend(run_line(r, now, mean) for r in sweep.runs if r.status in shown)
    return out
