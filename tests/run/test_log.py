"""exp.log: run.log always; pytest's output the usual way (failure report, -s, log_cli)."""

from __future__ import annotations

import re

import matplotlib.backends.backend_agg  # runs import these to plot; see the note below
import matplotlib.figure  # noqa: F401
import numpy  # noqa: F401
import pytest

from conftest import XDIST_MODES, Archive

# pytester restores sys.modules after every in-process session and numpy cannot be
# imported twice in one process: importing it (and matplotlib) here keeps it loaded.

NO_XDIST = ["-p", "no:xdist", "-p", "no:randomly"]
STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}"


def test_log_lines_land_in_run_log_with_time_and_level_in_order(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(
        test_train="""
        def test_train(exp):
            exp.log("loading data")
            for epoch in range(3):
                exp.log(f"epoch {epoch}: loss={1 / (epoch + 1):.3f}")
            exp.log(42)
        """
    )
    pytester.runpytest(*NO_XDIST).assert_outcomes(passed=1)
    stamps, levels, messages = [], [], []
    for line in archive.log(archive.run("train")).splitlines():
        found = re.fullmatch(rf"({STAMP}) ([A-Z]+) (.*)", line)
        assert found, line
        stamps.append(found.group(1))
        levels.append(found.group(2))
        messages.append(found.group(3))
    assert messages[:5] == [
        "loading data",
        "epoch 0: loss=1.000",
        "epoch 1: loss=0.500",
        "epoch 2: loss=0.333",
        "42",
    ]
    assert re.fullmatch(r"run completed in \d+\.\d{3} s", messages[5])
    assert len(messages) == 6
    assert levels == ["INFO"] * 6
    assert stamps == sorted(stamps)


TWO_RUNS = """
    def test_quiet(exp):
        exp.log("quiet run says hello")

    def test_broken(exp):
        exp.log("broken run: step one")
        exp.log("broken run: step two")
        assert exp.params == {"nothing": 1}
"""


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_captured_log_lines_show_in_the_failure_report_only(
    pytester: pytest.Pytester, archive: Archive, mode: list[str]
) -> None:
    pytester.makepyfile(test_two=TWO_RUNS)
    result = pytester.runpytest(*mode, "-p", "no:randomly")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_broken _*",
            "*Captured log call*",
            "INFO *broken run: step one",
            "INFO *broken run: step two",
        ]
    )
    result.stdout.no_fnmatch_line("*quiet run says hello*")
    # run.log has them either way
    assert "quiet run says hello" in archive.log(archive.run("quiet"))
    assert "broken run: step two" in archive.log(archive.run("broken"))


def test_capture_off_prints_log_lines_live(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_live="""
        def test_live(exp):
            print("printed before")
            exp.log("logged in between")
            print("printed after")
        """
    )
    result = pytester.runpytest(*NO_XDIST, "-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*printed before", "logged in between", "printed after"])
    assert result.stdout.str().count("logged in between") == 1


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["-o", "log_cli=true"], id="log_cli"),
        pytest.param(["-s", "-o", "log_cli=true"], id="log_cli-and-s"),
        pytest.param(["-s", "--log-cli-level=INFO"], id="log-cli-level-and-s"),
    ],
)
def test_log_cli_shows_log_lines_live_once(pytester: pytest.Pytester, args: list[str]) -> None:
    pytester.makepyfile(
        test_live="""
        def test_live(exp):
            exp.log("epoch 1 done")
            exp.log("epoch 2 done")
        """
    )
    result = pytester.runpytest(*NO_XDIST, *args)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["*live log call*", "INFO *epoch 1 done", "INFO *epoch 2 done", "PASSED*"]
    )
    output = result.stdout.str()
    assert output.count("epoch 1 done") == 1, output
    assert output.count("epoch 2 done") == 1, output


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_warning_inside_an_experiment_is_copied_into_run_log(
    pytester: pytest.Pytester, archive: Archive, mode: list[str]
) -> None:
    pytester.makepyfile(
        test_warn="""
        import warnings

        def test_warn(exp):
            exp.log("before the warning")
            warnings.warn("careful", UserWarning)
            exp.log("after the warning")
        """
    )
    result = pytester.runpytest(*mode)
    result.assert_outcomes(passed=1, warnings=1)
    log = archive.log(archive.run("warn"))
    assert re.search(rf"^{STAMP} WARNING UserWarning: careful \(test_warn.py:5\)$", log, re.M), log
    assert log.index("before the warning") < log.index("careful") < log.index("after the warning")


def test_component_failure_puts_its_traceback_in_run_log(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(
        test_parts="""
        def test_parts(exp):
            exp.log("starting")
            with exp.component("x"):
                raise ValueError("bad")
            exp.log("still going")
        """
    )
    pytester.runpytest(*NO_XDIST).assert_outcomes(passed=1)
    run = archive.run("parts")
    log = archive.log(run)
    assert re.search(rf"^{STAMP} ERROR component 'x' failed:$", log, re.M), log
    failure = log.split("component 'x' failed:")[1]
    assert failure.splitlines()[1] == "Traceback (most recent call last):"
    assert 'raise ValueError("bad")' in failure
    assert "ValueError: bad" in failure
    assert log.index("starting") < log.index("component 'x' failed") < log.index("still going")
    summary = archive.summary(run)
    assert summary["status"] == "completed"
    assert summary["components"]["x"]["status"] == "failed"
    assert summary["components"]["x"]["reason"] == "ValueError: bad"


def test_warning_filters_in_force_still_apply(pytester: pytest.Pytester, archive: Archive) -> None:
    pytester.makepyfile(
        test_warn="""
        import warnings

        def test_warn(exp):
            warnings.warn("careful", UserWarning)
            exp.log("not reached")
        """
    )
    result = pytester.runpytest("-p", "no:xdist", "-W", "error::UserWarning")
    result.assert_outcomes(failed=1)
    summary = archive.summary(archive.run("warn"))
    assert (summary["status"], summary["error"]["type"]) == ("failed", "UserWarning")
    assert "not reached" not in archive.log(archive.run("warn"))
