"""--exp-slurm on a real SLURM cluster: submit, wait, collect, detach, chunks, usage errors.

Each test submits its own small job array from its own pytester folder. The array
tasks run `python -m pytest <their tests>` in separate processes from that folder, so
the submitting session runs in a subprocess too and the folder has a pytest.ini
(its rootdir). The cluster may be shared with other tests (`pytest -n auto`):
tasks may queue, so every session is time-bounded and every job is cancelled at
teardown, should a test stop before its job ends.

Needs `sbatch` on PATH and a controller that answers `scontrol ping` (start a
single-node cluster with ../shared/slurm/start_slurm.sh); the tests skip without
one, and fail instead under CI=true.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_expharness.cli import main as cli

START_CLUSTER = "bash ../shared/slurm/start_slurm.sh"


def _cluster_problem() -> str | None:
    """Why these tests cannot run here, or None when a SLURM controller answers."""
    if shutil.which("sbatch") is None:
        return f"no SLURM: `sbatch` is not on PATH; install and start one with {START_CLUSTER}"
    try:
        ping = subprocess.run(
            ["scontrol", "ping"], capture_output=True, text=True, timeout=5, check=False
        )
        answer = ping.stdout
    except (OSError, subprocess.SubprocessError):
        answer = ""
    if " is UP" not in answer:
        return f"no SLURM controller answers; start one with {START_CLUSTER}"
    return None


if (_problem := _cluster_problem()) is not None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true: the SLURM tests must run in CI, but {_problem}", pytrace=False)
    pytest.skip(_problem, allow_module_level=True)

pytestmark = pytest.mark.slow

TIMEOUT_S = 180  # one session: submission, queueing behind other tests' jobs, the tasks
STATE_WORD = re.compile(
    r"\b(FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|PREEMPTED|BOOT_FAIL|DEADLINE|"
    r"COMPLETED|UNKNOWN)\b"
)


# -- helpers --------------------------------------------------------------------


def _job_ids(base: Path) -> list[str]:
    """The job ids of every job submitted from this pytester folder."""
    ids = []
    for path in base.rglob("_slurm/*/job.json"):
        try:
            ids.append(str(json.loads(path.read_text())["job_id"]))
        except (OSError, ValueError, KeyError):
            continue
    return ids


@pytest.fixture
def slurm_pytester(pytester: pytest.Pytester) -> Iterator[pytest.Pytester]:
    """A pytester folder that is its own rootdir; its SLURM jobs are cancelled at the end."""
    pytester.makefile(".ini", pytest="[pytest]\n")
    yield pytester
    for job_id in _job_ids(pytester.path):  # no-op for jobs that ended
        subprocess.run(["scancel", job_id], capture_output=True, check=False, timeout=60)


def _session(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """A pytest session in a subprocess, in collection order (its tasks get -p no:randomly too)."""
    return pytester.runpytest_subprocess("-p", "no:randomly", *args, timeout=TIMEOUT_S)


def _output(result: pytest.RunResult) -> str:
    return result.stdout.str() + "\n" + result.stderr.str()


def _job_folder(root: Path) -> Path:
    """The single job folder <root>/_slurm/<session>/."""
    found = sorted((root / "_slurm").iterdir())
    assert len(found) == 1, found
    return found[0]


def _job(root: Path) -> dict[str, Any]:
    return json.loads((_job_folder(root) / "job.json").read_text())


def _nodeids(root: Path) -> list[str]:
    return (_job_folder(root) / "nodeids.txt").read_text().splitlines()


def _sweep(root: Path, experiment: str) -> Path:
    """The single sweep folder <root>/<experiment>/<session>/."""
    found = [p for p in (root / experiment).iterdir() if p.is_dir()]
    assert len(found) == 1, found
    return found[0]


def _csv(sweep: Path, drop: str = "duration_s") -> tuple[list[str], list[dict[str, str]]]:
    """comparison.csv without one column: header and rows, in order."""
    with open(sweep / "comparison.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    header = next(csv.reader((sweep / "comparison.csv").read_text().splitlines()))
    return [c for c in header if c != drop], [
        {k: v for k, v in row.items() if k != drop} for row in rows
    ]


def _rows(sweep: Path) -> dict[str, dict[str, Any]]:
    rows = json.loads((sweep / "comparison.json").read_text())["rows"]
    found = {row["run"]: row for row in rows}
    assert len(found) == len(rows), rows
    return found


def _comparable(sweep: Path) -> dict[str, Any]:
    """comparison.json without what differs between sessions: stamp and durations."""
    table = json.loads((sweep / "comparison.json").read_text())
    out = {k: v for k, v in table.items() if k != "session"}
    out["rows"] = [{k: v for k, v in r.items() if k != "duration_s"} for r in table["rows"]]
    return out


def _header(run: Path) -> dict[str, Any]:
    header: dict[str, Any] = yaml.safe_load((run / "config.yaml").read_text())["experiment"]
    return header


def _runs(sweep: Path) -> list[Path]:
    return sorted(p for p in sweep.iterdir() if (p / "config.yaml").exists())


# -- 1. a 3x3 sweep: the same table as a local run -------------------------------

GRID = """
    import pytest

    LATENTS = {"vq": 0.1, "ae": 0.2, "vae": 0.3}

    @pytest.mark.experiment(metric="loss", mode="min")
    @pytest.mark.parametrize("beta", [1, 10, 100])
    @pytest.mark.parametrize("latent", ["vq", "ae", "vae"])
    def test_train(exp, latent, beta):
        exp.track("loss", beta / 7 + LATENTS[latent])
        exp["results/acc"] = 1 - beta / 1000
