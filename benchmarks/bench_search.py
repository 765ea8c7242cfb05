"""Asynchronous trials: how busy the workers of a search stay, against a batched design.

Target (issue 17): 40 trials whose durations are drawn from 0.1 to 1.0 s, under
`-n 2`: the workers are busy (inside a trial's run) at least 95% of the sweep's
wall time (first trial started to last trial ended, from the run folders).

The batched figure is what a design that asks for W trials at a time and waits
for the slowest before the next batch (Hydra's Optuna sweeper) would measure
with the very same durations, in the order the trials were numbered.
xdist's default `--dist load` keeps two items queued on each worker, so
near the end a worker may idle while the other holds trial slots; `--dist
worksteal` hands them over (the guide recommends it for searches). Both are
printed. Also prints pruning's saving: total steps tracked with the median pruner
against without it, on a search where half the space is hopeless.

    python benchmarks/bench_search.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from _harness import report

TRIALS = 40
WORKERS = 2

SLEEPY = textwrap.dedent(
    """
    import time
    import pytest

    SECONDS = 0.5

    @pytest.mark.experiment(metric="seconds", search={"SECONDS": "uniform(0.1, 1.0)"})
    def test_sleepy(exp):
        time.sleep(exp.SECONDS)
        exp.track("seconds", exp.SECONDS)
    """
)

DESCENT = textwrap.dedent(
    """
    import pytest

    X = 0.0
    STEPS = 50

    @pytest.mark.experiment(metric="loss", search={"X": "uniform(-1, 1)"})
    def test_descent(exp):
        for step in range(STEPS):
            exp.track("loss", 10.0 if exp.X < 0 else 1.0 / (step + 1))
    """
)


def _session(folder: Path, name: str, text: str, *args: str) -> Path:
    (folder / f"test_{name}.py").write_text(text)
    env = {**os.environ, "PYTEST_ADDOPTS": "-p no:randomly"}
    command = [sys.executable, "-m", "pytest", "-q", f"test_{name}.py", *args]
    subprocess.run(command, cwd=folder, env=env, check=True, capture_output=True)
    (session,) = (folder / "results" / name).iterdir()
    return session


def _runs(session: Path) -> list[dict]:
    found = []
    for run in sorted(session.iterdir()):
        if (run / "summary.json").exists():
            summary = json.loads((run / "summary.json").read_text())
            start = summary["started_unix"]
            found.append({"start": start, "end": start + summary["duration"], **summary})
    return found


def busy_figures(folder: Path, dist: str) -> tuple[float, float, float]:
    """Busy fraction async, the same durations batched, and the sweep's wall time."""
    folder = folder / dist
    folder.mkdir()
    session = _session(
        folder, "sleepy", SLEEPY, "-n", str(WORKERS), "--dist", dist, "--exp-trials", str(TRIALS),
        "--exp-sampler", "random", "--exp-seed", "1",
    )  # fmt: skip
    runs = _runs(session)
    assert len(runs) == TRIALS, len(runs)
    wall = max(r["end"] for r in runs) - min(r["start"] for r in runs)
    busy = sum(r["duration"] for r in runs)
    by_trial = sorted(runs, key=lambda r: int(r["run_id"].split("=")[1]))
    durations = [r["duration"] for r in by_trial]
    batched_wall = sum(max(durations[i : i + WORKERS]) for i in range(0, len(durations), WORKERS))
    return busy / (WORKERS * wall), busy / (WORKERS * batched_wall), wall


def pruning_steps(folder: Path, pruner: str) -> int:
    """Total points tracked by 20 random trials of a half-hopeless search."""
    sub = folder / pruner
    sub.mkdir()
    session = _session(
        sub, "descent", DESCENT, "-p", "no:xdist", "--exp-trials", "20",
        "--exp-sampler", "random", "--exp-seed", "3", "--exp-pruner", pruner,
    )  # fmt: skip
    return sum(r["metrics"]["loss"]["count"] for r in _runs(session))


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        busy, batched, wall = busy_figures(Path(tmp), "worksteal")
        load_busy, _, _ = busy_figures(Path(tmp), "load")
        pruned, full = pruning_steps(Path(tmp), "median"), pruning_steps(Path(tmp), "none")
    print(
        f"{TRIALS} trials of 0.1-1.0 s, -n {WORKERS} --dist worksteal: the sweep took {wall:.2f} s"
    )
    print(f"pruning: {pruned} steps tracked with the median pruner, {full} without")
    return report(
        [
            ("workers busy, async, --dist worksteal", f"{busy:.1%}", "95%", busy >= 0.95),
            ("workers busy, async, --dist load (xdist's default)", f"{load_busy:.1%}", "-", None),
            ("workers busy, batched (same durations)", f"{batched:.1%}", "-", None),
            ("steps tracked, pruned / not pruned", f"{pruned / full:.2f}", "-", None),
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
