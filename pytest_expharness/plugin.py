"""pytest hooks of the experiment harness; each calls into a module that knows the work.

Only the option definitions and the few hooks that decide whether the plugin has anything to
do (session/citizen.py, session/gitpolicy.py, xdisthooks.py) load with the plugin; the rest when
a session has something for it (overrides, a test asking for `exp`, a record): else ~nothing.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from . import options
from .session import citizen, gitpolicy
from .xdisthooks import USAGE_ERROR, WORKER_USAGE_ERROR

if TYPE_CHECKING:
    from .session.state import SessionState
    from .sweep.handoff import RecordCollector

STAMP = pytest.StashKey[str]()
STATE = pytest.StashKey["SessionState"]()
RECORDS = pytest.StashKey[list[dict[str, Any]]]()
RUN = pytest.StashKey[Any]()
OUTCOME = pytest.StashKey[dict[str, Any]]()
REUSED = pytest.StashKey[dict[str, Any]]()
TABLES = pytest.StashKey[list[Any]]()
COLLECTOR: pytest.StashKey[RecordCollector] = pytest.StashKey()


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the --exp-* options and ini keys."""
    options.add_options(parser)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Register the marker, fix the session stamp, and check overrides given on the command line."""
    from .archive.layout import session_stamp

    config.addinivalue_line("markers", options.MARKER_HELP)
    config.stash[STAMP] = session_stamp()
    from .sweep.handoff import RecordCollector

    records: list[dict[str, Any]] = []
    config.stash[RECORDS] = records
    collector = config.stash[COLLECTOR] = RecordCollector(config, records, _start_live)
    config.pluginmanager.register(collector, "expharness-records")
    gitpolicy.listen(config)  # prints a dirty-tree warning when it comes
    if config.getoption("exp_gpus") or config.getoption("exp_gpus_per_run") != 1:
        from .session.gpus import configure

        configure(config)  # a worker's devices, set before its test modules import torch
    if config.pluginmanager.hasplugin("xdist"):
        from .xdisthooks import XdistHooks

        hooks = XdistHooks(config, collector, _state, _made, config.stash[STAMP])
        config.pluginmanager.register(hooks, "expharness-xdist")
        if hasattr(config, "workerinput"):
            from .sweep.outcomes import remember_parent

            remember_parent(config)  # to tell a controller that went away from a Ctrl-C
    if config.getoption("exp_slurm") or config.getoption("exp_slurm_task"):
        from .cluster.slurm import SlurmError, check_options

        try:
            check_options(config)  # a task: handle SLURM's USR1 instead
        except SlurmError as error:
            raise pytest.UsageError(str(error)) from None
    if any(config.getoption(name) for name in options.CHECKED_FIRST):
        _state(config)  # a bad --exp-set or --exp-sweep is a usage error now, before collection
    if config.getoption("exp_mlflow"):  # mirror the session's runs when it has ended
        from .mirror.atend import watch

        watch(config, lambda: (config.stash.get(TABLES, None), _made(config)))


def _state(config: pytest.Config) -> SessionState:
    """Return the session state, making it on first use."""
    state = config.stash.get(STATE, None)
    if state is None:
        from .session import state as session_state

        try:
            state = session_state.create(config, config.stash[STAMP], _read_task)
        except session_state.OverrideError as error:
            raise pytest.UsageError(str(error)) from None
        config.stash[STATE] = state
    return state


def _start_live(config: pytest.Config) -> None:
    """Show the runs in flight (--exp-progress) once the first one has started."""
    from .live.terminal import start

    start(config, _state(config).settings.root, config.stash[STAMP])


def _read_task(folder: Path) -> dict[str, Any]:
    """What a SLURM task reuses of its submitting session (loads the cluster code only then)."""
    from .cluster.slurm import read_session

    return read_session(folder)


def _made(config: pytest.Config) -> SessionState | None:
    """Return the session state if something made it already (no experiment, no state)."""
    return config.stash.get(STATE, None)


def _ran(config: pytest.Config) -> SessionState | None:
    """Return the session state, made now if this session ran an experiment (else None)."""
    state = config.stash.get(STATE, None)
    records, stamp = config.stash[RECORDS], config.stash[STAMP]
    if state is None and citizen.ran_experiments(config, records, stamp):
        state = _state(config)  # an xdist controller learns of experiments from their records
    return state


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Never collect an archive (a folder with its marker or index) nor a run's copy of its code."""
    if collection_path.suffix == ".py":
        return None  # a module is neither an archive nor a run's code/ (most paths asked about)
    from .archive.layout import is_archive_root, is_run_folder

    if collection_path.name == "code" and is_run_folder(collection_path.parent):
        return True
    return True if is_archive_root(collection_path) else None


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Refuse bad overrides and bad experiment markers before any run starts."""
    try:
        citizen.warn_markers_without_exp(config, items)
    except citizen.ExperimentWarning as error:  # -W error: an error before any run starts
        _refuse(config, items, str(error))
        return
    has_overrides = config.stash.get(STATE, None) is not None
    if has_overrides or any("exp" in getattr(item, "fixturenames", ()) for item in items):
        from .plan.modvariants import module_files
        from .plan.sources import capture
        from .plan.spec import remember_order
        from .plan.variants import VariedImport, deselect_imported_classes

        try:
            deselect_imported_classes(config, items)
        except VariedImport as error:
            _refuse(config, items, str(error))
            return
        remember_order(items)
        capture(module_files(items))
        _check(config, items)


def _check(config: pytest.Config, items: Sequence[pytest.Item]) -> None:
    from .interop import watch_timeouts
    from .plan import spec
    from .plan.selection import check_selected, planned
    from .session import debugfolder

    try:
        state = _state(config)
        check_selected(items, state.overrides, state.settings)
        if not state.slurm_task:
            state.planned = planned(items)
        if any(spec.uses_exp(item) for item in items):
            watch_timeouts()  # pytest-timeout's timer, wrapped before the first test sets it
        gitpolicy.check(config, items)  # warn about uncommitted changes, or refuse them
        if state.settings.debug and not config.option.collectonly:
            debugfolder.check_items(items, state)
    except (spec.SpecError, pytest.UsageError, debugfolder.DebugFolderBusy) as error:
        _refuse(config, items, str(error))


def _refuse(config: pytest.Config, items: Sequence[pytest.Item], message: str) -> None:
    workeroutput = getattr(config, "workeroutput", None)
    if workeroutput is None or not isinstance(items, list):
        raise pytest.UsageError(message) from None
    # An xdist worker cannot stop the session cleanly: it runs nothing and tells the
    # controller, which reports the usage error as pytest would without xdist.
    workeroutput[WORKER_USAGE_ERROR] = message
    items.clear()


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Write every sweep's comparison table (controller or lone process), whatever happened.

    trylast: after pytest tore down the fixtures of a test Ctrl-C stopped (its run is finished,
    interrupted, before the table is read). Also reports the usage errors xdist workers found."""
    config = session.config
    if config.stash.get(STATE, None) is not None:
        from .sweep.end import finish_open_runs

        finish_open_runs(config)
    message = config.stash.get(USAGE_ERROR, None)
    if message is not None:
        import sys

        print(f"ERROR: {message}", file=sys.stderr)
        session.exitstatus = pytest.ExitCode.USAGE_ERROR
        return
    if citizen.writes_nothing(config) or hasattr(config, "workerinput"):
        return  # --collect-only, --setup-only, --setup-plan: no table, index nor root
    records = config.stash.get(RECORDS, [])
    state = _ran(config)
    if state is None or state.slurm_task:
        return  # workers and SLURM tasks leave tables and index to their controller
    if TABLES in config.stash:
        return  # a SLURM session wrote them when its job ended
    collector = config.stash[COLLECTOR]
    stopped_early = bool(session.shouldstop or session.shouldfail)  # -x, --maxfail
    interrupted = exitstatus == pytest.ExitCode.INTERRUPTED or state.interrupted or stopped_early
    interrupted = interrupted or collector.interrupted  # a 2nd Ctrl-C beat the exit status
    from .sweep.tablefiles import session_folders

    root, stamp, settings = state.settings.root, state.stamp, state.settings
    if not records and not interrupted and not session_folders(root, stamp):
        return  # no experiment ran (records lost on the way are read from their folders)
    from .sweep.end import end_session

    say = collector.say
    config.stash[TABLES], held = end_session(records, root, stamp, interrupted, say, settings)
    if state.settings.debug:
        from .session.debugfolder import release

        release(root, stamp)
    if held:
        session.exitstatus = pytest.ExitCode.INTERRUPTED


