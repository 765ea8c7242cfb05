"""Records that cross a process boundary, and sessions whose workers or controller die.

Issue 11, defects 1 (numpy values in a record killed xdist workers), 11 (a double
Ctrl-C lost the table and the index; a killed controller read as Ctrl-C) and 14 (a
worker killed while plotting was counted twice and read `crashed` with its data
complete). The signal tests run real sessions in their own process group.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import execnet
import matplotlib.backends.backend_agg  # runs import these to plot; see conftest.py
import matplotlib.figure  # noqa: F401
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_expharness.catalog import records
from pytest_expharness.catalog.reading import read_run

from conftest import XDIST_MODES, Archive

NO_RANDOM = ["-p", "no:randomly"]


def _no_internal_error(result: pytest.RunResult) -> None:
    everything = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in everything, everything


def _table(archive: Archive, experiment: str) -> dict[str, Any]:
    (found,) = archive.root.glob(f"{experiment}/*/comparison.json")
    table: dict[str, Any] = json.loads(found.read_text())
    return table


def _indexed(root: Path) -> list[tuple[str, str]]:
    conn = sqlite3.connect(root / "index.sqlite")
    try:
        return sorted(conn.execute("SELECT run_id, status FROM runs").fetchall())
    finally:
        conn.close()


# -- 1. numpy values on a record ----------------------------------------------------

NUMPY_GRID = """
    import numpy as np
    import pytest

    @pytest.mark.parametrize("x", [np.float64(v) for v in (1, 2, 3, 4, 5, 6)], ids=str)
    def test_np(exp, x):
        exp["results/mean"] = np.mean([1.0, 2.0 * x])
        exp["results/count"] = np.int64(3)
        exp["results/ok"] = np.bool_(True)
        exp["results/f32"] = np.float32(0.5)
        exp["results/zero_d"] = np.array(2.5)
        exp["results/zero_d_int"] = np.array(7)
        with exp.component("stats") as c:
            c.data["k"] = np.float64(8.3)
        exp.track("loss", np.float32(0.25))
        exp.track("loss", np.float64(0.125))
