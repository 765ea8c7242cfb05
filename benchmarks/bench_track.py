"""exp.track cost with the flusher running, and the cost of finishing a 1M-point run.

Targets (issue 2): at most 0.5 us per exp.track(name, float) over a loop of
1,000,000 calls; finishing a run that tracked 1,000,000 points (metrics.csv
complete, plots made) in at most 3 s. A bare list.append loop is printed for
scale: the ratio to it is the machine-independent figure.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from _harness import median, report, standalone_run

N = 1_000_000


def loop_track(exp: object) -> float:
    track = exp.track  # type: ignore[attr-defined]
    start = time.perf_counter()
    for i in range(N):
        track("loss", i * 0.5)
    return time.perf_counter() - start


def loop_exp_track(exp: object) -> float:
    start = time.perf_counter()
    for i in range(N):
        exp.track("loss", i * 0.5)  # type: ignore[attr-defined]
    return time.perf_counter() - start


def loop_append() -> float:
    out: list[float] = []
    start = time.perf_counter()
    for i in range(N):
        out.append(i * 0.5)
    return time.perf_counter() - start


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        per_call, finish = [], []
        for rep in range(3):
            exp = standalone_run(Path(tmp) / f"r{rep}")
            per_call.append(loop_exp_track(exp) / N * 1e6)
            start = time.perf_counter()
            exp.finish({"status": "completed"})
            finish.append(time.perf_counter() - start)
            rows = (exp.path / "metrics.csv").read_text().count("\n") - 1
            assert rows == N, rows
            assert (exp.path / "plots" / "loss.png").exists()
        bare = median([loop_append() for _ in range(3)]) / N * 1e6
    us = median(per_call)
    print(f"bare list.append loop: {bare:.3f} us/call; exp.track is {us / bare:.1f}x that")
    return report(
        [
            ("exp.track(name, float), us/call", f"{us:.3f}", "0.5", us <= 0.5),
            ("finish a 1M-point run, s", f"{median(finish):.2f}", "3.0", median(finish) <= 3.0),
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
