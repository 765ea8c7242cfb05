"""The live view on a real terminal (a pty), read back through a terminal emulator (pyte)."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

pyte = pytest.importorskip("pyte")

SLOW = """
import time
import pytest

EPOCHS = 10

@pytest.mark.experiment(steps="EPOCHS", metric="loss")
@pytest.mark.parametrize("lr", [0.1, 0.2])
def test_slow(exp, lr):
    print("a line the test prints")
    for epoch in range(exp.EPOCHS):
        exp.track("loss", 1.0 / (epoch + 1))
        time.sleep(0.3)


def test_plain():
    pass
"""
COLUMNS, ROWS = 110, 60


def _run_on_a_terminal(folder: Path, args: list[str]) -> tuple[list[list[str]], list[str]]:
    """Run pytest on a pty; return the screens seen while it ran, and the last screen."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    env = {**os.environ, "TERM": "xterm", "COLUMNS": str(COLUMNS), "LINES": str(ROWS)}
    env.pop("CI", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:randomly", "-p", "no:cacheprovider", *args],
        cwd=folder, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True,
    )  # fmt: skip
    os.close(slave)
    screen = pyte.Screen(COLUMNS, ROWS)
    stream = pyte.ByteStream(screen)
    seen: list[list[str]] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the pty closed: pytest ended
            break
        if not chunk:
            break
        stream.feed(chunk)
        seen.append(list(screen.display))
    os.close(master)
    process.wait(30)
    return seen, [line.rstrip() for line in screen.display]


@pytest.mark.parametrize("mode", [["-p", "no:xdist"], ["-n", "2"]], ids=["no-xdist", "xdist-2"])
def test_the_view_redraws_in_place_and_is_gone_before_the_table(
    pytester: pytest.Pytester, mode: list[str]
) -> None:
    pytester.makepyfile(test_slow=SLOW)
    seen, last = _run_on_a_terminal(pytester.path, [*mode, "--exp-progress", "1"])
    text = "\n".join(last)
    assert "3 passed" in text, text
    live = [s for s in seen if any("[" in line and "/10" in line for line in s)]
    assert live, "the view never showed a run in flight"
    view_lines = [line for s in live for line in s if "running of" in line]
    assert view_lines and all(line.startswith("slow  ") for line in view_lines)
    assert sum(line.startswith("slow  ") for line in live[-1]) == 1  # drawn in place, once
    assert not any("running of" in line or "/10  elapsed" in line for line in last), text
    table = next(i for i, line in enumerate(last) if "experiments" in line and "===" in line)
    assert any("slow: 2 runs (2 completed)" in line for line in last[table:]), text
    before = last[:table]
    progress = [line for line in before if "[100%]" in line]
    assert progress, text  # pytest's own progress line is intact above the table
    assert not any("a line the test prints" in line for line in before)  # captured, as always
