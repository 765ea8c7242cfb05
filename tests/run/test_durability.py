"""Durability: what a run leaves on disk when it crashes, is interrupted, fails or is skipped."""

from __future__ import annotations

import json
import os
import pickle
import re
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import matplotlib.backends.backend_agg  # runs import these to plot; see the note below
import matplotlib.figure  # noqa: F401
import numpy  # noqa: F401
import pytest

from pytest_expharness.catalog.reading import read_run
from pytest_expharness.run import flusher

from conftest import Archive

# pytester restores sys.modules after every in-process session and numpy cannot be
# imported twice in one process: importing it (and matplotlib) here keeps it loaded.

NO_XDIST = ["-p", "no:xdist", "-p", "no:randomly"]
XDIST_2 = ["-n", "2", "-p", "no:randomly"]

# A dead process is found by the mode it ran in; an xdist session costs a second more.
CRASH_MODES = [
    pytest.param(NO_XDIST, id="no-xdist"),
    pytest.param(XDIST_2, id="xdist-2", marks=pytest.mark.slow),
]
MODES = [
    pytest.param(NO_XDIST, id="no-xdist"),
    pytest.param(XDIST_2, id="xdist-2"),
]

KILLS = {
    "os-exit": "os._exit(1)",
    "sigkill": "os.kill(os.getpid(), signal.SIGKILL)",
}

CRASHING = """
    import os
    import signal
    import time

    def test_train(exp):
        exp["pid"] = os.getpid()
        exp["results/seen"] = [1, 2, 3]
        for i in range(5):
            exp.track("loss", 1.0 / (i + 1), step=10 * i)
        exp.track("acc", 1)
        exp.track_many({{"lr.a": 0.5, "lr.b": 0.25}}, step=7)
        time.sleep(1.2)
        exp.track("too_late", 9.0)  # tracked right before the crash: may be lost
        {kill}
"""

# every point tracked a second before the crash, as (name, step, value)
SURVIVORS = [
    ("loss", 0, 1.0),
    ("loss", 10, 0.5),
    ("loss", 20, 1.0 / 3),
    ("loss", 30, 0.25),
    ("loss", 40, 0.2),
    ("acc", 0, 1.0),
    ("lr.a", 7, 0.5),
    ("lr.b", 7, 0.25),
]


def _points(
    archive: Archive, run: Path, skip: tuple[str, ...] = ()
) -> list[tuple[str, int, float]]:
    return [
        (name, step, value) for step, name, value, _ in archive.metrics(run) if name not in skip
    ]


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout)


@pytest.mark.parametrize("mode", CRASH_MODES)
@pytest.mark.parametrize("kill", list(KILLS), ids=list(KILLS))
def test_hard_crash_keeps_everything_tracked_a_second_before(
    pytester: pytest.Pytester, archive: Archive, kill: str, mode: list[str]
) -> None:
    pytester.makepyfile(test_crash=CRASHING.format(kill=KILLS[kill]))
    before = time.time()
    result = pytester.runpytest_subprocess(*mode)
    assert result.ret != 0
    run = archive.run("train")
    pid = archive.data(run)["pid"]
    on_disk = archive.summary(run)
    assert on_disk["pid"] == pid
    # recording the crash turns the journal into the files a finished run has
    assert (run / "metrics.journal").exists() == ("-n" not in mode)
    assert (run / "metrics.csv").exists() == ("-n" in mode)
    assert not (run / "series").exists()  # a small run's points: metrics.csv alone
    if "-n" in mode:
        # xdist replaces the dead worker; the controller records the run as crashed at once
        found = re.search(
            r"worker '(gw\d+)' crashed while running '.*test_train'", result.stdout.str()
        )
        assert found, result.stdout.str()
        worker = found.group(1)
        assert on_disk["status"] == "crashed"
        assert on_disk["crash"]["worker"] == worker
        reason = f"worker {worker} died while running it"
        assert on_disk["crash"]["reason"] == reason
        assert _points(archive, run, skip=("too_late",)) == SURVIVORS
    else:  # nobody was left to notice the crash
        assert on_disk["status"] == "running"
        assert not (run / "metrics.csv").exists()
        reason = f"process {pid} on {socket.gethostname()} is gone"

    summary = read_run(run)
    assert summary["status"] == "crashed"
    assert summary["crash"]["reason"] == reason
    assert archive.summary(run)["status"] == "crashed"  # recorded, not only reported
    assert not (run / "metrics.journal").exists()
    assert (run / "metrics.csv").exists() and not (run / "series").exists()

    assert _points(archive, run, skip=("too_late",)) == SURVIVORS
    times = [t for *_, t in archive.metrics(run)]
    assert all(before <= t <= time.time() for t in times)
    assert summary["metrics"]["loss"] == {
        "final": 0.2,
        "min": 0.2,
        "max": 1.0,
        "count": 5,
        "last_step": 40,
    }
    assert archive.data(run) == {"pid": pid, "results": {"seen": [1, 2, 3]}}
    assert summary["results"] == {"pid": pid}

    again = read_run(run)  # reading twice changes nothing
    assert again["crash"]["reason"] == reason
    assert _points(archive, run, skip=("too_late",)) == SURVIVORS


