"""Waiting for a SLURM job array and collecting its runs into the session's tables.

A task's end is known from its exit file (written by the job script when
pytest returns). A task without one was killed (time limit, cancel, node
failure): its state comes from `sacct` where accounting exists, else from
`scontrol show job` (kept for MinJobAge after the end), else from the
task's own stderr, where slurmstepd says why it stopped.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..archive import layout
from .slurm import NODEIDS, POINTS, SlurmError, read_job, read_session

POLL_S = 2.0
_STEPD = re.compile(r"\*\*\* (?:JOB|STEP) \S+ (?:ON \S+ )?(CANCELLED|TIMEOUT|FAILED)[^*]*\*\*\*")


def _run(command: list[str]) -> str | None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


TERMINAL = {
    "BOOT_FAIL", "CANCELLED", "COMPLETED", "DEADLINE", "FAILED", "NODE_FAIL",
    "OUT_OF_MEMORY", "PREEMPTED", "TIMEOUT",
}  # fmt: skip


def queued(job_id: str) -> dict[int, str] | None:
    """Return the state of every task of the job still in the queue; None if squeue failed."""
    out = _run(["squeue", "-h", "-r", "-j", job_id, "-o", "%K %T"])
    if out is None:
        return None
    states: dict[int, str] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].isdigit():
            states[int(parts[0])] = parts[1]
    return states


def ended_state(job_id: str, task: int, folder: Path) -> str | None:
    """How a task that left no exit file ended (sacct, else scontrol, else its stderr).

    None while sacct or scontrol still see it alive (the wait goes on).
    """
    for command, pattern in (
        (["sacct", "-n", "-X", "-P", "-j", f"{job_id}_{task}", "-o", "State"], r"^(\S+)"),
        (["scontrol", "show", "job", f"{job_id}_{task}"], r"JobState=(\S+)"),
    ):
        found = re.search(pattern, (_run(command) or "").strip())
        if found:
            state = found.group(1)
            return state if state.split("+")[0] in TERMINAL else None
    err = folder / "logs" / f"task-{task}.err"
    text = err.read_text("utf-8", errors="replace") if err.exists() else ""
    stepd = _STEPD.search(text)
    if "DUE TO TIME LIMIT" in text:
        return "TIMEOUT"
    if "NODE FAILURE" in text or "NODE_FAIL" in text:
        return "NODE_FAIL"
    return stepd.group(1) if stepd else "UNKNOWN (no exit file, no accounting)"


def exit_code(folder: Path, task: int) -> int | None:
    """The exit code a task's pytest returned (None when it never returned)."""
    path = folder / "tasks" / f"{task}.exit"
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def task_states(folder: Path) -> dict[int, str] | None:
    """State of every task: its queue state, COMPLETED, FAILED (exit N) or ENDING (gone
    from the queue, no exit file yet); None when the queue could not be read."""
    job = read_job(folder)
    waiting = queued(job["job_id"])
    if waiting is None:
        return None
    states = {}
    for task in range(job["tasks"]):
        code = exit_code(folder, task)
        if task in waiting and code is None:
            states[task] = waiting[task]
        elif code == 0:
            states[task] = "COMPLETED"
        elif code is not None:
            states[task] = f"FAILED (exit {code})"
        else:
            states[task] = "ENDING"
    return states


def _line(job: dict[str, Any], states: dict[int, str]) -> str:
    done = sum(1 for s in states.values() if s == "COMPLETED")
    running = sum(1 for s in states.values() if s == "RUNNING")
    failed = sum(1 for s in states.values() if s.startswith("FAILED"))
    return (
        f"slurm job {job['job_id']}: {done} done, {running} running, {failed} failed "
        f"of {job['tasks']} tasks"
    )


