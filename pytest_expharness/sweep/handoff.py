"""Run records on their way from the run to the controller, on the reports' user_properties.

`send` puts a record on a report as data execnet can carry (see catalog/records.py: a
record that does not serialise goes as a stub naming its folder). The
`RecordCollector`, registered in every process, keeps the records the reports
bring, reading a stub's run from its folder and saying so, and remembers which
tests have reported their call but not their teardown (xdisthooks.py uses it when
a worker dies, so a test is not counted twice) and whether a Ctrl-C came.

The record travels as JSON text, not as a dict: pytest's --junitxml writes each
user property as `str(value)`, and CI tools read JSON, not a Python repr. Each
final metric and result also goes as a property of its own (`metric:loss/test`,
`result:accuracy`), so a CI dashboard can chart it without parsing the record.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import pytest

RECORD_PROPERTY = "expharness_run"
STARTED_PROPERTY = "expharness_started"  # on a run's setup report only: the live view starts


def send(report: pytest.TestReport, record: dict[str, Any]) -> None:
    """Put a run's record on its report, as data that can cross to the controller."""
    from ..catalog.records import STUB, for_report

    sent = for_report(record)
    if sent is None:
        return
    report.user_properties.append((RECORD_PROPERTY, json.dumps(sent, ensure_ascii=False)))
    if STUB in sent:
        return  # the controller reads the run from its folder; no values to show here
    for name, value in (sent.get("metrics") or {}).items():
        report.user_properties.append((f"metric:{name}", _property_text(value)))
    for key, value in (sent.get("results") or {}).items():
        report.user_properties.append(
            (f"result:{key.removeprefix('results/')}", _property_text(value))
        )


def _started(properties: list[Any]) -> bool:
    return any(prop and prop[0] == STARTED_PROPERTY for prop in properties)


def _property_text(value: Any) -> str:
    """Return a value as junitxml shows it: text as it is, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


class RecordCollector:
    """Collects run records from reports, wherever the session is summarised."""

    def __init__(
        self,
        config: pytest.Config,
        found: list[dict[str, Any]],
        on_start: Callable[[pytest.Config], None] | None = None,
    ) -> None:
        self.config = config
        self.on_start = on_start  # called once, when the first run's setup is reported
        self.found = found
        self.called: dict[str, bool] = {}  # tests whose call is reported and teardown is not
        self.interrupted = False
        self.sharer: Any = None  # records.Sharer, made with the first record

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Keep the run records a report carries (plain data, also from xdist workers)."""
        if report.when == "call":
            self.called[report.nodeid] = True
        elif report.when == "teardown":
            self.called.pop(report.nodeid, None)
        elif self.on_start is not None and _started(report.user_properties):
            start, self.on_start = self.on_start, None
            start(self.config)
        for key, value in report.user_properties:
            if key == RECORD_PROPERTY and isinstance(value, str):
                from ..catalog.records import Sharer, expand

                if self.sharer is None:
                    self.sharer = Sharer()
                record, said = expand(self.sharer.share(json.loads(value)))
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


def record_of_unrun(item: Any, state: Any, report: Any, call: Any) -> dict[str, Any] | None:
    """The table row of a point whose setup failed or skipped before its run began.

    None when the item is no experiment spec can build (its own error is reported).
    """
    from ..catalog.records import record_without_run
    from ..plan import spec
    from . import outcomes

    settings = state.settings
    try:
        built = spec.build(item, state.overrides, settings.testing, settings.repeats)
    except spec.SpecError:
        return None
    outcome = outcomes.from_call(report, call)
    return record_without_run(
        built, settings.root, state.stamp, settings.debug, item.nodeid, outcome
    )
