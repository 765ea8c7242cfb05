"""Fault injection: SIGKILL an xdist worker at a random moment, then count the points lost.

Each trial runs a 2-point sweep under `-n 2` in a fresh project. Every run tracks a
point every few milliseconds and, beside it, appends the point to a ground-truth file
with an unbuffered os.write (which the kernel keeps when the process is killed). At a
random moment (also while the run finishes) the script SIGKILLs one run's worker. When
the session has ended, the killed run's metrics.csv (rebuilt by the harness) must hold
every point tracked more than one second before the kill.

    python benchmarks/fault_inject.py [--trials 10] [--seed 1]

Exit code 1 when any point older than a second was lost.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GRACE_S = 1.0
RUN_S = 4.0

EXPERIMENT = f"""
import os, time
import pytest

@pytest.mark.experiment
@pytest.mark.parametrize("k", [0, 1])
def test_points(exp, k):
    path = os.environ["TRUTH_DIR"] + f"/{{k}}.truth"
    truth = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.write(truth, f"pid {{os.getpid()}} {{exp.path}}\\n".encode())
    end, step = time.time() + {RUN_S}, 0
    while time.time() < end:
        exp.track("x", float(step), step=step)
        os.write(truth, f"{{step}} {{time.time()}}\\n".encode())
        step += 1
        time.sleep(0.002)
    exp["results/steps"] = step
"""


def _truth(path: Path) -> tuple[int, Path, list[tuple[int, float]]]:
    lines = path.read_text().splitlines()
    _, pid, folder = lines[0].split(" ", 2)
    points = []
    for line in lines[1:]:
        parts = line.split()
        if len(parts) == 2:  # a line cut by the kill is not a point
            points.append((int(parts[0]), float(parts[1])))
    return int(pid), Path(folder), points


def trial(seed: int, work: Path) -> dict[str, object]:
    """One session, one kill; return what was lost."""
    rng = random.Random(seed)
    project = work / f"trial{seed}"
    truth_dir = project / "truth"
    truth_dir.mkdir(parents=True)
    (project / "test_fault.py").write_text(EXPERIMENT)
    env = {**os.environ, "TRUTH_DIR": str(truth_dir)}
    session = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-n", "2", "-p", "no:cacheprovider"],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    victim = rng.choice([0, 1])
    truth_file = truth_dir / f"{victim}.truth"
    while not truth_file.exists() or not truth_file.read_text().strip():
        time.sleep(0.01)
    pid, folder, _ = _truth(truth_file)
    delay = rng.uniform(0.2, RUN_S + 0.3)  # now and then while the run finishes
    time.sleep(delay)
    killed_at = time.time()
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        killed_at = float("inf")  # it had ended already: every point must be there
    output = session.communicate(timeout=120)[0].decode(errors="replace")
    _, _, points = _truth(truth_file)
    summary = json.loads((folder / "summary.json").read_text())
    with open(folder / "metrics.csv", newline="") as handle:
        stored = {int(row["step"]) for row in csv.DictReader(handle) if row["name"] == "x"}
    must = [step for step, t in points if t < killed_at - GRACE_S]
    lost = [step for step in must if step not in stored]
    return {
        "seed": seed,
        "kill_after_s": round(delay, 2),
        "status": summary["status"],
        "tracked": len(points),
        "older_than_1s": len(must),
        "stored": len(stored),
        "lost": len(lost),
        "summary_line": output.strip().splitlines()[-1] if output.strip() else "",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    total_lost = 0
    with tempfile.TemporaryDirectory(prefix="expharness-faults-") as tmp:
        for k in range(args.trials):
            result = trial(args.seed * 1000 + k, Path(tmp))
            total_lost += int(result["lost"])  # type: ignore[call-overload]
            print(json.dumps(result))
    print(f"points lost (tracked > {GRACE_S:.0f} s before the kill): {total_lost}")
    return 1 if total_lost else 0


if __name__ == "__main__":
    sys.exit(main())