@pytest.hookimpl(wrapper=True)
def pytest_cmdline_main(config: pytest.Config) -> Generator[None, object, object]:
    """Write the tables and the index when a second Ctrl-C stops pytest's shutdown."""
    try:
        return (yield)
    except KeyboardInterrupt:
        if hasattr(config, "workerinput") or citizen.writes_nothing(config):
            raise
        state = _ran(config)
        if state is None or state.slurm_task:
            raise
        from .sweep.end import after_second_interrupt

        if not after_second_interrupt(config, state, config.stash[COLLECTOR], TABLES):
            raise
        return pytest.ExitCode.INTERRUPTED


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> bool | None:
    """With --exp-slurm, hand the selected tests to SLURM instead of running them here."""
    config = session.config
    if not config.getoption("exp_slurm") or config.getoption("exp_slurm_task"):
        return None
    if hasattr(config, "workerinput") or session.config.option.collectonly:
        return None
    from .cluster import launcher, slurm

    try:
        config.stash[TABLES] = launcher.run(session, _state(config), config.stash[COLLECTOR].say)
    except slurm.SlurmError as error:
        raise pytest.UsageError(str(error)) from None
    return True


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Add the points of --exp-sweep axes, repeats and a search's trial slots to a grid."""
    if "exp" not in metafunc.fixturenames:
        return
    from .plan.points import added_points
    from .plan.spec import POINT

    state = metafunc.config.stash.get(STATE, None)
    found = added_points(metafunc, state.overrides if state is not None else None)
    if found is not None:
        metafunc.parametrize(POINT, found[0], ids=found[1])