"""


def test_grid_through_slurm_gives_the_local_table(
    slurm_pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    pytester = slurm_pytester
    pytester.makepyfile(test_grid=GRID)
    local_root, slurm_root = pytester.path / "local", pytester.path / "slurm"

    local = _session(pytester, "-p", "no:xdist", "--exp-root", str(local_root))
    assert local.ret == 0, _output(local)
    local.assert_outcomes(passed=9)
    result = _session(pytester, "--exp-slurm", "--exp-root", str(slurm_root))
    assert result.ret == 0, _output(result)
    assert "INTERNALERROR" not in _output(result)
    result.assert_outcomes(passed=9)  # one report per test, as if it had run here

    # the job files
    folder = _job_folder(slurm_root)
    stamp = folder.name
    job = _job(slurm_root)
    job_id = job["job_id"]
    assert job["tasks"] == 9 and job["chunk"] == 1 and job["points"] == 9, job
    assert (folder / "job.sbatch").read_text().startswith("#!/bin/bash\n")
    nodeids = _nodeids(slurm_root)
    assert len(nodeids) == 9 and len(set(nodeids)) == 9
    assert all(n.startswith("test_grid.py::test_train[") for n in nodeids), nodeids

    # the terminal: submission, progress, the table
    result.stdout.fnmatch_lines(
        [
            f"submitted SLURM job {job_id}: 9 tests in 9 array tasks (1 per task)*",
            f"slurm job {job_id}: 9 done, 0 running, 0 failed of 9 tasks",
            "*= experiments =*",
            "train: 9 runs (9 completed), main metric loss (min)",
            "best*run*status*latent*beta*duration_s*loss*results/acc*",
            "[*]*latent=vq,beta=1*completed*vq*1*",
            "*latent=vae,beta=100*completed*vae*100*",
            f"-> slurm/train/{stamp}/comparison.md (.csv, .json), report.html",
        ]
    )

    # the same table as the local session: rows, statuses, metrics, order
    local_sweep, slurm_sweep = _sweep(local_root, "train"), _sweep(slurm_root, "train")
    assert slurm_sweep.name == stamp
    local_header, local_rows = _csv(local_sweep)
    slurm_header, slurm_rows = _csv(slurm_sweep)
    assert slurm_header == local_header
    assert len(slurm_rows) == 9
    assert [r["status"] for r in slurm_rows] == ["completed"] * 9
    assert slurm_rows == local_rows
    assert _comparable(slurm_sweep) == _comparable(local_sweep)  # pivot and best too

    # every run knows its SLURM job and array task (task i ran line i+1 of nodeids.txt)
    runs = _runs(slurm_sweep)
    assert len(runs) == 9
    for run in runs:
        header = _header(run)
        ids = header["slurm"]
        assert isinstance(ids, dict), header
        assert ids["job_id"] and ids["array_job_id"] == job_id, ids
        assert ids["array_task_id"] == str(nodeids.index(header["node_id"])), ids
    assert all(_header(run)["slurm"] is None for run in _runs(local_sweep))

    # the index lists them
    capsys.readouterr()
    assert cli.main(["--root", str(slurm_root), "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert len(listed) == 9
    assert {r["status"] for r in listed} == {"completed"}
    assert {r["session"] for r in listed} == {stamp}


# -- 2. a task that dies in one grid point ----------------------------------------

EXITS = """
    import os
    import pytest

    @pytest.mark.parametrize("point", [0, 1, 2])
    def test_exits(exp, point):
        exp.track("loss", float(point))
        if point == 1:
            os._exit(3)
