"""One background thread per process that makes every active run durable.

Every TICK it refreshes the clock that tracked points are stamped with (reading
a global is ten times cheaper than calling time.time() on the hot path, so point
times have TICK resolution). Every FLUSH_INTERVAL it appends what each active
run tracked to that run's journal and writes changed data; every
HEARTBEAT_INTERVAL it refreshes each run's heartbeat. Between flushes, a run that
holds more than MAX_HELD points (a fast loop makes millions in a quarter second)
has them journaled at the next TICK, so memory stays bounded by MAX_HELD points
however fast a run tracks. One thread serves all runs; it stops after IDLE_EXIT
seconds without any.
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Protocol

TICK = 0.01
FLUSH_INTERVAL = 0.25
HEARTBEAT_INTERVAL = 5.0
IDLE_EXIT = 2.0
MAX_HELD = 262_144  # points a run may hold in memory between flushes (~12 MB)


class Durable(Protocol):
    """What the flusher needs from a run."""

    def persist(self, now: float, heartbeat: bool) -> None: ...

    def held(self) -> int: ...

    def flush_points(self) -> None: ...


class Flusher:
    """The process-wide flusher; runs register while they are active."""

    def __init__(self, on_tick: Callable[[float], None]) -> None:
        self._on_tick = on_tick
        self._runs: list[Durable] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._reported = False

    def register(self, run: Durable) -> None:
        """Start keeping run durable (and the thread, if it is not running)."""
        self._on_tick(time.time())
        with self._lock:
            self._runs.append(run)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="expharness-flusher", daemon=True
                )
                self._thread.start()

    def unregister(self, run: Durable) -> None:
        """Stop flushing run (it has finished and writes its final files itself)."""
        with self._lock:
            if run in self._runs:
                self._runs.remove(run)

    def active(self) -> list[Durable]:
        """Return the runs still registered (not finished) in this process."""
        with self._lock:
            return list(self._runs)

    def _loop(self) -> None:
        last_flush = last_beat = idle_since = time.time()
        while True:
            time.sleep(TICK)
            now = time.time()
            self._on_tick(now)
            if now - last_flush < FLUSH_INTERVAL:
                self._journal_backlog()
                continue
            last_flush = now
            heartbeat = now - last_beat >= HEARTBEAT_INTERVAL
            if heartbeat:
                last_beat = now
            with self._lock:
                runs = list(self._runs)
                if runs:
                    idle_since = now
                elif now - idle_since > IDLE_EXIT:
                    self._thread = None
                    return
            for run in runs:
                self._persist(run, now, heartbeat)

    def _journal_backlog(self) -> None:
        """Journal the points of every run that holds more than MAX_HELD of them."""
        with self._lock:
            runs = list(self._runs)
        for run in runs:
            try:
                if run.held() > MAX_HELD:
                    run.flush_points()
            except Exception:  # the next regular flush says what is wrong
                continue

    def _persist(self, run: Durable, now: float, heartbeat: bool) -> None:
        try:
            run.persist(now, heartbeat)
        except Exception:  # keep serving the other runs; say it once
            if not self._reported:
                self._reported = True
                print("expharness: making a run durable failed:", file=sys.stderr)
                traceback.print_exc(file=sys.stderr)
