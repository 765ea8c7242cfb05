"""A big run's files are written beside it by a helper process, right whatever befalls it."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import numpy as np
import pytest

from pytest_expharness import load_run
from pytest_expharness.catalog.reading import read_run

from conftest import Archive

NO_XDIST = ["-p", "no:xdist", "-p", "no:randomly"]
MODES = [pytest.param(NO_XDIST, id="no-xdist"), pytest.param(["-n", "2"], id="xdist-2")]
BIG = """
    from pytest_expharness.archive import seriesfiles

    seriesfiles.COLUMNAR_BYTES = 100_000  # a big run after 5,000 points, for these tests
"""

TRACK = """
    import os
    import signal
    import time
    from pathlib import Path

    def test_big(exp):
        for i in range(120_000):
            exp.track("loss", i * 0.5)
            if i % 2 == 0:
                exp.track("eval/acc", i * 0.25, step=i)
        time.sleep(0.6)  # journaled, and the helper under way
        helper = exp._tracker._helper
        exp["helper"] = helper is not None
        rows = exp.path / ".series-live" / "h0.csv"
        exp["rows_so_far"] = rows.stat().st_size if rows.exists() else 0
        if helper is not None and os.environ.get("KILL_HELPER"):
            os.kill(helper.process.pid, signal.SIGKILL)
        if helper is not None and os.environ.get("PID_FILE"):
            Path(os.environ["PID_FILE"]).write_text(str(helper.process.pid))
            os.kill(os.getpid(), signal.SIGKILL)
        for i in range(120_000, 150_000):
            exp.track("loss", i * 0.5)
"""


def _check_files(run: Path) -> None:
    """metrics.csv and series/ hold exactly what TRACK tracked, and nothing is left over."""
    loss = [i * 0.5 for i in range(150_000)]
    acc = [i * 0.25 for i in range(0, 120_000, 2)]
    with open(run / "metrics.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["step", "name", "value", "time"]
    assert [r[:3] for r in rows[1:]] == [
        *([str(i), "loss", repr(v)] for i, v in enumerate(loss)),
        *([str(2 * i), "eval/acc", repr(v)] for i, v in enumerate(acc)),
    ]
    loaded = load_run(run)
    assert loaded.metrics["loss"].tolist() == loss
    assert loaded.metrics["eval/acc"].steps.tolist() == list(range(0, 120_000, 2))
    npy = np.load(run / "series" / "loss.npy")
    assert [repr(t) for t in npy["time"].tolist()] == [r[3] for r in rows[1:150_001]]
    assert not (run / ".series-live").exists() and not (run / "metrics.journal").exists()


@pytest.mark.parametrize("mode", MODES)
def test_a_big_run_ends_with_the_files_its_helper_began_while_it_ran(
    pytester: pytest.Pytester, archive: Archive, mode: list[str]
) -> None:
    pytester.makeconftest(BIG)
    pytester.makepyfile(test_big=TRACK)
    pytester.runpytest_subprocess(*mode).assert_outcomes(passed=1)
    run = archive.run("big")
    data = archive.data(run)
    assert data["helper"] is True
    if mode is NO_XDIST:  # under -n 2 on 2 cores the workers may leave the helper no core
        assert data["rows_so_far"] > 100_000  # rows formatted while the run ran, on another core
    _check_files(run)
    assert archive.summary(run)["metrics"]["loss"] == {
        "final": 74999.5,
        "min": 0.0,
        "max": 74999.5,
        "count": 150_000,
        "last_step": 149_999,
    }


def test_a_helper_killed_mid_run_leaves_the_files_complete(
    pytester: pytest.Pytester, archive: Archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeconftest(BIG)
    pytester.makepyfile(test_big=TRACK)
    monkeypatch.setenv("KILL_HELPER", "1")
    pytester.runpytest_subprocess(*NO_XDIST).assert_outcomes(passed=1)
    run = archive.run("big")
    assert archive.data(run)["helper"] is True
    _check_files(run)


def _gone(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "State:\tZ" in status  # ended; only waiting to be reaped by whoever adopted it


def test_a_run_killed_leaves_no_helper_behind(
    pytester: pytest.Pytester, archive: Archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeconftest(BIG)
    pytester.makepyfile(test_big=TRACK)
    pid_file = pytester.path / "helper.pid"
    monkeypatch.setenv("PID_FILE", str(pid_file))
    result = pytester.runpytest_subprocess(*NO_XDIST)
    assert result.ret != 0
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while not _gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(pid), "the helper outlived its run"
    run = archive.run("big")
    assert not (run / ".series-live").exists()
    assert read_run(run)["status"] == "crashed"  # rebuilt from the journal, as without a helper
    assert load_run(run).metrics["loss"].tolist() == [i * 0.5 for i in range(120_000)]


def test_a_small_run_starts_no_helper(pytester: pytest.Pytester, archive: Archive) -> None:
    pytester.makepyfile(
        test_small="""
        import time

        def test_small(exp):
            for i in range(20_000):
                exp.track("loss", i * 0.5)
            time.sleep(0.6)
            exp["helper"] = exp._tracker._helper is not None
            exp["live"] = (exp.path / ".series-live").exists()
        """
    )
    pytester.runpytest_subprocess(*NO_XDIST).assert_outcomes(passed=1)
    run = archive.run("small")
    assert archive.data(run) == {"helper": False, "live": False}
    assert not (run / "series").exists()