"""


def test_a_task_that_exits_is_a_crashed_row(slurm_pytester: pytest.Pytester) -> None:
    pytester = slurm_pytester
    pytester.makepyfile(test_exits=EXITS)
    root = pytester.path / "slurm"
    result = _session(pytester, "--exp-slurm", "--exp-root", str(root))
    assert result.ret == pytest.ExitCode.TESTS_FAILED, _output(result)
    assert "INTERNALERROR" not in _output(result)
    result.assert_outcomes(passed=2, failed=1)
    rows = _rows(_sweep(root, "exits"))
    assert list(rows) == ["point=0", "point=1", "point=2"]
    assert rows["point=0"]["status"] == rows["point=2"]["status"] == "completed"
    crashed = rows["point=1"]
    assert crashed["status"] == "crashed", crashed
    assert "SLURM task ended FAILED" in crashed["reason"], crashed
    assert "exit 3" in crashed["reason"], crashed
    result.stdout.fnmatch_lines(
        ["exits: 3 runs (2 completed, 1 crashed)", "*point=1*crashed*SLURM task ended FAILED*"]
    )


# -- 3. detach, then collect --------------------------------------------------------

SLEEPS = """
    import time
    import pytest

    @pytest.mark.parametrize("point", [0, 1, 2])
    def test_sleeps(exp, point):
        time.sleep(3)
        exp.track("loss", float(point))
