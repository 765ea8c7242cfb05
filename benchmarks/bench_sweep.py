"""Sweeps across cores, and controller-side aggregation.

Targets (issue 3):
- a CPU-bound sweep of 40 points (each about 0.2 s of single-threaded numpy
  work): `-n 2` at least 1.8x faster than `-n 0` on 2 cores;
- aggregation and table writing for a 1,000-run sweep: at most 0.5 s.

The speed-up is given two ways: whole sessions (worker start-up included) and
the sweep itself (first run started to last run ended, from the run folders).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from _harness import report, timed_session

POINTS = 40
WORK = 0.2  # seconds of numpy per point

EXPERIMENT = textwrap.dedent(
    f"""
    import time
    import numpy as np
    import pytest

    REPS: int = 1

    @pytest.mark.parametrize("point", range({POINTS}))
    def test_cpu(exp, point):
        x = np.linspace(0.0, 1.0, 200_000)
        for _ in range(exp.REPS):
            x = np.sin(x) * 1.0001 + np.cos(x) * 0.0001
        exp.track("checksum", float(x.sum()))
    """
)


def calibrate(folder: Path) -> int:
    """Repetitions of the inner loop that take about WORK seconds here."""
    import numpy as np

    x = np.linspace(0.0, 1.0, 200_000)
    start, reps = time.perf_counter(), 0
    while time.perf_counter() - start < 0.5:
        x = np.sin(x) * 1.0001 + np.cos(x) * 0.0001
        reps += 1
    return max(1, int(reps * WORK / (time.perf_counter() - start)))


def sweep_span(root: Path) -> float:
    """First run started to last run ended, from the summaries."""
    starts, ends = [], []
    for path in root.rglob("summary.json"):
        summary = json.loads(path.read_text())
        starts.append(summary["started_unix"])
        ends.append(summary["started_unix"] + summary["duration"])
    assert len(starts) == POINTS, len(starts)
    return max(ends) - min(starts)


def speedup() -> tuple[float, float]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "test_cpu.py").write_text(EXPERIMENT)
        (folder / "pytest.ini").write_text("[pytest]\n")
        reps = calibrate(folder)
        common = ["-q", "-p", "no:cacheprovider", "--exp-set", f"REPS={reps}"]
        timed_session(
            [*common, "-p", "no:xdist", "--exp-root", "warm", "-k", "cpu and 0"], folder, env
        )
        serial = timed_session([*common, "-n", "0", "--exp-root", "serial"], folder, env)
        parallel = timed_session([*common, "-n", "2", "--exp-root", "parallel"], folder, env)
        spans = sweep_span(folder / "serial"), sweep_span(folder / "parallel")
    print(
        f"40 points: -n 0 {serial:.2f} s (sweep {spans[0]:.2f} s), "
        f"-n 2 {parallel:.2f} s (sweep {spans[1]:.2f} s)"
    )
    return serial / parallel, spans[0] / spans[1]


def synthetic_records(n: int, root: Path) -> list[dict[str, object]]:
    rng = random.Random(1)
    sweep = root / "big" / "2026-01-01_00-00-00_abcd"
    records = []
    for i in range(n):
        status = rng.choice(["completed"] * 18 + ["failed", "skipped"])
        records.append(
            {
                "experiment": "big",
                "session": sweep.name,
                "run_id": f"lr={i},beta={i % 10}",
                "path": str(sweep / f"lr={i},beta={i % 10}"),
                "sweep": str(sweep),
                "node_id": f"test_big.py::test_big[{i}]",
                "status": status,
                "reason": None if status == "completed" else "ValueError: boom",
                "testing": False,
                "axes": {"lr": i // 10, "beta": i % 10},
                "repeat": 0,
                "repeats": 1,
                "seed": 0,
                "duration": rng.random(),
                "metrics": {"loss": rng.random(), "acc": rng.random(), "loss.kl.z": rng.random()},
                "results": {"results/final": rng.random()},
                "metric": "loss",
                "mode": "min",
                "source_hash": "x",
            }
        )
    return records


def aggregation() -> float:
    from pytest_expharness.sweep.tablefiles import write_sweeps
    from pytest_expharness.sweep.tabletext import TERMINAL_ROWS, render

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        records = synthetic_records(1000, root)
        times = []
        for _ in range(5):
            start = time.perf_counter()
            (table,), _ = write_sweeps(records, root, "2026-01-01_00-00-00_abcd", False)
            render(table, "simple", TERMINAL_ROWS)
            times.append(time.perf_counter() - start)
            shutil.rmtree(root / "big")
        assert len(table.rows) == 1000 and table.pivot is not None
    return sorted(times)[len(times) // 2]


def main() -> int:
    whole, sweep = speedup()
    agg = aggregation()
    return report(
        [
            ("-n 2 vs -n 0, whole sessions (x)", f"{whole:.2f}", ">= 1.8", None),
            ("-n 2 vs -n 0, the sweep itself (x)", f"{sweep:.2f}", ">= 1.8", sweep >= 1.8),
            ("aggregate + write a 1,000-run sweep, s", f"{agg:.3f}", "0.5", agg <= 0.5),
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