@pytest.fixture
def _expharness_point(request: pytest.FixtureRequest) -> Any:
    """The --exp-sweep values and repeat index of this run (parametrized by the plugin)."""
    return getattr(request, "param", None)


@pytest.fixture
def exp(request: pytest.FixtureRequest, _expharness_point: Any) -> Iterator[Any]:
    """One experiment run with its own folder under the archive root."""
    from .plan import spec
    from .run.exp import Exp
    from .session.cores import limited_blas
    from .sweep import outcomes

    item = request.node
    if citizen.writes_nothing(request.config):
        pytest.skip("--setup-only makes no experiment run (a run writes its folder)")
    state = _state(request.config)
    built = spec.build(item, state.overrides, state.settings.testing, state.settings.repeats)
    if state.settings.resume:
        from .plan.resume import reused_or_resumed

        record = reused_or_resumed(built, state)
        if record is not None:
            item.stash[REUSED] = record
            pytest.skip(f"reused: completed run {record['path']}")
    trial = None
    if built.search:
        from .search.trial import start

        trial = start(built, state)
    run = Exp(built, state)
    run.bind_test(request.cls, request.module, request.instance)
    item.stash[RUN] = run
    try:
        if trial is not None:
            trial.attach(run)
        with limited_blas():
            yield run
    finally:
        default = outcomes.ended_early(item.config, state.interrupted)
        run.finish(item.stash.get(OUTCOME, None) or default)
        if trial is not None:
            trial.tell(run.record)
    if run.record is not None and run.record["status"] == "completed":
        from .sweep.analyses import analyse_run

        analyse_run(run.path, request.cls, request.module, request.instance, "in-session")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Remember how the test went, for the run's summary; send the run's record along."""
    report = yield
    run = item.stash.get(RUN, None)
    if run is None and "exp" not in getattr(item, "fixturenames", ()):
        return report  # not an experiment
    if citizen.writes_nothing(item.config):
        return report  # --setup-only: no run, no record
    from .sweep import handoff, outcomes

    if run is None:
        if call.when == "teardown" and REUSED in item.stash:
            handoff.send(report, item.stash[REUSED])
        elif (
            call.when == "setup" and (report.failed or report.skipped) and REUSED not in item.stash
        ):
            record = handoff.record_of_unrun(item, _state(item.config), report, call)
            if record is not None:
                handoff.send(report, record)
        return report
    if call.when == "setup":
        report.user_properties.append((handoff.STARTED_PROPERTY, True))  # not on junitxml's
    if call.when == "call" or ((report.failed or report.skipped) and OUTCOME not in item.stash):
        item.stash[OUTCOME] = run.outcome = outcomes.from_call(report, call)
    if call.when == "teardown":
        if report.failed and run.record is not None and run.record["status"] == "completed":
            run.amend(outcomes.from_call(report, call))  # a later fixture's teardown failed
        if run.record is not None:
            handoff.send(report, run.record)
        del item.stash[RUN]  # the finished run need not live until the session ends
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """Copy the test body's warnings into run.log; finish as interrupted on Ctrl-C; then gates."""
    run = item.stash.get(RUN, None)
    if run is None:
        return (yield)
    try:
        with run.relaying_warnings():
            yield
    except (KeyboardInterrupt, pytest.exit.Exception) as stop:
        from .sweep import outcomes

        _state(item.config).interrupted = True
        if isinstance(stop, KeyboardInterrupt):
            run.finish(outcomes.interrupted(item.config, stop))
        else:
            run.finish({"status": "interrupted", "reason": f"pytest.exit: {stop.msg}"})
        raise
    run.check_gates(item.user_properties)  # expectations and baseline: may fail the test


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Print each sweep's comparison table and where its files are."""
    tables = config.stash.get(TABLES, [])
    if not tables or hasattr(config, "workerinput"):
        return
    from .sweep.end import print_tables

    print_tables(terminalreporter, tables, str(config.invocation_params.dir))
