"""Peak memory and finishing time of a big run, and loading its series back (issue 15, 2-3).

Each run happens in a fresh child process, which reports its peak RSS
(resource.getrusage) after tracking N points of one series and finishing.
Targets: peak RSS at most 200 MB above a 10-point run's (before: 2.18 GB for
10 M points, about 170 bytes a point); finishing at most as long as the
tracking loop took (before: about 5x, 14.1 s for 10 M points; 3.4-3.7x with
the journal streamed at the end); load_run of 10 M points under a second.
The run's helper process (archive/seriesio) writes series/ and metrics.csv
while the loop runs, on the other core, and shares what is left at the end:
its own peak RSS is shown beside the run's (about 55-60 MB). On the 2-core
build machine, at 20 M points: finishing 0.24-0.59x the loop (main, the same
hour: 3.2x), with loops of 0.48-0.56 us a point; the machine's speed varies
by nearly 2x from hour to hour, and a faster loop makes the ratio higher (two
busy processes there each run about 40% slower than one alone).
`python benchmarks/bench_memory.py [POINTS]`, 20,000,000 by default.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _harness import report, standalone_run

TARGET_POINTS = 20_000_000


def child(points: int, root: Path) -> None:
    """Track points in one run, finish it, load it back; print the figures as JSON."""
    exp = standalone_run(root)
    track = exp.track
    start = time.perf_counter()
    for i in range(points):
        track("loss", i * 0.5)
    tracked = time.perf_counter() - start
    start = time.perf_counter()
    exp.finish({"status": "completed"})
    finished = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    helper = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # waited for
    from pytest_expharness import load_run

    start = time.perf_counter()
    load_run(exp.path)  # the first load also imports numpy and yaml
    first = time.perf_counter() - start
    start = time.perf_counter()
    loaded = load_run(exp.path)
    load = time.perf_counter() - start
    assert len(loaded.metrics["loss"]) == points, len(loaded.metrics["loss"])
    with open(exp.path / "metrics.csv", "rb") as handle:
        rows = sum(1 for _ in handle) - 1
    assert rows == points, rows
    print(
        json.dumps(
            {
                "peak": peak,
                "helper": helper,
                "tracked": tracked,
                "finished": finished,
                "load": load,
                "first": first,
            }
        )
    )


def measure(points: int, root: Path) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", str(points), str(root)],
        capture_output=True,
        text=True,
        check=True,
    )
    figures: dict[str, float] = json.loads(done.stdout.splitlines()[-1])
    return figures


def main(points: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        tiny = measure(10, Path(tmp) / "tiny")
        big = measure(points, Path(tmp) / "big")
    extra_mb = (big["peak"] - tiny["peak"]) / 2**20
    ratio = big["finished"] / big["tracked"]
    load_10m = big["load"] * 10_000_000 / points
    print(
        f"{points:,} points: tracking {big['tracked']:.2f} s "
        f"({big['tracked'] / points * 1e6:.3f} us/point), finishing {big['finished']:.2f} s, "
        f"peak RSS {big['peak'] / 2**20:.0f} MB against {tiny['peak'] / 2**20:.0f} MB "
        f"for 10 points; load_run {big['load']:.2f} s ({big['first']:.2f} s the first time)"
    )
    scale = points / TARGET_POINTS
    return report(
        [
            (
                f"peak RSS above a tiny run's, MB ({points:,} points)",
                f"{extra_mb:.0f}",
                f"{200 * max(scale, 1):.0f} (was 2180 for 10M)",
                extra_mb <= 200 * max(scale, 1),
            ),
            ("finishing / tracking loop", f"{ratio:.2f}", "1.0 (was ~5)", ratio <= 1.0),
            ("the helper process's peak RSS, MB", f"{big['helper'] / 2**20:.0f}", "-", None),
            ("load_run, s per 10M points", f"{load_10m:.2f}", "1.0", load_10m <= 1.0),
        ]
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(int(sys.argv[2]), Path(sys.argv[3]))
        sys.exit(0)
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else TARGET_POINTS))
