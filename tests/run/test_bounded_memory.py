"""Bounded memory: journaled points leave memory; a killed run ends with a finished run's files."""

from __future__ import annotations

import csv
import threading
from pathlib import Path

import numpy as np
import pytest

from pytest_expharness import load_run
from pytest_expharness.catalog.reading import read_run
from pytest_expharness.run.tracking import Tracker

from conftest import Archive

NO_XDIST = ["-p", "no:xdist", "-p", "no:randomly"]
MODES = [pytest.param(NO_XDIST, id="no-xdist"), pytest.param(["-n", "2"], id="xdist-2")]


def test_flush_empties_the_lists_and_loses_no_point_appended_meanwhile(tmp_path: Path) -> None:
    tracker = Tracker(tmp_path)
    tracker.track_slow("loss", 0.0, None)
    extend = tracker.hot["loss"]
    stop = threading.Event()

    def flush_all_the_time() -> None:
        while not stop.is_set():
            tracker.flush()

    flusher = threading.Thread(target=flush_all_the_time)
    flusher.start()
    try:
        for i in range(1, 200_000):
            extend((float(i), None, 1.0))
    finally:
        stop.set()
        flusher.join()
    tracker.flush()
    assert tracker.held() == 0  # every point left memory
    assert tracker.counts["loss"] == 200_000
    tracker.close()
    values = [v for name, chunk in tracker.chunks() for v in chunk[0::3] if name == "loss"]
    assert values == [float(i) for i in range(200_000)]  # each once, in order


TRACK_THEN_LOOK = """
    import time

    def test_long(exp):
        for i in range(5000):
            exp.track("loss", i * 0.5)
            exp.track("acc", 1.0 / (i + 1), step=2 * i)
        time.sleep(0.7)  # the flusher takes everything
        exp["held"] = exp._tracker.held()
        exp["journaled"] = dict(exp._tracker.counts)
        exp.track("loss", -1.0)
"""


@pytest.mark.parametrize("mode", MODES)
def test_a_run_holds_no_journaled_point_and_ends_with_series_and_csv(
    pytester: pytest.Pytester, archive: Archive, mode: list[str]
) -> None:
    pytester.makepyfile(test_long=TRACK_THEN_LOOK)
    result = pytester.runpytest_subprocess(*mode)
    result.assert_outcomes(passed=1)
    run = archive.run("long")
    data = archive.data(run)
    assert data["held"] == 0
    assert data["journaled"] == {"loss": 5000, "acc": 5000}
    assert not (run / "metrics.journal").exists()
    loaded = load_run(run)
    assert loaded.metrics["loss"].tolist() == [i * 0.5 for i in range(5000)] + [-1.0]
    assert loaded.metrics["loss"].steps.tolist() == list(range(5001))
    assert loaded.metrics["acc"].steps.tolist() == [2 * i for i in range(5000)]
    summary = archive.summary(run)
    assert summary["metrics"]["loss"] == {
        "final": -1.0,
        "min": -1.0,
        "max": 2499.5,
        "count": 5001,
        "last_step": 5000,
    }
    with open(run / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 10001
    assert [r["name"] for r in rows] == ["loss"] * 5001 + ["acc"] * 5000  # grouped by series


KILLED = """
    import os
    import signal
    import time

    def test_train(exp):
        for i in range(3000):
            exp.track("loss", 1.0 / (i + 1))
            if i % 3 == 0:
                exp.track("eval/acc", i * 0.25, step=i)
        time.sleep(0.7)  # flushed: all of it must survive
        if os.environ.get("KILL_IT"):
            os.kill(os.getpid(), signal.SIGKILL)
"""


def _files(run: Path) -> list[str]:
    names = ["metrics.csv", "metrics.journal", ".series-partial"]
    found = [n for n in names if (run / n).exists()]
    return found + sorted(str(p.relative_to(run)) for p in (run / "series").rglob("*"))


def _without_times(run: Path) -> tuple[list[list[str]], dict[str, list[tuple[float, int]]]]:
    with open(run / "metrics.csv", newline="") as handle:
        rows = [row[:3] for row in csv.reader(handle)]
    series = {
        p.stem: [(v, s) for v, s, _ in np.load(p).tolist()] for p in (run / "series").rglob("*.npy")
    }
    return rows, series


def test_a_run_killed_mid_tracking_ends_with_the_files_of_a_finished_one(
    pytester: pytest.Pytester, archive: Archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_train=KILLED)
    pytester.runpytest_subprocess(*NO_XDIST).assert_outcomes(passed=1)
    (finished,) = archive.runs("train")
    monkeypatch.setenv("KILL_IT", "1")
    result = pytester.runpytest_subprocess(*NO_XDIST)
    assert result.ret != 0
    (killed,) = (r for r in archive.runs("train") if r != finished)
    assert (killed / "metrics.journal").exists() and not (killed / "metrics.csv").exists()

    summary = read_run(killed)
    assert summary["status"] == "crashed"
    assert _files(killed) == _files(finished)
    assert "metrics.journal" not in _files(killed)
    assert _without_times(killed) == _without_times(finished)
    done = archive.summary(finished)["metrics"]
    assert summary["metrics"] == done
    assert summary["metrics"]["loss"]["count"] == 3000
    assert load_run(killed).metrics["eval/acc"].tolist() == [i * 0.25 for i in range(0, 3000, 3)]


def test_a_backlog_is_journaled_at_the_next_tick_not_the_next_flush() -> None:
    """A loop that tracks millions of points a quarter second holds at most MAX_HELD of them."""
    import time

    from pytest_expharness.run import flusher

    calls: list[str] = []

    class FastRun:
        def persist(self, now: float, heartbeat: bool) -> None:
            calls.append("persist")

        def held(self) -> int:
            return flusher.MAX_HELD + 1 if len(calls) < 3 else 0

        def flush_points(self) -> None:
            calls.append("points")

    keeper = flusher.Flusher(lambda now: None)
    run = FastRun()
    keeper.register(run)
    deadline = time.monotonic() + 10
    while calls.count("points") < 3 and time.monotonic() < deadline:
        time.sleep(0.005)
    keeper.unregister(run)
    assert calls.count("points") >= 3, calls  # journaled at ticks, not only at the flushes