"""


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_numpy_scalars_on_a_record_run_every_point_and_reach_the_table(
    pytester: pytest.Pytester, archive: Archive, mode: list[str]
) -> None:
    pytester.makepyfile(test_np=NUMPY_GRID)
    result = pytester.runpytest_subprocess(*mode, *NO_RANDOM)
    _no_internal_error(result)
    result.assert_outcomes(passed=6)
    rows = _table(archive, "np")["rows"]
    assert len(rows) == 6
    assert {row["status"] for row in rows} == {"completed"}
    assert sorted(row["results/mean"] for row in rows) == [1.5, 2.5, 3.5, 4.5, 5.5, 6.5]
    summary = archive.summary(archive.runs()[0])
    assert summary["results"]["results/count"] == 3
    assert summary["results"]["results/ok"] is True
    assert summary["results"]["results/zero_d"] == 2.5
    assert summary["components"]["stats"]["data"] == {"k": 8.3}
    assert len(_indexed(archive.root)) == 6


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_a_record_that_cannot_travel_is_read_from_its_folder_and_said(
    pytester: pytest.Pytester, archive: Archive, mode: list[str]
) -> None:
    pytester.makeconftest(
        """
        import pytest_expharness.catalog.records as records

        _make = records.make_record

        def smuggling(*args, **kwargs):
            record = _make(*args, **kwargs)
            record["smuggled"] = object()  # no JSON form: as a future bug might leave
            return record

        records.make_record = smuggling
        """
    )
    pytester.makepyfile(
        test_grid="""
        import pytest

        @pytest.mark.parametrize("x", [1, 2, 3, 4, 5, 6])
        def test_grid(exp, x):
            exp["results/x"] = x
        """
    )
    result = pytester.runpytest_subprocess(*mode, *NO_RANDOM)
    _no_internal_error(result)
    result.assert_outcomes(passed=6)
    said = result.stdout.str() + result.stderr.str()
    assert said.count("could not be sent as plain data") == 6, said
    rows = _table(archive, "grid")["rows"]
    assert sorted((row["run"], row["status"], row["results/x"]) for row in rows) == [
        (f"x={x}", "completed", x) for x in range(1, 7)
    ]
    assert len(_indexed(archive.root)) == 6
    for run in archive.runs():
        assert "its record could not be sent as plain data" in archive.log(run)


numpy_scalars = st.one_of(
    st.floats(allow_nan=False).map(np.float64),
    st.floats(allow_nan=False, width=32).map(np.float32),
    st.integers(-(2**62), 2**62).map(np.int64),
    st.booleans().map(np.bool_),
    st.floats(allow_nan=False).map(np.array),
    st.integers(-(2**62), 2**62).map(np.array),
    st.booleans().map(np.array),
)
leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(), numpy_scalars)
values = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(st.text(max_size=5), inner, max_size=4),
    ),
    max_leaves=25,
)


def _exact(value: Any) -> bool:
    if value is None or type(value) in (bool, int, float, str):
        return True
    if type(value) is list:
        return all(_exact(v) for v in value)
    if type(value) is dict:
        return all(type(k) is str and _exact(v) for k, v in value.items())
    return False


def _same(a: Any, b: Any) -> bool:
    """Equal as plain data, NaN equal to NaN."""
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


@settings(max_examples=300, deadline=None)
@given(values)
def test_plain_gives_exact_json_types_that_read_back_the_same(value: Any) -> None:
    made = records.plain(value)
    assert _exact(made)
    assert _same(json.loads(json.dumps(made)), made)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=5), values, max_size=5))
def test_a_record_for_the_report_always_travels_whole_or_as_a_stub(extra: dict[str, Any]) -> None:
    record = {**extra, "path": "/somewhere/x=1", "node_id": "t.py::test[1]", "sweep": "/somewhere"}
    sent = records.for_report(record)
    assert sent is not None
    assert _same(execnet.loads(execnet.dumps(sent)), sent)  # what kills a worker if it fails
    if records.STUB in sent:  # execnet 2.1 refuses ints below -2**31: read from the folder
        assert sent["path"] == "/somewhere/x=1"
        assert "could not be sent as plain data" in sent[records.STUB]
    else:
        assert _same(sent, records.plain(record))


@pytest.mark.parametrize(
    "bad",
    [object(), {"k": object()}, [1, {2, 3}], "lone \udc80 surrogate", -(2**31) - 1, float("nan")],
    ids=["object", "nested-object", "set", "surrogate", "big-negative-int", "nan"],
)
def test_a_record_that_does_not_serialise_becomes_a_stub_naming_its_folder(bad: Any) -> None:
    record = {"path": "/somewhere/x=1", "node_id": "t.py::test[1]", "sweep": "/somewhere"}
    sent = records.for_report({**record, "results": {"results/v": bad}})
    assert sent is not None
    execnet.dumps(sent)
    json.dumps(sent)
    if isinstance(bad, float):  # NaN is a float: the record travels as it is
        assert math.isnan(sent["results"]["results/v"])
        return
    if isinstance(bad, str):  # a lone surrogate travels as its repr, as config.yaml holds it
        assert sent["results"]["results/v"] == repr(bad) and records.STUB not in sent
        return
    assert sent["path"] == "/somewhere/x=1"
    assert sent["node_id"] == "t.py::test[1]"
    assert records.STUB in sent


# -- 11. double Ctrl-C, and a controller that is killed ------------------------------

SLOW_GRID = """
    import time
    import pytest

    @pytest.mark.parametrize("x", range(6))
    def test_slow(exp, x):
        for i in range(400):
            exp.track("loss", 1.0 / (i + 1 + x))
            time.sleep(0.05)
