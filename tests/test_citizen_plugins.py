"""Experiments under the plugins people already use: rerunfailures, repeat, timeout.

Each test runs a real pytest session with the real plugin (all three are
installed beside ours), with and without xdist, and reads what a user would:
pytest's outcome line, the run folders, the sweep table.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_expharness.sweep import table as sweeptable

from conftest import XDIST_MODES, Archive

NO_RANDOM = ["-p", "no:randomly"]
STATUSES = ["completed", "failed", "crashed", "skipped"]

FLAKY = """
    from pathlib import Path

    EPOCHS = 1

    def test_flaky(exp):
        exp.track("loss", 0.5)
        marks = Path(__file__).with_name("attempts.txt")
        n = int(marks.read_text()) + 1 if marks.exists() else 1
        marks.write_text(str(n))
        exp["results/attempt_seen"] = n
        assert n >= 3, f"flaky on attempt {n}"
"""


def _table(archive: Archive, experiment: str) -> dict[str, Any]:
    found = sorted(archive.root.glob(f"{experiment}/*/comparison.json"))
    assert len(found) == 1, f"expected one sweep table, found {found}"
    return json.loads(found[0].read_text())  # type: ignore[no-any-return]


def _markdown(archive: Archive, experiment: str) -> str:
    (found,) = archive.root.glob(f"{experiment}/*/comparison.md")
    return found.read_text()


# -- pytest-rerunfailures -------------------------------------------------------


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_reruns_keep_every_attempt_and_count_the_last_as_the_run(
    pytester: pytest.Pytester, archive: Archive, mode: list[str]
) -> None:
    pytester.makepyfile(test_flaky=FLAKY)
    result = pytester.runpytest_subprocess(*mode, *NO_RANDOM, "--reruns", "2")
    assert result.parseoutcomes() == {"passed": 1, "rerun": 2}
    runs = archive.runs("flaky")
    assert len(runs) == 3  # nothing is lost: every attempt keeps its folder
    by_attempt = {archive.config(r)["experiment"]["attempt"]: r for r in runs}
    assert sorted(by_attempt) == [1, 2, 3]
    assert [archive.summary(by_attempt[a])["status"] for a in (1, 2, 3)] == [
        "failed",
        "failed",
        "completed",
    ]
    assert [archive.summary(by_attempt[a])["attempt"] for a in (1, 2, 3)] == [1, 2, 3]
    table = _table(archive, "flaky")
    statuses = sorted((row["attempt"], row["status"]) for row in table["rows"])
    assert statuses == [(1, "rerun"), (2, "rerun"), (3, "completed")]
    reasons = {row["attempt"]: row["reason"] for row in table["rows"]}
    assert reasons[1].startswith("attempt 1 failed: AssertionError: flaky on attempt 1")
    title = _markdown(archive, "flaky").splitlines()[2]
    assert title.startswith("flaky: 1 run (1 completed; 2 reruns)"), title
    assert "1 run (1 completed; 2 reruns)" in result.stdout.str()
    with sqlite3.connect(archive.root / "index.sqlite") as db:  # the index keeps every attempt
        indexed = sorted(db.execute("SELECT run_id, status, attempt FROM runs").fetchall())
    assert indexed == [
        ("attempt=2", "failed", 2),
        ("attempt=3", "completed", 3),
        ("run", "failed", 1),
    ]


@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(1, 4), st.sampled_from(STATUSES)),
        max_size=12,
    )
)
def test_only_each_tests_last_attempt_is_its_run(runs: list[tuple[str, int, str]]) -> None:
    records = [
        {"node_id": node, "attempt": attempt, "status": status, "run_id": f"r{i}"}
        for i, (node, attempt, status) in enumerate(runs)
    ]
    marked = sweeptable.mark_reruns(records)
    assert [r["run_id"] for r in marked] == [r["run_id"] for r in records]  # nothing dropped
    last = {node: max(a for n, a, _ in runs if n == node) for node, _, _ in runs}
    for record, before in zip(marked, records, strict=True):
        if before["attempt"] == last[before["node_id"]]:
            assert record == before
        else:
            assert record["status"] == "rerun"
            assert record["reason"].startswith(f"attempt {before['attempt']} {before['status']}")
    assert all(r["status"] != "rerun" for r in records)  # the records themselves are not changed


def test_a_test_failing_every_attempt_reads_failed_once(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(
        test_broken="""
        def test_broken(exp):
            assert False, "always"
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:xdist", *NO_RANDOM, "--reruns", "1")
    assert result.parseoutcomes() == {"failed": 1, "rerun": 1}
    assert len(archive.runs("broken")) == 2
    rows = _table(archive, "broken")["rows"]
    assert sorted((r["attempt"], r["status"]) for r in rows) == [(1, "rerun"), (2, "failed")]
    assert "1 run (1 failed; 1 rerun)" in _markdown(archive, "broken")


