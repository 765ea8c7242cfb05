"""The component status protocol: every optional part of a run says what became of it.

    with exp.component("mixture_prior") as c:     # success, with data
        c.data["k_eff"] = 8.3
    exp.component("tau").disable("USE_TAU=false", hint="set USE_TAU=True")

An exception inside the block records `failed` with "<Type>: <message>", puts
the traceback in run.log and is swallowed, so the run goes on. Ctrl-C,
pytest.skip/fail and SystemExit are recorded and not swallowed.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from types import TracebackType
from typing import Any

from ..archive.values import encode

SUCCESS, FAILED, DISABLED, PENDING, RUNNING = "success", "failed", "disabled", "pending", "running"


class Component:
    """One component of a run and its status."""

    def __init__(self, name: str, log: Callable[[str, str], None]) -> None:
        self.name = name
        self.status = PENDING
        self.reason: str | None = None
        self.hint: str | None = None
        self.data: dict[str, Any] = {}
        self._log = log

    def __enter__(self) -> Component:
        self.status, self.reason, self.hint = RUNNING, None, None
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if exc is None:
            if self.status == RUNNING:  # disable() or fail() inside the block stand
                self.status = SUCCESS
            return False
        if isinstance(exc, Exception):
            self.status, self.reason = FAILED, f"{type(exc).__name__}: {exc}"
            text = "".join(traceback.format_exception(exc_type, exc, tb))
            self._log("ERROR", f"component {self.name!r} failed:\n{text.rstrip()}")
            return True
        # Ctrl-C, pytest.skip / pytest.fail, SystemExit: recorded, never swallowed
        message = str(exc) or "interrupted"
        if type(exc).__name__ == "Skipped":
            self.status, self.reason = DISABLED, f"skipped: {message}"
        else:
            self.status, self.reason = FAILED, f"{type(exc).__name__}: {message}"
        return False

    def disable(self, reason: str, hint: str | None = None) -> Component:
        """Record that this component was switched off, and why."""
        self.status, self.reason, self.hint = DISABLED, reason, hint
        self._log("INFO", f"component {self.name!r} disabled: {reason}")
        return self

    def fail(self, reason: str, hint: str | None = None) -> Component:
        """Record that this component failed without raising."""
        self.status, self.reason, self.hint = FAILED, reason, hint
        self._log("WARNING", f"component {self.name!r} failed: {reason}")
        return self

    def record(self) -> dict[str, Any]:
        """Return the status as stored in summary.json."""
        status, reason = self.status, self.reason
        if status == RUNNING:
            status, reason = FAILED, "the run ended inside the component's block"
        elif status == PENDING:
            reason = "never run: neither entered with 'with' nor disabled"
        data: dict[str, Any] = {}
        for key, value in self.data.items():
            try:
                data[str(key)] = encode(value, f"component {self.name!r} data[{key!r}]")
            except (TypeError, RecursionError) as error:
                status, reason = FAILED, f"TypeError: {error}"
                self._log("ERROR", f"component {self.name!r}: {error}")
        return {"status": status, "reason": reason, "data": data, "hint": self.hint}
