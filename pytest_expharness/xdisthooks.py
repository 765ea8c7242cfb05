"""The hooks that exist only when pytest-xdist is installed (registered by plugin.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .session.state import SessionState
    from .sweep.handoff import RecordCollector

WORKER_USAGE_ERROR = "expharness_usage_error"
USAGE_ERROR = pytest.StashKey[str]()


class XdistHooks:
    """Hooks that exist only when pytest-xdist is installed."""

    def __init__(
        self,
        config: pytest.Config,
        collector: RecordCollector,
        state: Callable[[pytest.Config], SessionState],
        made: Callable[[pytest.Config], SessionState | None],
        stamp: str,
    ) -> None:
        self.config = config
        self.collector = collector
        self.state = state  # makes the session state if there is none yet
        self.made = made  # the session state if something made it already
        self.stamp = stamp

    @pytest.hookimpl
    def pytest_configure_node(self, node: Any) -> None:
        """Hand the session stamp, command line, overrides and our identity to each worker.

        Cheap data only: a session without experiments must not pay for git
        (workers gather provenance themselves, on their first run).
        """
        import os

        from .session.citizen import WORKERINPUT_KEY, worker_input
        from .sweep.outcomes import CONTROLLER_PID

        state = self.made(self.config)  # made at configure when overrides were given
        if state is None and self.config.getoption("exp_slurm_task", None):
            state = self.state(self.config)  # a SLURM task: its job's stamp and provenance
        given = state.for_worker() if state is not None else {}
        node.workerinput[WORKERINPUT_KEY] = worker_input(self.config, self.stamp, given)
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
        from .sweep import crashes, handoff

        state = self.state(self.config)
        worker = getattr(getattr(getattr(report, "node", None), "gateway", None), "id", None)
        found = crashes.record_crash(state.settings.root, state.stamp, crashitem, worker)
        for record in found:
            handoff.send(report, record)
        if found and self.collector.called.pop(crashitem, False):
            said = crashes.as_teardown(report, found)
            if said:
                self.collector.say(said)
