"""Turning pytest's reports into a run's final status."""

from __future__ import annotations

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
        return {"status": "skipped", "reason": reason.removeprefix("Skipped: ")}
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
NOT_CALLED = {"status": "interrupted", "reason": "the session ended before the test ran"}