INTERRUPTED = """
    def test_train(exp):
        for i in range(1000):
            exp.track("loss", i / 1000)
        exp.track("acc", 0.75, step=3)
        exp.log("about to be stopped")
        raise KeyboardInterrupt
"""


@pytest.mark.parametrize("mode", CRASH_MODES)
def test_ctrl_c_reads_interrupted_with_every_point(
    pytester: pytest.Pytester, archive: Archive, mode: list[str]
) -> None:
    pytester.makepyfile(test_stop=INTERRUPTED)
    result = pytester.runpytest_subprocess(*mode)  # in-process, Ctrl-C would stop us too
    if "-n" not in mode:
        assert result.ret == pytest.ExitCode.INTERRUPTED
    run = archive.run("train")
    summary = archive.summary(run)
    assert summary["status"] == "interrupted"
    assert summary["reason"] == "KeyboardInterrupt (Ctrl-C)"
    assert read_run(run)["status"] == "interrupted"
    points = _points(archive, run)
    assert points == [("loss", i, i / 1000) for i in range(1000)] + [("acc", 3, 0.75)]
    assert summary["metrics"]["loss"]["count"] == 1000
    assert not (run / "metrics.journal").exists()
    log = archive.log(run)
    assert "about to be stopped" in log
    assert "run interrupted" in log
    assert "- status: **interrupted**" in (run / "REPORT.md").read_text()


FAILING = """
    def test_fit(exp):
        for i in range(3):
            exp.track("loss", 1.0 - i / 4, step=i)
        exp.commit_raw("notes.txt", "half done")
        exp.log("training went wrong")
        {failure}
"""

