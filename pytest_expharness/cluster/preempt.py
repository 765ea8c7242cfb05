"""SLURM time limits and preemption: USR1 ends the run in flight as `preempted`, then requeues.

The job is submitted with `--signal=B:USR1@GRACE` and `--requeue`. The batch
shell forwards USR1 to the task's pytest; there, the handler runs each open
run's preempt callbacks (`exp.on_preempt`, `@hook("preempt")`: the place to
save a checkpoint), marks the task preempted and raises Preempted in the test
body, so the run ends `preempted` with everything it tracked. The batch shell
then requeues the task; when it starts again (SLURM_RESTART_COUNT), --exp-resume
applies within the session: completed runs are skipped and the preempted run
goes on from its checkpoint.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from pathlib import Path
from typing import Any

from ..sweep.outcomes import Preempted

MARK = "{task}.preempted"  # in the job's tasks/ folder: the batch shell requeues the task


def marker(folder: Path, task: str | None = None) -> Path:
    """The file that tells the batch shell this task was preempted."""
    task = task if task is not None else os.environ.get("SLURM_ARRAY_TASK_ID", "0")
    return Path(folder) / "tasks" / MARK.format(task=task)


def install(folder: Path) -> None:
    """Handle USR1 in this task's process (the main thread only, as signals are)."""
    if threading.current_thread() is not threading.main_thread():
        return
    signal.signal(signal.SIGUSR1, lambda signum, frame: _preempted(folder))


def _preempted(folder: Path) -> Any:
    from ..run.exp import preempt_open_runs

    with contextlib.suppress(OSError):
        marker(folder).write_text("USR1\n", "utf-8")
    preempt_open_runs()
    raise Preempted("SLURM sent USR1: the job's time limit or a preemption is near")
