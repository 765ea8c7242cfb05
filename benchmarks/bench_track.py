"""exp.track cost with the flusher running, and the cost of finishing a 1M-point run.

Targets: at most 0.25 us per exp.track(name, float) over a loop of 1,000,000
calls (issue 15; was 0.5 in issue 2, measured 0.22 before the flusher began
taking points out of memory); finishing a run that tracked 1,000,000 points
(series/ and metrics.csv complete, plots made) in at most 3 s, and at most as
long as its tracking loop (issue 15). A bare list.append loop is printed for
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
        per_call, finish, ratios = [], [], []
        for rep in range(3):
            exp = standalone_run(Path(tmp) / f"r{rep}")
            loop = loop_exp_track(exp)
            per_call.append(loop / N * 1e6)
            start = time.perf_counter()
            exp.finish({"status": "completed"})
            finish.append(time.perf_counter() - start)
            ratios.append(finish[-1] / loop)
            rows = (exp.path / "metrics.csv").read_text().count("\n") - 1
            assert rows == N, rows
            npy = exp.path / "series" / "loss.npy"
            assert npy.stat().st_size == 192 + 24 * N, npy.stat().st_size
            assert list((exp.path / "plots").glob("loss.*")), "no plot of loss"
        bare = median([loop_append() for _ in range(3)]) / N * 1e6
    us, done, ratio = median(per_call), median(finish), median(ratios)
    print(f"bare list.append loop: {bare:.3f} us/call; exp.track is {us / bare:.1f}x that")
    return report(
        [
            ("exp.track(name, float), us/call", f"{us:.3f}", "0.25 (was 0.22)", us <= 0.25),
            ("exp.track / bare list.append", f"{us / bare:.2f}", "-", None),
            ("finish a 1M-point run, s", f"{done:.2f}", "3.0", done <= 3.0),
            ("finish / its tracking loop", f"{ratio:.2f}", "1.0 (was ~5)", ratio <= 1.0),
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
