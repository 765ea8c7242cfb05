"""The live view in the session's own terminal (issue 16): plain lines without a terminal."""

from __future__ import annotations

import re

import pytest

from conftest import XDIST_MODES

SLOW = """
import time
import pytest

EPOCHS = 6

@pytest.mark.experiment(steps="EPOCHS", metric="loss")
@pytest.mark.parametrize("lr", [0.1, 0.2, 0.3])
def test_slow(exp, lr):
    for epoch in range(exp.EPOCHS):
        exp.track("loss", 1.0 / (epoch + 1), step=epoch)
        exp.track("acc", epoch * 0.1)
        time.sleep(0.4)
"""

RUN_LINE = re.compile(r"^  lr=0\.[123]  \[[#-]{10}\] (\d)/6  elapsed \d+s  ETA \d+s  loss=\S+")
SWEEP_LINE = re.compile(r"^slow  (\d) done, (\d) running of (\d) · elapsed \d+s(?: · ETA (\d+)s)?")


def _split(lines: list[str]) -> tuple[list[str], list[str]]:
    """The output before the experiments table, and from it on."""
    at = next(i for i, line in enumerate(lines) if "experiments" in line and "===" in line)
    return lines[:at], lines[at:]


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_plain_lines_show_each_run_in_flight_and_none_after_the_table(
    pytester: pytest.Pytester, mode: list[str]
) -> None:
    pytester.makepyfile(test_slow=SLOW)
    result = pytester.runpytest_subprocess(*mode, "--exp-progress", "1", timeout=120)
    result.assert_outcomes(passed=3)
    before, after = _split(result.outlines)
    steps = [int(m.group(1)) for line in before if (m := RUN_LINE.match(line))]
    assert steps, result.stdout.str()
    assert min(steps) < 6, steps  # seen while the runs were still going
    sweeps = [m.groups() for line in before if (m := SWEEP_LINE.match(line))]
    assert sweeps, result.stdout.str()
    assert {total for *_, total, _ in sweeps} == {"3"}  # N counts the runs not started yet
    waiting = [(done, eta) for done, running, _, eta in sweeps if int(done) + int(running) < 3]
    assert waiting and all(eta is not None for _, eta in waiting), sweeps  # and so does the ETA
    assert not [line for line in after if RUN_LINE.match(line) or SWEEP_LINE.match(line)]
    assert "slow: 3 runs (3 completed)" in result.stdout.str()


@pytest.mark.parametrize("given", [["--exp-progress", "0"], ["-o", "exp_progress=0"]])
def test_progress_0_prints_nothing_extra(pytester: pytest.Pytester, given: list[str]) -> None:
    pytester.makepyfile(test_slow=SLOW.replace("EPOCHS = 6", "EPOCHS = 3"))
    result = pytester.runpytest_subprocess("-p", "no:xdist", *given, timeout=120)
    result.assert_outcomes(passed=3)
    assert not [line for line in result.outlines if RUN_LINE.match(line) or "running of" in line]


def test_default_every_30_s_prints_nothing_in_a_short_session(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_slow=SLOW.replace("EPOCHS = 6", "EPOCHS = 2"))
    result = pytester.runpytest_subprocess("-p", "no:xdist", timeout=120)
    result.assert_outcomes(passed=3)
    assert "running of" not in result.stdout.str()


KILLED = """
import os, signal, time
import pytest

@pytest.mark.parametrize("point", [0, 1])
def test_dies(exp, point):
    exp.progress(10)
    for step in range(10):
        exp.track("loss", float(step))
        time.sleep(0.4)
        if point == 0 and step == 3:
            os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_killed_worker_s_run_shows_crashed_while_the_session_goes_on(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_dies=KILLED)
    result = pytester.runpytest_subprocess("-n", "2", "--exp-progress", "1", timeout=120)
    before, _ = _split(result.outlines)
    crashed = [
        line
        for line in before
        if re.match(r"^  point=0  crashed: (process \d+ on \S+ |worker gw\d died)", line)
    ]
    assert crashed, result.stdout.str()
    running = [line for line in before if re.match(r"^  point=1  \[[#-]+\] \d+/10", line)]
    assert running, result.stdout.str()


@pytest.mark.parametrize("value", ["-1", "soon", "inf"])
def test_a_bad_progress_value_is_a_usage_error(pytester: pytest.Pytester, value: str) -> None:
    pytester.makepyfile(test_slow=SLOW)
    result = pytester.runpytest_subprocess("-p", "no:xdist", f"--exp-progress={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--exp-progress" in result.stderr.str()
    assert not (pytester.path / "results").exists()
