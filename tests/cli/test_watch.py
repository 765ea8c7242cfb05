"""`expharness watch` (issue 16): the live view from another terminal, then the table."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_expharness.cli import main as cli

from conftest import XDIST_MODES, Archive

SLOW = """
import time
import pytest

@pytest.mark.experiment(metric="loss")
@pytest.mark.parametrize("lr", [0.1, 0.2])
def test_slow(exp, lr):
    exp.progress(6)
    for step in range(6):
        exp.track("loss", lr * step)
        time.sleep(0.5)
"""

KILLED = """
import os, signal, time

def test_dies(exp):
    exp.progress(10)
    for step in range(10):
        exp.track("loss", float(step))
        time.sleep(0.3)
        if step == 5:
            os.kill(os.getpid(), signal.SIGKILL)
"""


def watch(capsys: pytest.CaptureFixture[str], root: Path, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.main(["--root", str(root), "watch", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _stamp(archive: Archive) -> str:
    return archive.run().parent.name


def test_a_killed_session_s_run_shows_crashed(
    pytester: pytest.Pytester, archive: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    pytester.makepyfile(test_dies=KILLED)
    result = pytester.runpytest_subprocess("-p", "no:xdist", "--exp-progress", "0", timeout=60)
    assert result.ret not in (0, 1)  # killed, no summary
    code, out, _ = watch(capsys, archive.root, "dies", "--once")
    assert code == 0
    assert out.splitlines()[0] == f"session {_stamp(archive)}"
    assert "dies  0 done, 0 running, 1 crashed of 1" in out
    assert "  run  crashed: process" in out, out
    assert "comparison" not in out  # --once: no table


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_watch_follows_a_running_session_then_prints_its_table(
    pytester: pytest.Pytester, archive: Archive, mode: list[str]
) -> None:
    pytester.makepyfile(test_slow=SLOW)
    env = {**os.environ, "PYTEST_ADDOPTS": "-p no:randomly"}
    session = subprocess.Popen(
        [sys.executable, "-m", "pytest", *mode, "--exp-progress", "0", "-q"],
        cwd=pytester.path,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not list(archive.root.glob("slow/*/*/live.json")) and time.monotonic() < deadline:
            time.sleep(0.1)
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest_expharness.cli.main",
                "--root",
                str(archive.root),
                "watch",
                "--every",
                "0.5",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
    finally:
        session.wait(timeout=60)
    lines = done.stdout.splitlines()
    assert done.returncode == 0, done.stderr
    at = next(i for i, line in enumerate(lines) if line.startswith("# slow: session"))
    during = [line for line in lines[:at] if line.startswith("  lr=0.")]
    assert any("/6  elapsed" in line for line in during), done.stdout
    assert "| *      | lr=0" in "\n".join(lines[at:]), done.stdout  # the table, best row marked


def test_a_finished_session_prints_its_table(
    pytester: pytest.Pytester, archive: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    pytester.makepyfile(test_slow=SLOW.replace("range(6)", "range(2)"))
    pytester.runpytest_subprocess("-p", "no:xdist", timeout=60).assert_outcomes(passed=2)
    stamp = archive.runs()[0].parent.name
    for target in (stamp, "slow", "latest"):
        code, out, _ = watch(capsys, archive.root, target)
        assert code == 0
        assert "slow  2 done, 0 running of 2" in out and "· ended" in out
        assert f"# slow: session {stamp}" in out
        assert "| lr=0.1 |" in out
    code, out, err = watch(capsys, archive.root)
    assert code == 1 and f"no session is running on {archive.root}" in err


def test_unknown_targets_are_usage_errors(
    pytester: pytest.Pytester, archive: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    pytester.makepyfile(test_slow=SLOW.replace("range(6)", "range(1)"))
    pytester.runpytest_subprocess("-p", "no:xdist", timeout=60).assert_outcomes(passed=2)
    code, _, err = watch(capsys, archive.root, "slwo", "--once")
    assert code == 2
    assert "no session or experiment 'slwo'" in err and "experiments: slow" in err
    code, _, err = watch(capsys, archive.root, "2020-01-01_00-00-00_abcd")
    assert code == 2
    code, _, err = watch(capsys, archive.root, "slow", "--every", "0")
    assert code == 2 and "--every 0" in err
