"""The hooks that exist only when pytest-xdist is installed (registered by plugin.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .handoff import RecordCollector
    from .session import SessionState

WORKER_USAGE_ERROR = "expharness_usage_error"
USAGE_ERROR = pytest.StashKey[str]()


class XdistHooks:
    """Hooks that exist only when pytest-xdist is installed."""

    def __init__(
        self,
        config: pytest.Config,
        collector: RecordCollector,
        state: Callable[[pytest.Config], SessionState],
    ) -> None:
        self.config = config
        self.collector = collector
        self.state = state

    @pytest.hookimpl
    def pytest_configure_node(self, node: Any) -> None:
        """Hand the session stamp, overrides, provenance and our pid to each worker."""
        import os

        from .outcomes import CONTROLLER_PID
        from .session import WORKERINPUT_KEY

        node.workerinput[WORKERINPUT_KEY] = self.state(self.config).for_worker()
        node.workerinput[CONTROLLER_PID] = os.getpid()

    @pytest.hookimpl
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """Keep a usage error a worker found in its collection."""
        message = getattr(node, "workeroutput", {}).get(WORKER_USAGE_ERROR)
        if message and USAGE_ERROR not in self.config.stash:
            self.config.stash[USAGE_ERROR] = message

    @pytest.hookimpl
    def pytest_handlecrashitem(self, crashitem: str, report: pytest.TestReport, sched: Any) -> None:
        """Record the run of a test whose worker died (crashed, or as it was if its data was final).

        A test whose call was already reported died in its teardown: xdist's
        report then counts as that teardown's, so the test is not counted twice.
        """
        from . import crashes, handoff

        state = self.state(self.config)
        worker = getattr(getattr(getattr(report, "node", None), "gateway", None), "id", None)
        found = crashes.record_crash(state.settings.root, state.stamp, crashitem, worker)
        for record in found:
            handoff.send(report, record)
        if found and self.collector.called.pop(crashitem, False):
            said = crashes.as_teardown(report, found)
            if said:
                self.collector.say(said)