FAILURES = {
    "assert": ("loss = 0.5\n        assert loss < 0.1, 'loss too high'", "AssertionError"),
    "raise": ("raise ValueError('boom')", "ValueError"),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", list(FAILURES))
def test_failing_experiment_reads_failed_with_its_error(
    pytester: pytest.Pytester, archive: Archive, kind: str, mode: list[str]
) -> None:
    code, error_type = FAILURES[kind]
    pytester.makepyfile(test_fit=FAILING.format(failure=code))
    pytester.runpytest(*mode).assert_outcomes(failed=1)
    run = archive.run("fit")
    summary = archive.summary(run)
    assert summary["status"] == "failed"
    error = summary["error"]
    assert error["type"] == error_type
    message = "boom" if kind == "raise" else "loss too high"
    assert error["message"].splitlines()[0] == message
    assert f"E       {error_type}: {message}" in error["traceback"]
    assert code.splitlines()[-1].strip() in error["traceback"]

    log = archive.log(run)
    assert log.index("training went wrong") < log.index("run failed:")
    assert code.splitlines()[-1].strip() in log.split("run failed:")[1]
    assert "run failed in" in log.splitlines()[-1]

    # the rest of the run is complete, as for a run that succeeded
    assert _points(archive, run) == [("loss", 0, 1.0), ("loss", 1, 0.75), ("loss", 2, 0.5)]
    assert summary["metrics"]["loss"]["final"] == 0.5
    assert (run / "artifacts" / "notes.txt").read_text() == "half done"
    assert (run / "plots" / "loss.svg").read_text().startswith("<svg ")
    assert not (run / "plots" / "loss.png").exists(), "PNGs only when asked for"
    report = (run / "REPORT.md").read_text()
    assert "- status: **failed**" in report
    assert f"{error_type}: {message}" in report
    assert "| loss | 0.5 |" in report
    assert read_run(run)["status"] == "failed"


SKIPPING = """
    import pytest

    def test_gpu(exp):
        exp.track("probe", 1.0)
        pytest.skip("no GPU on this machine")
        exp.track("probe", 2.0)
"""


@pytest.mark.parametrize("mode", MODES)
def test_skip_inside_an_experiment_reads_skipped_with_the_reason(
    pytester: pytest.Pytester, archive: Archive, mode: list[str]
) -> None:
    pytester.makepyfile(test_gpu=SKIPPING)
    pytester.runpytest(*mode).assert_outcomes(skipped=1)
    run = archive.run("gpu")
    summary = archive.summary(run)
    assert summary["status"] == "skipped"
    assert summary["reason"] == "no GPU on this machine"
    assert "error" not in summary
    assert _points(archive, run) == [("probe", 0, 1.0)]
    assert "Reason: no GPU on this machine" in (run / "REPORT.md").read_text()


PLAIN = """
    def test_plain(exp):
        exp.track("loss", 0.5)
"""


def _pretend_running(run: Path, **fields: object) -> None:
    summary = json.loads((run / "summary.json").read_text())
    summary.update(status="running", **fields)
    (run / "summary.json").write_text(json.dumps(summary))


def test_stale_heartbeat_on_another_host_reads_stale_and_is_not_written(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(test_plain=PLAIN)
    pytester.runpytest(*NO_XDIST).assert_outcomes(passed=1)
    run = archive.run("plain")
    beat = time.time() - 120
    _pretend_running(run, host="elsewhere", pid=os.getpid(), heartbeat=beat)
    summary = read_run(run)
    assert summary["status"] == "stale"  # only suspected: that process may be alive there
    assert summary["stale"]["reason"].startswith("no heartbeat for 12")
    assert summary["stale"]["last_heartbeat"] == beat
    assert archive.summary(run)["status"] == "running"
    assert _points(archive, run) == [("loss", 0, 0.5)]  # metrics.csv is kept


def test_fresh_heartbeat_on_another_host_stays_running(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(test_plain=PLAIN)
    pytester.runpytest(*NO_XDIST).assert_outcomes(passed=1)
    run = archive.run("plain")
    # a pid that is dead here says nothing about a process on another machine
    _pretend_running(run, host="elsewhere", pid=_dead_pid(), heartbeat=time.time() - 5)
    assert read_run(run)["status"] == "running"
    assert archive.summary(run)["status"] == "running"
    # the same summary written on this host: that process is gone
    _pretend_running(run, host=socket.gethostname())
    assert read_run(run)["status"] == "crashed"


def test_a_run_of_this_very_process_reads_running(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(
        test_live="""
        import os
        from pytest_expharness.catalog.reading import read_run

        def test_live(exp):
            exp.track("loss", 1.0)
            seen = read_run(exp.path)
            exp["seen"] = {"status": seen["status"], "pid": seen["pid"], "me": os.getpid()}
        """
    )
    pytester.runpytest(*NO_XDIST).assert_outcomes(passed=1)
    run = archive.run("live")
    seen = archive.data(run)["seen"]
    assert seen == {"status": "running", "pid": os.getpid(), "me": os.getpid()}
    assert archive.summary(run)["status"] == "completed"


TWO_FLUSHES = """
    import os
    import time

    def test_train(exp):
        for i in range(3):
            exp.track("loss", 10.0 + i, step=i)
        time.sleep(0.6)
        exp["journal_bytes"] = os.path.getsize(exp.path / "metrics.journal")
        exp.track("loss", 99.0, step=3)
        time.sleep(0.6)
        os._exit(1)
"""


def test_journal_cut_short_in_its_last_record_keeps_every_complete_chunk(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(test_crash=TWO_FLUSHES)
    pytester.runpytest_subprocess(*NO_XDIST)
    run = archive.run("train")
    journal = run / "metrics.journal"
    whole = journal.read_bytes()
    first = archive.data(run)["journal_bytes"]  # the journal after the first flush
    assert len(whole) > first
    pristine = (run / "summary.json").read_text()

    assert read_run(run)["status"] == "crashed"
    first_chunk = [("loss", 0, 10.0), ("loss", 1, 11.0), ("loss", 2, 12.0)]
    assert _points(archive, run) == [*first_chunk, ("loss", 3, 99.0)]

    for cut in range(1, len(whole) - first):  # every place inside the last record
        journal.write_bytes(whole[:-cut])
        (run / "summary.json").write_text(pristine)
        summary = read_run(run)
        assert summary["status"] == "crashed", cut
        assert _points(archive, run) == first_chunk, cut
        assert summary["metrics"]["loss"]["count"] == 3, cut


class _Mkdir:
    """Unpickling this would create a folder."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.mkdir, (str(self.target),))


def test_journal_that_refers_to_a_global_is_refused_without_running_it(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(
        test_crash="""
        import os
        import time

        def test_train(exp):
            exp.track("loss", 1.5, step=0)
            exp.track("loss", 2.5, step=1)
            time.sleep(0.5)
            os._exit(1)
        """
    )
    pytester.runpytest_subprocess(*NO_XDIST)
    run = archive.run("train")
    journal = run / "metrics.journal"
    honest = journal.read_bytes()
    pristine = (run / "summary.json").read_text()
    marker = pytester.path / "pwned"
    payloads = {
        "a global": pickle.dumps([os.system, None, 0.0]),
        "a call": pickle.dumps([_Mkdir(marker), None, 0.0]),
    }
    for what, payload in payloads.items():
        # series 0 is "loss", the only series: the chunk is well formed but for its content
        journal.write_bytes(honest + struct.pack("<cIQ", b"C", 0, len(payload)) + payload)
        (run / "summary.json").write_text(pristine)
        summary = read_run(run)
        assert summary["status"] == "crashed", what
        assert _points(archive, run) == [("loss", 0, 1.5), ("loss", 1, 2.5)], what
        assert not marker.exists(), what


SLOW_RUN = """
    import json
    import os
    import time

    def test_slow(exp):
        first = json.loads((exp.path / "summary.json").read_text())
        time.sleep(0.8)
        later = json.loads((exp.path / "summary.json").read_text())
        exp["first"] = {"status": first["status"], "heartbeat": first["heartbeat"]}
        exp["later"] = {"status": later["status"], "heartbeat": later["heartbeat"]}
        exp["pid"] = os.getpid()
"""


def test_heartbeat_is_refreshed_while_the_run_goes(
    pytester: pytest.Pytester, archive: Archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(flusher, "HEARTBEAT_INTERVAL", 0.1)
    pytester.makepyfile(test_slow=SLOW_RUN)
    before = time.time()
    pytester.runpytest(*NO_XDIST).assert_outcomes(passed=1)
    run = archive.run("slow")
    data = archive.data(run)
    summary = archive.summary(run)
    assert data["pid"] == os.getpid() == summary["pid"]
    assert data["first"]["status"] == data["later"]["status"] == "running"
    assert data["first"]["heartbeat"] >= summary["started_unix"]
    assert data["later"]["heartbeat"] >= data["first"]["heartbeat"] + 0.3
    assert before <= data["later"]["heartbeat"] <= time.time()
    assert summary["status"] == "completed"


KEEPS_A_REFERENCE = """
    import pytest

    KEPT = []

    def test_first(exp):
        KEPT.append(exp)
        exp.track("loss", 1.0)

    def test_later():
        old = KEPT[0]
        with pytest.raises(RuntimeError, match="already finished"):
            old.track("loss", 2.0)
        with pytest.raises(RuntimeError, match="already finished"):
            old.track("new_series", 3)
        with pytest.raises(RuntimeError, match="already finished"):
            old.track_many({"loss": 4.0})
"""


def test_tracking_after_the_run_finished_raises(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(test_keep=KEEPS_A_REFERENCE)
    pytester.runpytest(*NO_XDIST).assert_outcomes(passed=2)
    run = archive.run("first")
    assert _points(archive, run) == [("loss", 0, 1.0)]
    assert archive.summary(run)["metrics"]["loss"]["count"] == 1


def test_point_times_never_go_backwards(pytester: pytest.Pytester, archive: Archive) -> None:
    """metrics.csv's time column of one series is in the order the points were tracked."""
    pytester.makepyfile(
        test_times="""
        import time

        def test_times(exp):
            for i in range(20):
                exp.track("loss", float(i))
            time.sleep(0.05)
            for i in range(20, 40):
                exp.track("loss", float(i))
        """
    )
    before = time.time()
    pytester.runpytest(*NO_XDIST).assert_outcomes(passed=1)
    rows = archive.metrics(archive.run("times"))
    assert [value for _, _, value, _ in rows] == [float(i) for i in range(40)]
    times = [t for *_, t in rows]
    assert before <= min(times) and max(times) <= time.time()
    assert times[20] > times[19]  # the pause shows
    assert times == sorted(times), [round(t - times[0], 4) for t in times]


def test_a_repaired_crash_folder_explains_itself(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(
        test_exp="""
        import os, time

        def test_train(exp):
            for i in range(20):
                exp.track("loss", 1.0 / (i + 1))
            exp.commit_raw("notes.txt", "half way")
            time.sleep(1.2)
            os._exit(9)
        """
    )
    pytester.runpytest_subprocess("-p", "no:xdist")
    run = archive.run("train")
    assert not (run / "REPORT.md").exists(), "the process died before writing its report"
    summary = read_run(run)
    assert summary["status"] == "crashed" and summary["duration"] is None
    assert summary["plots"] == ["plots/loss.svg"]
    assert (run / "plots" / "loss.svg").read_text().startswith("<svg ")
    assert summary["artifacts"] == ["notes.txt"]
    assert summary["crash"]["last_point"] >= summary["started_unix"]
    report = (run / "REPORT.md").read_text()
    assert "- status: **crashed**" in report
    assert "## Crash" in report and "is gone" in report
    assert "| loss | 0.05 | 0.05 | 1 | 20 |" in report
    assert "![plots/loss.svg](plots/loss.svg)" in report