"""


def _collect(root: Path, stamp: str) -> int:
    """Run `expharness --root ROOT collect STAMP` in-process, cancelling the job if it hangs."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["code"] = cli.main(["--root", str(root), "collect", stamp])
        except BaseException as error:  # reported by the test, not lost in the thread
            outcome["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(TIMEOUT_S)
    if thread.is_alive():
        for job_id in _job_ids(root):
            subprocess.run(["scancel", job_id], capture_output=True, check=False, timeout=60)
        thread.join(60)
        pytest.fail(f"`expharness collect {stamp}` still waiting after {TIMEOUT_S} s")
    if "error" in outcome:
        raise outcome["error"]
    code: int = outcome["code"]
    return code


def test_detach_then_collect(
    slurm_pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    pytester = slurm_pytester
    pytester.makepyfile(test_sleeps=SLEEPS)
    root = pytester.path / "slurm"
    detach = ("--exp-slurm", "--exp-slurm-detach", "--exp-columns", "cpu_s")
    result = _session(pytester, *detach, "--exp-root", str(root))
    folder = _job_folder(root)
    exits_at_return = list((folder / "tasks").glob("*.exit"))
    assert result.ret == 0, _output(result)
    stamp = folder.name
    job_id = _job(root)["job_id"]
    result.stdout.fnmatch_lines(
        [
            f"submitted SLURM job {job_id}: 3 tests in 3 array tasks*",
            f"detached: collect later with `expharness --root {root} collect {stamp}`",
        ]
    )
    # returned at once: not waiting for the tasks (each sleeps 3 s, two CPUs at most)
    assert len(exits_at_return) < 3, exits_at_return
    assert "slurm job" not in result.stdout.str()
    assert not list(root.rglob("comparison.csv"))
    assert "= experiments =" not in result.stdout.str()

    capsys.readouterr()
    assert _collect(root, stamp) == 0
    out = capsys.readouterr().out
    assert f"slurm job {job_id}: 3 done, 0 running, 0 failed of 3 tasks" in out, out
    assert "sleeps: 3 runs (3 completed)" in out, out
    assert f"collected 3 runs of session {stamp}" in out, out
    sweep = _sweep(root, "sleeps")
    assert sweep.name == stamp
    assert f"-> {sweep}/comparison.md (.csv, .json), report.html" in out, out
    headers, rows = _csv(sweep)
    assert [(r["run"], r["status"], r["loss"]) for r in rows] == [
        ("point=0", "completed", "0.0"),
        ("point=1", "completed", "1.0"),
        ("point=2", "completed", "2.0"),
    ]
    # the submitting session's --exp-columns reach the tables `collect` writes
    assert headers[-2:] == ["cpu_s", "reason"] and all(float(r["cpu_s"]) >= 0 for r in rows)


# -- 4. chunked tasks -----------------------------------------------------------------

CHUNKS = """
    import pytest

    @pytest.mark.parametrize("point", range(6))
    def test_chunks(exp, point):
        exp.track("loss", float(point))
"""


def test_chunked_tasks_run_several_points_each(slurm_pytester: pytest.Pytester) -> None:
    pytester = slurm_pytester
    pytester.makepyfile(test_chunks=CHUNKS)
    root = pytester.path / "slurm"
    result = _session(
        pytester,
        "--exp-slurm",
        "--exp-slurm-chunk",
        "3",
        "--exp-slurm-opt=--cpus-per-task=2",
        "--exp-root",
        str(root),
    )
    assert result.ret == 0, _output(result)
    result.assert_outcomes(passed=6)
    job = _job(root)
    assert job["tasks"] == 2 and job["chunk"] == 3 and job["points"] == 6, job
    assert "--cpus-per-task=2" in job["options"], job
    assert "#SBATCH --cpus-per-task=2" in (_job_folder(root) / "job.sbatch").read_text()
    result.stdout.fnmatch_lines(
        [
            f"submitted SLURM job {job['job_id']}: 6 tests in 2 array tasks (3 per task)*",
            f"slurm job {job['job_id']}: 2 done, 0 running, 0 failed of 2 tasks",
            "chunks: 6 runs (6 completed)",
        ]
    )
    # each task ran its three points with -n $SLURM_CPUS_PER_TASK
    for task in (0, 1):
        log = (_job_folder(root) / "logs" / f"task-{task}.out").read_text()
        assert "2 workers [3 items]" in log, log

    sweep = _sweep(root, "chunks")
    rows = _rows(sweep)
    assert len(rows) == 6
    assert {r["status"] for r in rows.values()} == {"completed"}
    nodeids = _nodeids(root)
    tasks: dict[str, set[str]] = {}
    for run in _runs(sweep):
        header = _header(run)
        assert header["slurm"]["array_job_id"] == job["job_id"], header["slurm"]
        tasks.setdefault(header["slurm"]["array_task_id"], set()).add(header["node_id"])
    assert tasks == {"0": set(nodeids[:3]), "1": set(nodeids[3:])}


# -- 5. usage errors, before anything is submitted ---------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["-n", "2"],
            "--exp-slurm runs the tests on the cluster: drop -n (see --exp-slurm-chunk)",
            id="xdist",
        ),
        pytest.param(["--exp-resume"], "--exp-slurm does not take --exp-resume", id="resume"),
        pytest.param(["--exp-slurm-chunk", "0"], "--exp-slurm-chunk 0: give 1 or more", id="chunk"),
    ],
)
def test_usage_errors_submit_nothing(
    slurm_pytester: pytest.Pytester, args: list[str], message: str
) -> None:
    pytester = slurm_pytester
    pytester.makepyfile(test_chunks=CHUNKS)
    root = pytester.path / "slurm"
    result = _session(pytester, "--exp-slurm", *args, "--exp-root", str(root))
    assert result.ret == pytest.ExitCode.USAGE_ERROR, _output(result)
    assert f"ERROR: {message}" in result.stderr.str(), _output(result)
    assert "INTERNALERROR" not in _output(result)
    assert not (root / "_slurm").exists()
    assert not _job_ids(pytester.path)