def wait(
    folder: Path,
    say: Callable[[str], None],
    poll: float = POLL_S,
    progress: Callable[[], None] | None = None,
) -> dict[int, str]:
    """Wait until every task has ended, saying the progress when it changes; return states.

    A task still in the queue, in any state, is alive; a failed squeue call is
    retried; a task gone from the queue without an exit file gets 10 s for the
    file to appear, then its state is looked up (and waited for while SLURM
    still sees it alive).
    """
    job = read_job(folder)
    last, ending_since = "", None
    while True:
        states = task_states(folder)
        if states is None:  # squeue failed: ask again
            time.sleep(poll)
            continue
        if progress is not None:
            progress()  # the live view's lines, every --exp-progress seconds
        line = _line(job, states)
        if line != last:
            say(line)
            last = line
        ending = [t for t, s in states.items() if s == "ENDING"]
        alive = [t for t, s in states.items() if s not in ("COMPLETED", "ENDING")]
        alive = [t for t in alive if not states[t].startswith("FAILED")]
        if not ending:
            ending_since = None
            if not alive:
                return states
        elif not alive:
            ending_since = ending_since or time.monotonic()
            if time.monotonic() - ending_since > 10:  # no exit file: the task was killed
                found = {t: ended_state(job["job_id"], t, folder) for t in ending}
                if all(state is not None for state in found.values()):
                    states.update({t: str(state) for t, state in found.items()})
                    died = ", ".join(f"task {t} {states[t]}" for t in ending)
                    say(f"slurm job {job['job_id']}: ended; no result from {died}")
                    return states
        time.sleep(poll)


def _mark(path: Path, reason: str, state: str) -> None:
    """Record a run its task left running (or crashed) as crashed, with the SLURM state."""
    from ..catalog.reading import mark_crashed, read_summary

    summary = read_summary(path)
    if summary.get("status") not in ("running", "crashed", "stale"):
        return
    crash = summary.get("crash") or {}
    reason = f"{crash.get('reason') or reason}; SLURM task ended {state}"
    mark_crashed(path, reason, ended=True)  # the task is over, on whichever node it ran


def collect(folder: Path, root: Path, stamp: str, states: dict[int, str]) -> list[dict[str, Any]]:
    """Return the records of every point of the job: run folders, and rows for points
    whose task died before they started (crashed, with the task's SLURM state)."""
    from ..catalog.records import record_from_folder

    job = read_job(folder)
    nodeids = (folder / NODEIDS).read_text("utf-8").splitlines()
    points: dict[str, Any] = json.loads((folder / POINTS).read_text("utf-8"))
    chunk = int(job["chunk"])
    ran: dict[str, list[tuple[Path, dict[str, Any]]]] = {}
    for base in (root, root / layout.TESTING_DIR):
        for summary in base.glob(f"*/{stamp}/*/{layout.SUMMARY}"):
            if layout.is_run_folder(summary.parent):
                record = record_from_folder(summary.parent, repair=False)
                ran.setdefault(str(record["node_id"]), []).append((summary.parent, record))
    records = []
    for index, nodeid in enumerate(nodeids):
        state = states.get(index // chunk, "UNKNOWN")
        for run, record in ran.get(nodeid, []):
            if record.get("label") == "superseded":  # preempted, and resumed by a later run
                continue
            if state != "COMPLETED" or record["status"] in ("running", "crashed", "stale"):
                # its task is over: a run not ended is recorded crashed (metrics rebuilt)
                _mark(run, "the run did not finish", state)
                record = record_from_folder(run)
            records.append(record)
        if nodeid not in ran and nodeid in points:
            record = dict(points[nodeid])
            record["status"] = "crashed"
            record["reason"] = f"SLURM task {index // chunk} ended {state} before this test ran"
            records.append(record)
    order = {nodeid: index for index, nodeid in enumerate(nodeids)}
    for record in records:  # a task sees only its own tests: keep the grid's order
        record["order"] = order.get(str(record.get("node_id")), len(order))
    return records


def finish_job(
    folder: Path, root: Path, stamp: str, say: Callable[[str], None], every: float = 30.0
) -> tuple[list[Any], list[dict[str, Any]], dict[int, str]]:
    """Wait for the job, collect its runs, write the tables; return tables, records, states.

    While it waits, the live view's lines are said every `every` seconds (0: never).
    """
    from ..live.terminal import Ticker
    from ..sweep.end import finalize

    if not folder.is_dir():
        raise SlurmError(f"no SLURM job files at {folder}")
    ticker = Ticker(root, stamp, every, say) if every else None
    states = wait(folder, say, progress=ticker.tick if ticker else None)
    records = collect(folder, root, stamp, states)
    columns, update = _asked(folder)
    return finalize(records, root, stamp, False, columns, update), records, states


def _asked(folder: Path) -> tuple[list[str], bool]:
    """What the submitting session asked of the tables: --exp-columns, --exp-baseline-update."""
    try:
        session = read_session(folder)
    except SlurmError:
        return [], False
    found = session.get("columns")
    columns = [str(name) for name in found] if isinstance(found, list) else []
    return columns, bool(session.get("baseline_update"))
