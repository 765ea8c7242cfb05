"""Living with the plugins people already use: pytest-timeout, -rerunfailures, -repeat.

pytest-timeout's thread method ends a test that runs too long by dumping the
stacks and calling os._exit(1) from its timer thread: no report, no teardown,
nothing of ours runs after. Its timer calls the module's `timeout_timer`,
looked up when each test's timer is set, so `watch_timeouts` wraps it: the
run of the test is finished as crashed ("timeout after N s") first, then the
original ends the process. The signal method raises in the test instead, and
the run ends failed with pytest-timeout's message, as any failure does.

pytest-rerunfailures and pytest-repeat need no hook: plan/spec.py reads the attempt
(`item.execution_count`) and the repeat index (`__pytest_repeat_step_number`)
from the item, and sweep/table.py keeps the last attempt as the point's run.
"""

from __future__ import annotations

import sys
from typing import Any

_WRAPPED = "_expharness_wrapped"


def watch_timeouts() -> None:
    """Wrap pytest-timeout's thread-method timer (once) to record the timeout first."""
    module = sys.modules.get("pytest_timeout")
    original = getattr(module, "timeout_timer", None)
    if module is None or original is None or getattr(original, _WRAPPED, False):
        return

    def timeout_timer(item: Any, settings: Any) -> None:
        try:
            _timed_out(getattr(item, "nodeid", ""), float(settings.timeout))
        except BaseException as error:  # the process must still end as pytest-timeout means
            print(f"expharness: could not record the timeout: {error!r}", file=sys.stderr)
        original(item, settings)

    setattr(timeout_timer, _WRAPPED, True)
    module.timeout_timer = timeout_timer  # type: ignore[attr-defined]


def _timed_out(node_id: str, seconds: float) -> None:
    """Finish the test's run in this process, if any, as crashed by a timeout."""
    from .run.exp import FLUSHER, Exp

    reason = f"timeout after {seconds:g} s"
    for run in FLUSHER.active():
        if isinstance(run, Exp) and run._spec.node_id == node_id:
            run._write_log("ERROR", f"{reason} (pytest-timeout): the process is ended")
            run.finish({"status": "crashed", "reason": reason, "crash": {"reason": reason}})
