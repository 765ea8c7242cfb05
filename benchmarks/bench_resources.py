"""The cost of resource accounting: the flusher thread's CPU with and without sys/ sampling.

A run sits idle for SECONDS while the flusher serves it; the flusher thread's own
CPU time (/proc/self/task/<tid>/schedstat) is compared between --exp-sys-interval 0
(no sampling), the default 10 and 0.25 (a sample every flush, the most there can
be). Target: sampling at the default adds at most 1% to the flusher's CPU, and
even at 0.25 s the flusher uses under 2% of one core. One `Usage.sample` and the
start and end of the accounting are timed too. exp.track's hot path is not
touched (benchmarks/bench_track.py measures it).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from pytest_expharness.session.resources import Usage

from _harness import median, report, standalone_run

SECONDS = 4.0


def thread_cpu(native_id: int) -> float:
    """CPU seconds one thread of this process has run (schedstat: nanoseconds, not ticks)."""
    with open(f"/proc/self/task/{native_id}/schedstat") as handle:
        return int(handle.read().split()[0]) / 1e9


def flusher_cpu(root: Path, interval: float) -> tuple[float, int]:
    """CPU seconds the flusher used serving one idle run for SECONDS, and the samples taken."""
    exp = standalone_run(root, sys_interval=interval)
    time.sleep(0.3)  # the thread is up and the run's first flush is done
    thread = exp._flusher._thread
    assert thread is not None and thread.native_id is not None
    start = thread_cpu(thread.native_id)
    time.sleep(SECONDS)
    used = thread_cpu(thread.native_id) - start
    exp.finish({"status": "completed"})
    samples = exp.path.joinpath("metrics.csv").read_text().count("sys/rss_mb")
    return used, samples


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        found: dict[float, list[float]] = {0.0: [], 10.0: [], 0.25: []}
        samples: dict[float, int] = {}
        for rep in range(3):
            for interval in found:
                used, samples[interval] = flusher_cpu(Path(tmp) / f"{interval}-{rep}", interval)
                found[interval].append(used)
    off, default, every = (median(found[i]) for i in (0.0, 10.0, 0.25))
    usage = Usage(0.25)
    n = 2000
    start = time.perf_counter()
    for _ in range(n):
        usage.sample(time.time())
    per_sample = (time.perf_counter() - start) / n * 1e6
    start = time.perf_counter()
    for _ in range(200):
        Usage(0.0).final(time.time())
    per_run = (time.perf_counter() - start) / 200 * 1e6
    print(f"samples in {SECONDS} s: interval 0.25 -> {samples[0.25]}, 10 -> {samples[10.0]}")
    share = lambda cpu: f"{100 * cpu / SECONDS:.2f}"  # noqa: E731
    return report(
        [
            ("flusher CPU %, --exp-sys-interval 0", share(off), "-", None),
            (
                "flusher CPU %, --exp-sys-interval 10",
                share(default),
                "off + 1",
                default <= off + 0.01 * SECONDS,
            ),
            (
                "flusher CPU %, --exp-sys-interval 0.25",
                share(every),
                "2.0",
                every <= 0.02 * SECONDS,
            ),
            ("one sample (no GPU), us", f"{per_sample:.1f}", "100", per_sample <= 100),
            ("sampling's share of a core every 10 s, %", f"{per_sample / 1e4 / 10:.5f}", "-", None),
            ("start + end of a run's accounting, us", f"{per_run:.1f}", "500", per_run <= 500),
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
