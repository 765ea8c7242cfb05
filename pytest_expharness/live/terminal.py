"""The live view of the session's own terminal: a thread in the controller (or lone process).

It starts when the first run of the session starts (plugin.py is told by the
run's setup report, which reaches the controller with and without xdist) and
refreshes every REFRESH seconds on a terminal, else every --exp-progress
seconds as plain lines. It stops, and its lines are gone, when the session
finishes (also after a Ctrl-C or a failure), before the final table prints.
A failing refresh is said once and the view goes on; it never stops the session.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .runs import Reader
from .screen import Screen
from .text import lines

REFRESH = 1.0  # seconds between two redraws on a terminal
DEFAULT_EVERY = 30.0
PLUGIN_NAME = "expharness-live"


def progress_seconds(config: pytest.Config) -> float:
    """Return --exp-progress (else the ini key exp_progress, else 30); 0 means no view."""
    given = config.getoption("exp_progress", None)
    if given is None:
        text = str(config.getini("exp_progress") or DEFAULT_EVERY)
        try:
            given = float(text)
        except ValueError:
            given = -1.0
        if not 0 <= given < float("inf"):
            raise pytest.UsageError(f"ini exp_progress = {text!r}: give seconds (0: no live view)")
    return float(given)


class LiveView:
    """Refreshes the view of one session's runs from their folders, in a thread."""

    def __init__(self, screen: Screen, root: Path, stamp: str, period: float, tty: bool) -> None:
        self._screen, self._root, self._stamp = screen, root, stamp
        self._period, self._tty = period, tty
        self._reader = Reader()
        self._stop = threading.Event()
        self._reported = False
        self.cpu = 0.0  # seconds of CPU the refreshes took (benchmarks/bench_progress.py)
        self._thread = threading.Thread(target=self._loop, name="expharness-live", daemon=True)

    def start(self) -> None:
        """Start refreshing."""
        self._thread.start()

    def refresh(self) -> None:
        """Read the session's runs and show their lines."""
        begin = time.thread_time()
        shown = lines(self._reader.session(self._root, self._stamp))
        if self._tty:
            self._screen.show(shown)
        elif shown:
            self._screen.emit(shown)
        self.cpu += time.thread_time() - begin

    def _loop(self) -> None:
        while not self._stop.wait(self._period):
            try:
                self.refresh()
            except Exception:  # say it once; the session goes on, and so does the view
                if not self._reported:
                    self._reported = True
                    print("expharness: the live view failed:", file=sys.stderr)
                    traceback.print_exc(file=sys.stderr)

    def stop(self) -> None:
        """Stop refreshing and erase the view (idempotent)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._screen.remove()

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self) -> None:
        """Take the view away before the tables are written and printed."""
        self.stop()

    def pytest_unconfigure(self) -> None:
        """Stop, if the session ended some other way."""
        self.stop()


class Ticker:
    """The view as plain lines every `every` seconds, for a loop that waits (cluster/wait.py)."""

    def __init__(self, root: Path, stamp: str, every: float, say: Callable[[str], None]) -> None:
        self._root, self._stamp, self._every, self._say = root, stamp, every, say
        self._reader = Reader()
        self._next = time.monotonic() + every

    def tick(self) -> None:
        """Say the view's lines if their time has come (never raises)."""
        if time.monotonic() < self._next:
            return
        self._next = time.monotonic() + self._every
        try:
            shown = lines(self._reader.session(self._root, self._stamp))
        except Exception as error:  # the wait goes on
            shown = [f"expharness: the live view failed: {type(error).__name__}: {error}"]
        for line in shown:
            self._say(line)


def start(config: pytest.Config, root: Path, stamp: str) -> LiveView | None:
    """Start the live view of this session unless it is off or already on."""
    manager = config.pluginmanager
    if manager.get_plugin(PLUGIN_NAME) is not None or hasattr(config, "workerinput"):
        return None
    every = progress_seconds(config)
    reporter: Any = manager.get_plugin("terminalreporter")
    writer = getattr(reporter, "_tw", None)
    if every == 0 or writer is None or not hasattr(writer, "_file"):
        return None
    try:
        tty = os.isatty(writer._file.fileno()) and os.environ.get("TERM") != "dumb"
    except (OSError, ValueError, AttributeError):
        tty = False
    view = LiveView(Screen(writer, tty), root, stamp, REFRESH if tty else every, tty)
    manager.register(view, PLUGIN_NAME)
    view.start()
    return view