# -- 6. a point whose task was killed before it ran ----------------------------------

KILLS = """
    import os
    import signal
    import pytest

    OUTER_PGID = {outer}  # the process group of the test run: never kill that one

    @pytest.mark.parametrize("point", [0, 1])
    def test_kills(exp, point):
        exp.track("loss", float(point))
        if point == 0:
            assert "SLURM_ARRAY_TASK_ID" in os.environ, "not in a SLURM task"
            assert os.getpgid(0) != OUTER_PGID, "in the test run's process group"
            os.killpg(os.getpgid(0), signal.SIGKILL)
"""


def test_a_point_never_run_is_listed_as_crashed(slurm_pytester: pytest.Pytester) -> None:
    pytester = slurm_pytester
    pytester.makepyfile(test_kills=KILLS.format(outer=os.getpgid(0)))
    root = pytester.path / "slurm"
    result = _session(pytester, "--exp-slurm", "--exp-slurm-chunk", "2", "--exp-root", str(root))
    assert result.ret == pytest.ExitCode.TESTS_FAILED, _output(result)
    assert "INTERNALERROR" not in _output(result)
    result.assert_outcomes(failed=2)
    assert _job(root)["tasks"] == 1
    rows = _rows(_sweep(root, "kills"))
    assert list(rows) == ["point=0", "point=1"]
    assert {r["status"] for r in rows.values()} == {"crashed"}, rows
    never = rows["point=1"]["reason"]
    assert never.startswith("SLURM task 0 ended ") and never.endswith(" before this test ran")
    assert STATE_WORD.search(never), never
    assert STATE_WORD.search(rows["point=0"]["reason"]), rows["point=0"]
    result.stdout.fnmatch_lines(["kills: 2 runs (2 crashed)", "*point=1*before this test ran*"])


# -- 7. the grid's order: rows where no main metric decides, a pivot's category rows ------

ORDERED = """
    import pytest

    @pytest.mark.parametrize("name", ["c", "a", "b"])
    def test_unranked(exp, name):
        exp.track("loss", 1.0)

    @pytest.mark.experiment(metric="loss", mode="min")
    @pytest.mark.parametrize("beta", [1, 10])
    @pytest.mark.parametrize("latent", ["vq", "ae"])
    def test_ranked(exp, latent, beta):
        exp.track("loss", beta + (0.1 if latent == "vq" else 0.2))
"""


def test_rows_keep_the_collection_order_through_slurm(
    slurm_pytester: pytest.Pytester,
) -> None:
    pytester = slurm_pytester
    pytester.makepyfile(test_ordered=ORDERED)
    local_root, slurm_root = pytester.path / "local", pytester.path / "slurm"
    local = _session(pytester, "-p", "no:xdist", "--exp-root", str(local_root))
    assert local.ret == 0, _output(local)
    result = _session(pytester, "--exp-slurm", "--exp-root", str(slurm_root))
    assert result.ret == 0, _output(result)
    local_order = [r["run"] for r in _csv(_sweep(local_root, "unranked"))[1]]
    assert local_order == ["name=c", "name=a", "name=b"]
    local_pivot = _comparable(_sweep(local_root, "ranked"))["pivot"]
    assert local_pivot["rows"] == ["vq", "ae"]
    # each task sees only its own tests: the collecting session restores the grid's order
    slurm_order = [r["run"] for r in _csv(_sweep(slurm_root, "unranked"))[1]]
    slurm_pivot = _comparable(_sweep(slurm_root, "ranked"))["pivot"]
    assert (slurm_order, slurm_pivot) == (local_order, local_pivot)


