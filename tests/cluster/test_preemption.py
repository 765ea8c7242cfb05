"""SLURM's time limit on the real cluster: USR1, the run ends preempted, the task requeues and
the run goes on from its checkpoint, until it completes as one continuous run.

With `--time=1 --signal=B:USR1@30` SLURM sends USR1 up to a minute early (about
18 s into the task here), and a requeued task is eligible again two minutes
later: 25 s of work take about three minutes.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from tests.cluster.test_slurm import _output, _session, slurm_pytester  # noqa: F401

LONG = """
import time
import pytest

STEPS = 50

@pytest.mark.experiment(metric="x")
def test_long(exp):
    found = exp.restore()
    state = found[0] if found else {"done": -1}
    exp.on_preempt(lambda e: e.checkpoint(state, step=max(state["done"], 0)))
    for step in range(state["done"] + 1, exp.STEPS):
        exp.track("x", float(step), step=step)
        state["done"] = step
        if step % 10 == 9:
            exp.checkpoint(state, step=step)
        time.sleep(0.5)
"""


def _steps(run: Path) -> list[int]:
    with open(run / "metrics.csv", newline="") as handle:
        return [int(row["step"]) for row in csv.DictReader(handle) if row["name"] == "x"]


@pytest.mark.timeout(600)
def test_a_run_longer_than_its_time_limit_completes_after_requeues(
    slurm_pytester: pytest.Pytester,  # noqa: F811
) -> None:
    pytester = slurm_pytester
    pytester.makepyfile(test_long=LONG)
    root = pytester.path / "results"
    result = pytester.runpytest_subprocess(
        "-p", "no:randomly", "--exp-slurm", "--exp-root", str(root), "--exp-slurm-grace", "30",
        "--exp-slurm-opt=--time=1", timeout=540,
    )  # fmt: skip
    out = _output(result)
    result.assert_outcomes(passed=1)
    (session,) = (root / "long").iterdir()
    runs = sorted((p for p in session.iterdir() if (p / "config.yaml").is_file()), key=str)
    assert len(runs) >= 2, out  # one attempt per requeue at least
    configs = {r: yaml.safe_load((r / "config.yaml").read_text()) for r in runs}
    summaries = {r: json.loads((r / "summary.json").read_text()) for r in runs}
    done = [r for r in runs if summaries[r]["status"] == "completed"]
    assert len(done) == 1, {r.name: summaries[r]["status"] for r in runs}
    final = done[0]
    assert _steps(final) == list(range(50))  # continuous over the requeues
    assert configs[final]["experiment"]["resumed_from"].startswith(session.name)
    earlier = [r for r in runs if r != final]
    assert all(summaries[r]["status"] == "preempted" for r in earlier)
    assert all(configs[r]["experiment"]["label"] == "superseded" for r in earlier)
    table = json.loads((session / "comparison.json").read_text())
    assert [row["run"] for row in table["rows"]] == [final.name]  # one row for the point
    assert table["rows"][0]["reason"].startswith(f"resumed from {session.name}/run")


HOOKED = """
import time
import pytest
from pytest_expharness import hook

@hook("preempt")
def save_now(exp):
    exp.checkpoint({"saved_by": "hook"}, step=exp["step"])

@pytest.mark.experiment(metric="x")
def test_hooked(exp):
    exp.on_preempt(lambda e: e.log("callback ran first"))
    for step in range(600):
        exp["step"] = step
        exp.track("x", float(step), step=step)
        time.sleep(0.05)
"""


def test_usr1_runs_the_callbacks_and_the_hook_and_ends_the_run_preempted(
    slurm_pytester: pytest.Pytester,  # noqa: F811
) -> None:
    """The task's side of a preemption, with USR1 sent by hand instead of by slurmctld."""
    import os
    import signal
    import subprocess
    import sys
    import time

    pytester = slurm_pytester
    pytester.makepyfile(test_hooked=HOOKED)
    root = pytester.path / "results"
    job = root / "_slurm" / "2026-01-01_00-00-00_abcd"
    (job / "tasks").mkdir(parents=True)
    session = {"stamp": job.name, "command": ["pytest"], "provenance": {}, "rootdir": "."}
    (job / "session.json").write_text(json.dumps(session))
    env = {**os.environ, "SLURM_ARRAY_TASK_ID": "0"}
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:randomly", "-p", "no:xdist",
         "--exp-root", str(root), "--exp-slurm-task", str(job), "test_hooked.py"],
        cwd=pytester.path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not list(root.glob("hooked/*/*/metrics.journal")) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)
    process.send_signal(signal.SIGUSR1)
    out = process.communicate(timeout=60)[0].decode()
    (run,) = root.glob("hooked/*/run")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "preempted", out
    assert "SLURM sent USR1" in summary["reason"]
    assert (job / "tasks" / "0.preempted").is_file()  # the batch shell requeues on it
    manifest = json.loads((run / "checkpoints" / "manifest.json").read_text())
    (entry,) = manifest["checkpoints"]
    assert 0 < entry["step"] < 599  # saved by the hook at the step the run had reached
    log = (run / "run.log").read_text()
    assert log.index("callback ran first") < log.index("hook preempt")
    count = summary["metrics"]["x"]["count"]  # everything tracked is kept
    assert count in (entry["step"], entry["step"] + 1)  # USR1 fell before or after its track
