"""The live view's cost in the controller with 64 runs in flight (issue 16).

64 synthetic running runs (summary.json with this process's identity, so each is
judged alive by its pid, as the controller judges its workers' runs) have their
live.json rewritten once a second by a writer thread, as their flushers would.
The view refreshes at the terminal rate (live/terminal.REFRESH, 1 s) for
SECONDS, drawing into a terminal stand-in that discards what it gets. Measured:
the CPU time of the view's thread (time.thread_time), as a share of one core.
Target: at most 1% of a core. The writer's CPU is the runs' cost, not the view's.
"""

from __future__ import annotations

import io
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

from pytest_expharness.archive import layout
from pytest_expharness.catalog.processes import this_process
from pytest_expharness.live.screen import Screen
from pytest_expharness.live.terminal import REFRESH, LiveView

from _harness import report

RUNS = 64
SECONDS = 20.0
STAMP = "2026-01-01_00-00-00_beef"


class _Writer:
    """The part of pytest's terminal writer the view uses, writing nowhere."""

    fullwidth = 120

    def __init__(self) -> None:
        self._file = io.StringIO()


def _make_runs(root: Path) -> list[Path]:
    sweep = root / "bench" / STAMP
    folders = []
    now = time.time()
    for i in range(RUNS):
        folder = sweep / f"lr={i}"
        folder.mkdir(parents=True)
        summary = {"status": "running", "heartbeat": now, "started_unix": now, **this_process()}
        layout.write_json(folder / layout.SUMMARY, summary)
        (folder / layout.CONFIG).write_text("experiment: {}\n")
        folders.append(folder)
    return folders


def _write_live(folders: list[Path], stop: threading.Event) -> None:
    step = 0
    while not stop.wait(1.0):
        step += 1
        for folder in folders:
            live = {
                "step": step,
                "total": 1000,
                "values": {"loss": 1 / step, "acc": step / 1000, "kl": 0.5},
                "started": time.time() - step,
                "updated": time.time(),
                **this_process(),
            }
            layout.atomic_write_text(folder / layout.LIVE, json.dumps(live))


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folders = _make_runs(root)
        stop = threading.Event()
        writer = threading.Thread(target=_write_live, args=(folders, stop), daemon=True)
        writer.start()
        time.sleep(1.5)
        view = LiveView(Screen(_Writer(), tty=True), root, STAMP, REFRESH, tty=True)
        view.refresh()  # warm: imports, first reads
        first = view.cpu
        start = time.monotonic()
        view.start()
        time.sleep(SECONDS)
        view.stop()
        wall = time.monotonic() - start
        stop.set()
        cpu = view.cpu - first
        refreshes = round(wall / REFRESH)
    share = 100 * cpu / wall
    per_refresh = 1000 * cpu / max(refreshes, 1)
    print(f"{RUNS} runs in flight, {refreshes} refreshes in {wall:.1f} s: {cpu * 1000:.0f} ms CPU")
    return report(
        [
            ("live view CPU, % of a core", f"{share:.2f}", "1.0", share <= 1.0),
            ("CPU per refresh of 64 runs, ms", f"{per_refresh:.2f}", "-", None),
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
