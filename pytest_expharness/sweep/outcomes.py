"""Turning pytest's reports into a run's final status.

An xdist worker whose controller dies sees its channel close, waits 5 s for its
test to end, then sends itself a SIGINT (execnet's way out): the run then ends
with a KeyboardInterrupt nobody typed. `interrupted` tells the two apart by
the worker's parent: it was the controller when the worker started, and is
not any more once the controller is gone.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

TRACEBACK_EXCERPT = 4000


def from_call(report: pytest.TestReport, call: pytest.CallInfo[None]) -> dict[str, Any]:
    """Return the run outcome (status, error or reason) for a test's report."""
    if report.passed:
        if hasattr(report, "wasxfail"):
            return {"status": "completed", "reason": f"xpass: {report.wasxfail}"}
        return {"status": "completed"}
    if report.skipped:
        if hasattr(report, "wasxfail"):
            return {"status": "failed", "error": _error(report, call), "reason": "expected failure"}
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        from ..search.trial import Pruned

        if call.excinfo is not None and call.excinfo.errisinstance(Pruned):
            return {"status": "pruned", "reason": str(call.excinfo.value)}
        return {"status": "skipped", "reason": reason.removeprefix("Skipped: ")}
    from ..gates.check import GateFailed

    if (
        report.when == "call"
        and call.excinfo is not None
        and call.excinfo.errisinstance(GateFailed)
    ):
        reason = "; ".join(str(call.excinfo.value if call.excinfo else "").splitlines())
        return {"status": "completed", "reason": reason}
    outcome = {"status": "failed", "error": _error(report, call)}
    if report.when != "call":
        outcome["reason"] = f"error in {report.when}"
    return outcome


def _error(report: pytest.TestReport, call: pytest.CallInfo[None]) -> dict[str, Any]:
    excinfo = call.excinfo
    text = report.longreprtext or ""
    if len(text) > TRACEBACK_EXCERPT:
        text = "...\n" + text[-TRACEBACK_EXCERPT:]
    if excinfo is None:
        return {"type": "Failed", "message": "", "traceback": text}
    message = str(excinfo.value).strip()
    return {"type": excinfo.type.__name__, "message": message, "traceback": text}


INTERRUPTED = {"status": "interrupted", "reason": "KeyboardInterrupt (Ctrl-C)"}


class Preempted(KeyboardInterrupt):
    """SLURM asked the task to stop (cluster/preempt.py): the run ends `preempted`."""


NOT_CALLED = {"status": "interrupted", "reason": "the session ended before the test ran"}


CONTROLLER_PID = "expharness_controller_pid"  # in workerinput, set by the controller
_PARENT_AT_START = pytest.StashKey[int]()


def remember_parent(config: pytest.Config) -> None:
    """Note this process's parent as it starts (an xdist worker's is its controller)."""
    config.stash[_PARENT_AT_START] = os.getppid()


def interrupted(config: pytest.Config, stop: BaseException | None = None) -> dict[str, Any]:
    """Return the outcome of a run a KeyboardInterrupt stopped: Ctrl-C, a controller gone, or
    SLURM's USR1 (preempted)."""
    if isinstance(stop, Preempted):
        return {"status": "preempted", "reason": str(stop)}
    return ended_early(config, interrupted=True)


def ended_early(config: pytest.Config, interrupted: bool) -> dict[str, Any]:
    """Return the outcome of a run whose test body never reported: who stopped it, or nobody.

    A worker whose controller is gone fails to send a report as well, which
    also ends its session before the test body runs.
    """
    gone = controller_gone(config)
    if gone is not None:
        return {"status": "interrupted", "reason": f"the controller (pid {gone}) went away"}
    return INTERRUPTED if interrupted else NOT_CALLED


def controller_gone(config: pytest.Config) -> int | None:
    """Return the pid of this worker's controller if it has gone away, else None."""
    workerinput = getattr(config, "workerinput", None)
    pid = workerinput.get(CONTROLLER_PID) if isinstance(workerinput, dict) else None
    if not isinstance(pid, int) or config.stash.get(_PARENT_AT_START, None) != pid:
        return None  # not a worker, or one its controller did not start itself (ssh)
    return pid if os.getppid() != pid else None
