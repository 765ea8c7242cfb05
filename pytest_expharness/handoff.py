"""Run records on their way from the run to the controller, on the reports' user_properties.

`send` puts a record on a report as data execnet can carry (see records.py: a
record that does not serialise goes as a stub naming its folder). The
`RecordCollector`, registered in every process, keeps the records the reports
bring, reading a stub's run from its folder and saying so, and remembers which
tests have reported their call but not their teardown (plugin.py uses it when a
worker dies, so a test is not counted twice) and whether a Ctrl-C came.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest

RECORD_PROPERTY = "expharness_run"


def send(report: pytest.TestReport, record: dict[str, Any]) -> None:
    """Put a run's record on its report, as data that can cross to the controller."""
    from .records import for_report

    sent = for_report(record)
    if sent is not None:
        report.user_properties.append((RECORD_PROPERTY, sent))


class RecordCollector:
    """Collects run records from reports, wherever the session is summarised."""

    def __init__(self, config: pytest.Config, found: list[dict[str, Any]]) -> None:
        self.config = config
        self.found = found
        self.called: dict[str, bool] = {}  # tests whose call is reported and teardown is not
        self.interrupted = False

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Keep the run records a report carries (plain data, also from xdist workers)."""
        if report.when == "call":
            self.called[report.nodeid] = True
        elif report.when == "teardown":
            self.called.pop(report.nodeid, None)
        for key, value in report.user_properties:
            if key == RECORD_PROPERTY and isinstance(value, dict):
                from .records import expand

                record, said = expand(value)
                if said:
                    self.say(said)
                if record is not None:
                    self.found.append(record)

    @pytest.hookimpl(tryfirst=True)
    def pytest_keyboard_interrupt(self) -> None:
        """Note a Ctrl-C first: a second one may stop pytest before it sets the exit status."""
        self.interrupted = True

    def say(self, line: str) -> None:
        """Write a line to the terminal (stderr when there is none)."""
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(line)
        else:
            print(line, file=sys.stderr)