def test_a_session_without_reruns_has_no_attempt_column(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(
        test_plain="""
        import pytest

        @pytest.mark.parametrize("x", [1, 2])
        def test_plain(exp, x):
            exp.track("loss", float(x))
        """
    )
    pytester.runpytest_subprocess("-p", "no:xdist", *NO_RANDOM).assert_outcomes(passed=2)
    table = _table(archive, "plain")
    assert "attempt" not in table["columns"]
    assert {archive.config(r)["experiment"]["attempt"] for r in archive.runs()} == {1}


# -- pytest-repeat ----------------------------------------------------------------


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_count_copies_are_repeats_with_their_own_seeds(
    pytester: pytest.Pytester, archive: Archive, mode: list[str]
) -> None:
    pytester.makepyfile(
        test_noisy="""
        import pytest

        SEED = 10

        @pytest.mark.experiment(metric="loss")
        @pytest.mark.parametrize("lr", [0.1, 1.0])
        def test_noisy(exp, lr):
            exp.track("loss", lr + exp.seed)
        """
    )
    result = pytester.runpytest_subprocess(*mode, *NO_RANDOM, "--count", "3")
    result.assert_outcomes(passed=6)
    runs = archive.runs("noisy")
    headers = [archive.config(r)["experiment"] for r in runs]
    assert all(h["axes"] == ["lr"] for h in headers)  # the copy number is not an axis
    assert all(h["repeats"] == 3 for h in headers)
    for lr in (0.1, 1.0):
        mine = [r for r in runs if archive.config(r)["parameters"]["lr"] == lr]
        seeds = sorted(archive.config(r)["experiment"]["seed"] for r in mine)
        assert seeds == [10, 11, 12]
        assert sorted(r.name for r in mine) == [f"lr={lr},rep={i}" for i in range(3)]
    table = _table(archive, "noisy")
    assert "__pytest_repeat_step_number" not in json.dumps(table)
    assert table["axes"] == ["lr"]
    means = {e["lr"]: (e["n"], e["loss mean"], e["loss std"]) for e in table["aggregate"]}
    assert means[0.1] == (3, pytest.approx(11.1), pytest.approx(1.0))
    assert means[1.0] == (3, pytest.approx(12.0), pytest.approx(1.0))


def test_count_and_exp_repeats_multiply(pytester: pytest.Pytester, archive: Archive) -> None:
    pytester.makepyfile(
        test_both="""
        def test_both(exp):
            exp.track("loss", float(exp.seed))
        """
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:xdist", *NO_RANDOM, "--count", "2", "--exp-repeats", "2"
    )
    result.assert_outcomes(passed=4)
    seeds = sorted(archive.config(r)["experiment"]["seed"] for r in archive.runs("both"))
    assert seeds == [0, 1, 2, 3]
    assert _table(archive, "both")["aggregate"][0]["n"] == 4


# -- pytest-timeout ---------------------------------------------------------------

SLOW = """
    import time

    def test_quick(exp):
        exp.track("loss", 1.0)

    def test_slow(exp):
        exp.track("loss", 2.0, step=0)
        exp["results/started"] = 1
        time.sleep(30)
"""


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_thread_timeout_reads_as_crashed_by_a_timeout(
    pytester: pytest.Pytester, archive: Archive, mode: list[str]
) -> None:
    pytester.makepyfile(test_slow=SLOW)
    pytester.runpytest_subprocess(
        *mode, *NO_RANDOM, "--timeout", "2", "--timeout-method", "thread", timeout=60
    )
    slow = archive.run("slow")
    summary = archive.summary(slow)
    assert summary["status"] == "crashed"
    assert summary["crash"]["reason"] == "timeout after 2 s"
    assert summary["metrics"]["loss"]["final"] == 2.0  # what was tracked is kept
    assert "timeout after 2 s (pytest-timeout)" in archive.log(slow)
    if "-n" in mode:  # the controller survives its worker: the table is written
        rows = {r["run"]: r for r in _table(archive, "slow")["rows"]}
        assert rows["run"]["status"] == "crashed"
        assert rows["run"]["reason"] == "timeout after 2 s"
        assert _table(archive, "quick")["rows"][0]["status"] == "completed"


def test_signal_timeout_reads_as_failed_by_the_timeout(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(
        test_slow="""
        import time

        def test_slow(exp):
            time.sleep(30)
        """
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:xdist", *NO_RANDOM, "--timeout", "1", "--timeout-method", "signal", timeout=60
    )
    result.assert_outcomes(failed=1)
    summary = archive.summary(archive.run("slow"))
    assert summary["status"] == "failed"
    assert "Timeout" in summary["error"]["message"]
