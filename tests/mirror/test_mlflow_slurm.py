"""--exp-mlflow with --exp-slurm: the submitting session mirrors the job's runs once it ended."""

from __future__ import annotations

import os
import shutil
import subprocess

import matplotlib.figure  # noqa: F401  (see tests/conftest.py)
import mlflow  # noqa: F401  (loaded before any pytester session: tests/conftest.py)
import pytest
from mlflow.tracking import MlflowClient


def _cluster_problem() -> str | None:
    if shutil.which("sbatch") is None:
        return "no SLURM: `sbatch` is not on PATH (bash ../shared/slurm/start_slurm.sh)"
    try:
        ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return "no SLURM controller answers"
    return None if " is UP" in ping.stdout else "no SLURM controller answers"


if (_problem := _cluster_problem()) is not None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true: the SLURM tests must run in CI, but {_problem}", pytrace=False)
    pytest.skip(_problem, allow_module_level=True)

pytestmark = pytest.mark.slow

GRID = """
import pytest

@pytest.mark.parametrize("x", [1, 2])
def test_fit(exp, x):
    for step in range(3):
        exp.track("loss", x * step, step=step)
"""


def test_exp_mlflow_under_slurm_mirrors_every_run_of_the_job(pytester: pytest.Pytester) -> None:
    pytester.makefile(".ini", pytest="[pytest]\n")
    pytester.makepyfile(test_grid=GRID)
    uri = f"sqlite:///{pytester.path / 'mlflow.db'}"
    result = pytester.runpytest_subprocess(
        "-p", "no:randomly", "--exp-slurm", "--exp-mlflow", uri, timeout=180
    )
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [f"mirrored 2 runs to MLflow at {uri} (2 new, 0 brought up to date)"]
    )
    client = MlflowClient(uri)
    found = client.search_runs([client.get_experiment_by_name("fit").experiment_id])
    assert sorted(r.data.tags["expharness.run_id"] for r in found) == ["x=1", "x=2"]
    for run in found:
        history = client.get_metric_history(run.info.run_id, "loss")
        assert [m.step for m in history] == [0, 1, 2]