"""

# Where the second Ctrl-C lands: pytest formatting the first one's traceback (slow
# for a deep stack on a busy machine), or xdist waiting for its workers to stop.
SECOND_CTRL_C_IN = {
    "interrupt-report": """
        import os, time

        def pytest_keyboard_interrupt(excinfo):
            if "PYTEST_XDIST_WORKER" not in os.environ:
                time.sleep(5)
    """,
    "worker-shutdown": """
        import os, time

        def pytest_sessionfinish(session):
            if "PYTEST_XDIST_WORKER" in os.environ:
                end = time.monotonic() + 4
                while time.monotonic() < end:
                    try:
                        time.sleep(0.1)
                    except KeyboardInterrupt:
                        pass
    """,
}


@pytest.fixture
def session_group() -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start pytest sessions in their own process group; kill what is left at the end."""
    started: list[subprocess.Popen[str]] = []

    def start(cwd: Path, *args: str) -> subprocess.Popen[str]:
        command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *NO_RANDOM, *args]
        proc = subprocess.Popen(
            command,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()


def _summaries(root: Path) -> list[dict[str, Any]]:
    found = []
    for path in sorted(root.rglob("summary.json")):
        try:
            found.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue  # being replaced right now
    return found


def _wait(until: Callable[[], bool], timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not until():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.1)


def _running(root: Path) -> int:
    return sum(s.get("status") == "running" for s in _summaries(root))


@pytest.mark.slow
@pytest.mark.parametrize("where", list(SECOND_CTRL_C_IN))
@pytest.mark.parametrize("mode", XDIST_MODES)
def test_double_ctrl_c_still_writes_the_table_and_the_index(
    pytester: pytest.Pytester,
    archive: Archive,
    session_group: Callable[..., subprocess.Popen[str]],
    mode: list[str],
    where: str,
) -> None:
    if where == "worker-shutdown" and "-n" not in mode:
        pytest.skip("no workers to wait for")
    pytester.makeconftest(SECOND_CTRL_C_IN[where])
    pytester.makepyfile(test_slow=SLOW_GRID)
    proc = session_group(pytester.path, *mode)
    workers = 2 if "-n" in mode else 1
    _wait(lambda: _running(archive.root) >= workers, 60, "the runs to start")
    os.killpg(proc.pid, signal.SIGINT)
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    runs = archive.runs("slow")
    assert len(runs) >= workers, out
    table = _table(archive, "slow")
    assert table["interrupted"] is True
    on_disk = sorted((run.name, archive.summary(run)["status"]) for run in runs)
    assert sorted((row["run"], row["status"]) for row in table["rows"]) == on_disk, out
    assert {status for _, status in on_disk} == {"interrupted"}
    assert _indexed(archive.root) == on_disk
    # Said on the terminal; under heavy load the second Ctrl-C can cut pytest's own printing,
    # and then only the interruption itself shows (the files above are the promise).
    assert "INTERRUPTED: partial table" in out or "KeyboardInterrupt" in out, out
    if where == "worker-shutdown":  # it landed before the session end, and pytest stopped
        assert "the tables and the index were written from the run folders" in out
        assert proc.returncode == pytest.ExitCode.INTERRUPTED


@pytest.mark.slow
def test_killed_controller_leaves_runs_saying_it_went_away(
    pytester: pytest.Pytester,
    archive: Archive,
    session_group: Callable[..., subprocess.Popen[str]],
) -> None:
    pytester.makepyfile(test_slow=SLOW_GRID)
    proc = session_group(pytester.path, "-n", "2")
    _wait(lambda: _running(archive.root) >= 2, 60, "the runs to start")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # each worker sees its channel close, waits 5 s for its work to end, then stops itself
    _wait(lambda: _running(archive.root) == 0, 40, "the workers to finish their runs")
    summaries = _summaries(archive.root)
    assert len(summaries) >= 2
    for summary in summaries:
        assert summary["status"] == "interrupted"
        assert summary["reason"] == f"the controller (pid {proc.pid}) went away"


# -- 14. a worker killed while it finishes a run --------------------------------------

KILLED_WHILE_PLOTTING = """
    import os
    import signal

    import pytest_expharness.report.runreport as report

    _make_plots = report.make_plots

    def make_plots(folder, columns):
        if folder.name == "x=3" and os.environ.get("EXPHARNESS_KILL_IN_PLOTS"):
            os.kill(os.getpid(), signal.SIGKILL)
        return _make_plots(folder, columns)

    report.make_plots = make_plots

    def pytest_configure(config):
        if hasattr(config, "workerinput"):  # workers only: the controller plots the rest
            os.environ["EXPHARNESS_KILL_IN_PLOTS"] = "1"
"""

PLOTTED_GRID = """
    import pytest

    @pytest.mark.parametrize("x", [1, 2, 3, 4, 5, 6])
    def test_grid(exp, x):
        for i in range(5):
            exp.track("loss", x / (i + 1))
        exp["results/x"] = x
        with exp.component("prior") as c:
            c.data["k"] = 2
"""


def test_worker_killed_while_plotting_reads_what_it_was_and_counts_once(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makeconftest(KILLED_WHILE_PLOTTING)
    pytester.makepyfile(test_grid=PLOTTED_GRID)
    result = pytester.runpytest_subprocess("-n", "2", *NO_RANDOM)
    _no_internal_error(result)
    out = result.stdout.str()
    assert "crashed while running" in out or "replacing crashed worker" in out, out
    result.assert_outcomes(passed=6)
    assert result.ret == 0
    (run,) = (r for r in archive.runs("grid") if r.name == "x=3")
    summary = archive.summary(run)
    assert summary["status"] == "completed"
    assert "finishing" not in summary
    note = summary["died_while_finishing"]["reason"]
    assert "died while finishing" in note
    assert summary["reason"] == note
    assert summary["results"] == {"results/x": 3}
    assert summary["metrics"]["loss"]["count"] == 5
    assert summary["components"]["prior"]["data"] == {"k": 2}
    assert summary["plots"], "the controller made the plots the worker could not"
    assert all((run / p).exists() for p in summary["plots"])
    assert "- status: **completed**" in (run / "REPORT.md").read_text()
    rows = {row["run"]: row for row in _table(archive, "grid")["rows"]}
    assert {r["status"] for r in rows.values()} == {"completed"}
    assert "died while finishing" in rows["x=3"]["reason"]
    assert ("x=3", "completed") in _indexed(archive.root)


def test_worker_killed_after_its_run_finished_counts_once(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makeconftest(
        """
        import os
        import signal

        import pytest_expharness.sweep.analyses as analyses

        _analyse_run = analyses.analyse_run

        def analyse_run(path, *args):
            if path.name == "x=3" and "PYTEST_XDIST_WORKER" in os.environ:
                os.kill(os.getpid(), signal.SIGKILL)  # after finish, in its analyses
            return _analyse_run(path, *args)

        analyses.analyse_run = analyse_run
        """
    )
    pytester.makepyfile(test_grid=PLOTTED_GRID)
    result = pytester.runpytest_subprocess("-n", "2", *NO_RANDOM)
    _no_internal_error(result)
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(["*its data was complete: x=3 recorded completed*"])
    rows = {row["run"]: row["status"] for row in _table(archive, "grid")["rows"]}
    assert rows == {f"x={x}": "completed" for x in range(1, 7)}


def test_lone_process_killed_while_plotting_reads_what_it_was_when_read_back(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makeconftest(
        KILLED_WHILE_PLOTTING.replace('os.environ.get("EXPHARNESS_KILL_IN_PLOTS")', "True")
    )
    pytester.makepyfile(test_grid=PLOTTED_GRID)
    result = pytester.runpytest_subprocess("-p", "no:xdist", *NO_RANDOM)
    assert result.ret not in (0, 1)  # killed
    (run,) = (r for r in archive.runs("grid") if r.name == "x=3")
    assert archive.summary(run)["finishing"] == "completed"
    record = records.record_from_folder(run)
    assert record["status"] == "completed"
    assert "died while finishing" in record["reason"]
    assert record["results"] == {"results/x": 3}
    assert read_run(run)["status"] == "completed"
    assert archive.summary(run)["plots"]


def test_read_run_of_a_run_killed_while_plotting_reads_what_it_was(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makeconftest(
        KILLED_WHILE_PLOTTING.replace('os.environ.get("EXPHARNESS_KILL_IN_PLOTS")', "True")
    )
    pytester.makepyfile(test_grid=PLOTTED_GRID)
    result = pytester.runpytest_subprocess("-p", "no:xdist", *NO_RANDOM)
    assert result.ret not in (0, 1)  # killed
    (run,) = (r for r in archive.runs("grid") if r.name == "x=3")
    summary = read_run(run)  # the first reader is read_run itself (show, load_run)
    assert summary["status"] == "completed", summary
    assert archive.summary(run)["status"] == "completed"
    assert archive.summary(run)["plots"]


def test_a_run_killed_before_its_data_was_final_still_reads_crashed(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makeconftest(
        """
        import os
        import signal

        import pytest_expharness.run.exp as run

        _write_metrics = run.Exp._write_metrics

        def write_metrics(self):
            if self.path.name == "x=3" and "PYTEST_XDIST_WORKER" in os.environ:
                os.kill(os.getpid(), signal.SIGKILL)
            return _write_metrics(self)

        run.Exp._write_metrics = write_metrics
        """
    )
    pytester.makepyfile(test_grid=PLOTTED_GRID)
    result = pytester.runpytest_subprocess("-n", "2", *NO_RANDOM)
    _no_internal_error(result)
    (run,) = (r for r in archive.runs("grid") if r.name == "x=3")
    summary = archive.summary(run)
    assert summary["status"] == "crashed"
    assert "finishing" not in summary
    rows = {row["run"]: row["status"] for row in _table(archive, "grid")["rows"]}
    assert rows["x=3"] == "crashed"
    # its call passed and its teardown died: pytest's own way to say so, one error
    result.assert_outcomes(passed=6, errors=1)
