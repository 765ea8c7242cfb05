"""BLAS threads under xdist: limited inside runs only, the environment left as the user set it.

Issue 12, point 3: `-n` used to set OMP/OPENBLAS/MKL_NUM_THREADS in the controller
and every worker, for every test of the session and every process it started.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_expharness.session.cores import BLAS_THREADS, available_cores

# Inner sessions record what they saw into files next to the test module: the
# environment in plain tests, BLAS's thread count (threadpoolctl) at worker start,
# inside each run and at the worker's session end.
RECORDING_CONFTEST = """
    import json, os
    from pathlib import Path

    import numpy  # noqa: F401  (BLAS loaded, as in any numpy experiment)
    from threadpoolctl import threadpool_info, threadpool_limits

    HERE = Path(__file__).parent
    if os.environ.get("PRESET_BLAS_LIMIT"):  # a user's own limit, set at import
        _kept = threadpool_limits(limits=int(os.environ["PRESET_BLAS_LIMIT"]), user_api="blas")

    def blas_threads():
        return sorted({p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"})

    def record(name, value):
        # by pid: the inner controller inherits PYTEST_XDIST_WORKER from an outer xdist worker
        (HERE / f"seen-{name}-{os.getpid()}.json").write_text(json.dumps(value))

    record("start", blas_threads())

    def pytest_sessionfinish(session):
        record("end", blas_threads())
"""

RECORDING_TESTS = """
    import os
    import pytest
    from conftest import blas_threads, record

    NAMES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

    @pytest.mark.parametrize("i", [0, 1, 2])
    def test_plain(i):
        record(f"env{i}", {name: os.environ.get(name) for name in NAMES})

    @pytest.mark.parametrize("i", [0, 1, 2, 3])
    def test_fit(exp, i):
        record(f"run{i}", {
            "blas": blas_threads(),
            "env": {name: os.environ.get(name) for name in NAMES},
        })
"""


def _seen(folder: Path, name: str) -> list[Any]:
    """What the inner session's processes recorded under `name`, one value per process."""
    return [json.loads(p.read_text()) for p in sorted(folder.glob(f"seen-{name}-*.json"))]


def _run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, workers: str, **env: str
) -> Path:
    for name in BLAS_THREADS:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    pytester.makeconftest(RECORDING_CONFTEST)
    pytester.makepyfile(test_blas=RECORDING_TESTS)
    result = pytester.runpytest_subprocess("-n", workers, "-p", "no:randomly")
    result.assert_outcomes(passed=7)
    return pytester.path


def _default_threads(pytester: pytest.Pytester) -> list[int]:
    """BLAS's own thread count in a fresh process of this machine (nothing limited)."""
    out = pytester.run(
        sys.executable,
        "-c",
        "import numpy, json; from threadpoolctl import threadpool_info; "
        "print(json.dumps(sorted({p['num_threads'] for p in threadpool_info() "
        "if p['user_api'] == 'blas'})))",
    )
    return json.loads(out.stdout.lines[-1])


def test_xdist_leaves_the_environment_of_plain_tests_unset(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _run(pytester, monkeypatch, "2")
    seen = [*_seen(folder, "env0"), *_seen(folder, "env1"), *_seen(folder, "env2")]
    assert len(seen) == 3
    assert seen == [dict.fromkeys(BLAS_THREADS)] * 3, "a -n session set a BLAS variable"
    runs = [*(_seen(folder, f"run{i}") for i in range(4))]
    assert all(r["env"] == dict.fromkeys(BLAS_THREADS) for rs in runs for r in rs), runs


def test_a_run_under_two_workers_gets_half_the_cores_and_the_limit_comes_back(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    default = _default_threads(pytester)
    share = max(1, available_cores() // 2)
    folder = _run(pytester, monkeypatch, "2")
    inside = [r["blas"] for i in range(4) for r in _seen(folder, f"run{i}")]
    assert inside == [[share]] * 4, f"inside runs BLAS had {inside} threads, expected {share}"
    # the controller and both workers: none limited before its runs or after them
    assert _seen(folder, "start") == [default] * 3, "a process started limited"
    assert _seen(folder, "end") == [default] * 3, "a worker kept the run's limit"


def test_a_user_who_set_omp_num_threads_is_left_alone(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the user's own threadpoolctl limit of 2 set at import; we must neither change it
    # inside runs nor touch the environment
    folder = _run(pytester, monkeypatch, "2", OMP_NUM_THREADS="1", PRESET_BLAS_LIMIT="2")
    user = {**dict.fromkeys(BLAS_THREADS), "OMP_NUM_THREADS": "1"}
    assert [*_seen(folder, "env0"), *_seen(folder, "env1"), *_seen(folder, "env2")] == [user] * 3
    runs = [r for i in range(4) for r in _seen(folder, f"run{i}")]
    assert [r["env"] for r in runs] == [user] * 4
    assert [r["blas"] for r in runs] == [[2]] * 4, "a run changed the user's BLAS limit"


def test_one_worker_limits_nothing(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    default = _default_threads(pytester)
    folder = _run(pytester, monkeypatch, "1")
    runs = [r for i in range(4) for r in _seen(folder, f"run{i}")]
    assert [r["blas"] for r in runs] == [default] * 4
    assert [r["env"] for r in runs] == [dict.fromkeys(BLAS_THREADS)] * 4
