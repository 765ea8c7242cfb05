"""One background thread per process that makes every active run durable.

Every FLUSH_INTERVAL it moves tracked points into each run's journal and writes
changed data; every HEARTBEAT_INTERVAL it refreshes each run's heartbeat in
summary.json. One thread serves all runs, so starting a run starts no thread.
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
from typing import Protocol

FLUSH_INTERVAL = 0.25
HEARTBEAT_INTERVAL = 5.0


class Durable(Protocol):
    """What the flusher needs from a run."""

    def persist(self, now: float, heartbeat: bool) -> None: ...


class Flusher:
    """The process-wide flusher; runs register while they are active."""

    def __init__(self) -> None:
        self._runs: list[Durable] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._last_beat = 0.0
        self._reported = False

    def register(self, run: Durable) -> None:
        """Start keeping run durable (and the thread, the first time)."""
        with self._lock:
            self._runs.append(run)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._loop, name="expharness-flusher", daemon=True
                )
                self._thread.start()

    def unregister(self, run: Durable) -> None:
        """Stop flushing run (it has finished and written its final files)."""
        with self._lock:
            if run in self._runs:
                self._runs.remove(run)

    def _loop(self) -> None:
        while True:
            time.sleep(FLUSH_INTERVAL)
            now = time.time()
            heartbeat = now - self._last_beat >= HEARTBEAT_INTERVAL
            if heartbeat:
                self._last_beat = now
            with self._lock:
                runs = list(self._runs)
            for run in runs:
                try:
                    run.persist(now, heartbeat)
                except Exception:  # keep serving the other runs; say it once
                    if not self._reported:
                        self._reported = True
                        print("expharness: flushing a run failed:", file=sys.stderr)
                        traceback.print_exc(file=sys.stderr)


FLUSHER = Flusher()
