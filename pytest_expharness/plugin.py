"""pytest hooks of the experiment harness; each calls into a module that knows the work."""

from __future__ import annotations

from collections.abc import Generator, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from . import options, outcomes, records, session, spec

STATE = pytest.StashKey["session.SessionState"]()
RECORDS = pytest.StashKey[list[dict[str, Any]]]()
RUN = pytest.StashKey[Any]()
OUTCOME = pytest.StashKey[dict[str, Any]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the --exp-* options and ini keys."""
    options.add_options(parser)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Register the marker, make the session state and read the overrides."""
    config.addinivalue_line("markers", spec.MARKER_HELP)
    state = session.create(config)
    if not state.is_worker:
        state.overrides = _read_overrides(state.settings)
    config.stash[STATE] = state
    config.stash[RECORDS] = []
    config.pluginmanager.register(_RecordCollector(config.stash[RECORDS]), "expharness-records")
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistHooks(config), "expharness-xdist")


def _read_overrides(settings: options.Settings) -> spec.Overrides:
    from . import params

    try:
        from_file = params.load_config_file(settings.config_file) if settings.config_file else {}
        from_cli = params.parse_set_items(settings.set_items)
    except params.OverrideError as error:
        raise pytest.UsageError(str(error)) from None
    return spec.Overrides(from_file, from_cli, settings.config_file)


class _XdistHooks:
    """Hooks that exist only when pytest-xdist is installed."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl
    def pytest_configure_node(self, node: Any) -> None:
        """Hand the session stamp, overrides and provenance to each worker."""
        node.workerinput[session.WORKERINPUT_KEY] = node.config.stash[STATE].for_worker()

    @pytest.hookimpl
    def pytest_handlecrashitem(self, crashitem: str, report: pytest.TestReport, sched: Any) -> None:
        """Record the run of a test whose worker died as crashed, metrics rebuilt."""
        from . import crashes

        state = self.config.stash[STATE]
        worker = getattr(getattr(getattr(report, "node", None), "gateway", None), "id", None)
        for record in crashes.record_crash(state.settings.root, state.stamp, crashitem, worker):
            records.attach(report, record)


@pytest.hookimpl(tryfirst=True)
def pytest_collection(session: pytest.Session) -> None:
    """Under xdist the controller collects nothing; collect here to check overrides first."""
    state = session.config.stash[STATE]
    if _is_xdist_controller(session.config) and state.overrides.merged():
        items = session.perform_collect()
        _check(session.config, items)
        session.items = []


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Refuse bad overrides and bad experiment markers before any run starts."""
    _check(config, items)


def _check(config: pytest.Config, items: Sequence[pytest.Item]) -> None:
    state = config.stash[STATE]
    try:
        spec.check_overrides(items, state.overrides, state.settings.testing)
    except spec.SpecError as error:
        raise pytest.UsageError(str(error)) from None


def _is_xdist_controller(config: pytest.Config) -> bool:
    return not hasattr(config, "workerinput") and config.pluginmanager.has_plugin("dsession")


@pytest.fixture
def exp(request: pytest.FixtureRequest) -> Iterator[Any]:
    """One experiment run with its own folder under the archive root."""
    from .run import Exp

    item = request.node
    state = request.config.stash[STATE]
    run = Exp(spec.build(item, state.overrides, state.settings.testing), state)
    item.stash[RUN] = run
    try:
        yield run
    finally:
        run.finish(item.stash.get(OUTCOME, None) or _no_outcome(state))


def _no_outcome(state: session.SessionState) -> dict[str, Any]:
    return outcomes.INTERRUPTED if state.interrupted else outcomes.NOT_CALLED


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Remember how the test went, for the run's summary."""
    report = yield
    run = item.stash.get(RUN, None)
    if run is None:
        return report
    if call.when == "call" or (report.failed and OUTCOME not in item.stash):
        item.stash[OUTCOME] = outcomes.from_call(report, call)
    if call.when == "teardown" and run.record is not None:
        records.attach(report, run.record)
    return report


class _RecordCollector:
    """Collects run records from reports, wherever the session is summarised."""

    def __init__(self, found: list[dict[str, Any]]) -> None:
        self.found = found

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Keep the run records a report carries."""
        self.found.extend(records.extract(report))


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Say where this session's runs were archived."""
    found = config.stash.get(RECORDS, [])
    if not found or hasattr(config, "workerinput"):
        return
    terminalreporter.section("experiments")
    for line in records.summary_lines(found, Path(config.invocation_params.dir)):
        terminalreporter.write_line(line)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """Copy the test body's warnings into run.log; finish as interrupted on Ctrl-C."""
    run = item.stash.get(RUN, None)
    if run is None:
        return (yield)
    try:
        with run.relaying_warnings():
            return (yield)
    except KeyboardInterrupt:
        item.config.stash[STATE].interrupted = True
        run.finish(outcomes.INTERRUPTED)
        raise