# -- 8. the tasks get the submitting command line's other options ------------------------

CONFTEST_OPTION = """
    import pytest

    def pytest_addoption(parser):
        parser.addoption("--dataset", default="toy")

    @pytest.fixture
    def dataset(request):
        return request.config.getoption("dataset")
"""

USES_OPTION = """
    import pytest

    @pytest.mark.parametrize("point", [0, 1])
    def test_option(exp, dataset, point):
        exp["results/dataset"] = dataset
"""


def test_tasks_get_conftest_options_and_relative_paths(slurm_pytester: pytest.Pytester) -> None:
    pytester = slurm_pytester
    pytester.makeconftest(CONFTEST_OPTION)
    pytester.makepyfile(test_option=USES_OPTION)
    result = _session(pytester, "--exp-slurm", "--dataset=full", "--exp-root", "relative_root")
    result.assert_outcomes(passed=2)
    rows = _rows(_sweep(pytester.path / "relative_root", "option"))
    assert {row["results/dataset"] for row in rows.values()} == {"full"}


# -- a search: array tasks pull their trials from one study -----------------------

SEARCH = """
    import pytest

    X = 0.0

    @pytest.mark.experiment(metric="loss", search={"X": "uniform(-5, 5)"})
    def test_quad(exp):
        exp.track("loss", (exp.X - 2) ** 2)
"""


def test_array_tasks_pull_trials_from_one_study(slurm_pytester: pytest.Pytester) -> None:
    pytester = slurm_pytester
    pytester.makepyfile(test_quad=SEARCH)
    root = pytester.path / "results"
    result = _session(pytester, "--exp-slurm", "--exp-trials", "4", "--exp-root", str(root))
    assert result.ret == 0, _output(result)
    result.assert_outcomes(passed=4)
    assert len(_nodeids(root)) == 4
    sweep = _sweep(root, "quad")
    runs = _runs(sweep)
    assert sorted(_header(run)["trial"] for run in runs) == [0, 1, 2, 3]
    assert sorted(run.name for run in runs) == [f"trial={n}" for n in range(4)]
    optuna = pytest.importorskip("optuna")
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = JournalStorage(JournalFileBackend(str(sweep / "study.journal")))
    trials = optuna.load_study(study_name="search", storage=storage).get_trials()
    assert sorted(t.state.name for t in trials) == ["COMPLETE"] * 4
    pids = {json.loads((run / "summary.json").read_text())["pid"] for run in runs}
    assert len(pids) == 4  # four task processes, one study
    rows = _rows(sweep)
    assert [rows[name]["status"] for name in sorted(rows)] == ["completed"] * 4


# -- the live view while the session waits (issue 16) ---------------------------------

PROGRESSING = """
    import time
    import pytest

    @pytest.mark.parametrize("point", [0, 1])
    def test_progressing(exp, point):
        exp.progress(8)
        for step in range(8):
            exp.track("loss", float(step))
            time.sleep(0.6)
"""


def test_the_wait_shows_each_run_in_flight(slurm_pytester: pytest.Pytester) -> None:
    pytester = slurm_pytester
    pytester.makepyfile(test_progressing=PROGRESSING)
    root = pytester.path / "slurm"
    result = _session(pytester, "--exp-slurm", "--exp-root", str(root), "--exp-progress", "1")
    result.assert_outcomes(passed=2)
    lines = result.outlines
    at = next(i for i, line in enumerate(lines) if line.startswith("progressing: 2 runs"))
    shown = [line for line in lines[:at] if re.match(r"^  point=\d  \[[#-]{10}\] \d/8 ", line)]
    assert shown, _output(result)
    assert not [line for line in lines[at:] if re.match(r"^  point=\d  \[", line)]
