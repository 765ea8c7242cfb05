"""The end of a session (or of a SLURM job): tables, sweep analyses, reports, the index.

The tables and the index are written from the run folders whatever ends the
session. A Ctrl-C while they are written is held back until they are done (a
second one goes through). A second Ctrl-C earlier, while pytest reports the
first or waits for xdist's workers to stop, cuts pytest's own shutdown short:
`pytest_sessionfinish` never runs, so the plugin's outermost hook writes them
then (`after_second_interrupt`), once the workers' runs have had a moment to end.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ..run.relay import notify
from .table import SweepTable

SETTLE = 10.0  # seconds, at most, for runs still finishing in live processes (a loaded machine)


def finalize(
    records: list[dict[str, Any]],
    root: Path,
    stamp: str,
    interrupted: bool,
    columns: Sequence[str] = (),
    update_baselines: bool = False,
) -> list[SweepTable]:
    """Write every sweep's tables and report.html, run sweep analyses, index the runs.

    Runs whose record never arrived are read back from their folders (see
    tablefiles.fill_gaps). Returns the tables, for the terminal. The cyclic
    garbage collector is paused meanwhile: what is made here is freed by
    reference counts, and a 10,000-run sweep would otherwise trigger hundreds
    of full collections over the records (a fifth of the time).
    """
    import gc

    paused = gc.isenabled()
    gc.disable()
    try:
        return _finalize(records, root, stamp, interrupted, columns, update_baselines)
    finally:
        if paused:
            gc.enable()


def _update_baselines(
    tables: list[SweepTable], records: list[dict[str, Any]], stamp: str, interrupted: bool
) -> None:
    """--exp-baseline-update: write the baseline files; say so under each sweep's table."""
    from ..gates.update import write_baselines

    if interrupted:
        for table in tables:
            table.gates.append("baseline: not written (the session was interrupted)")
        return
    for experiment, testing, line in write_baselines(records, stamp):
        for table in tables:
            if table.experiment == experiment and table.testing == testing:
                table.gates.append(line)


def _finalize(
    records: list[dict[str, Any]],
    root: Path,
    stamp: str,
    interrupted: bool,
    columns: Sequence[str],
    update_baselines: bool,
) -> list[SweepTable]:
    from ..archive.layout import DEBUG_DIR, TESTING_DIR
    from ..catalog.index import index_records
    from .html.page import write_sweep_reports
    from .tablefiles import write_sweeps

    tables, every = write_sweeps(records, root, stamp, interrupted, columns)
    if update_baselines:
        _update_baselines(tables, every, stamp, interrupted)
    if not interrupted:
        from .sweepanalysis import analyse_sweeps

        analyse_sweeps(tables, every)
    for problem in write_sweep_reports(tables, every):
        notify(f"expharness: {problem}")
    new = [
        r
        for r in every
        if r["status"] != "reused" and r.get("path") and os.path.basename(r["sweep"]) != DEBUG_DIR
    ]
    for testing in (False, True):
        chosen = [r for r in new if r["testing"] == testing]
        if not chosen:
            continue
        try:
            index_records(root / TESTING_DIR if testing else root, chosen, stamp)
        except Exception as error:  # the folders hold everything; reindex can catch up
            notify(f"expharness: the index was not updated: {error}")
    return tables


def end_session(
    records: list[dict[str, Any]],
    root: Path,
    stamp: str,
    interrupted: bool,
    say: Callable[[str], None],
    settings: Any = None,
) -> tuple[list[SweepTable], bool]:
    """Finalize with a Ctrl-C held back meanwhile; return the tables and whether one came.

    `settings` (session/state.Settings) gives --exp-columns and --exp-baseline-update.
    """
    columns = settings.columns if settings is not None else ()
    update = bool(settings is not None and settings.baseline_update)
    with holding_ctrl_c(say) as pressed:
        tables = finalize(records, root, stamp, interrupted, columns, update)
    return tables, bool(pressed)


def _markup(line: str) -> dict[str, bool]:
    """Regressions and failed expectations in red, points without a baseline in yellow."""
    if "regressed" in line or "changed" in line:
        return {"red": True}
    met = re.match(r"expectations: (\d+) of (\d+) ", line)
    if met and met.group(1) != met.group(2):
        return {"red": True}
    return {"yellow": True} if line.startswith("no baseline") else {}


def after_second_interrupt(config: Any, state: Any, collector: Any, written: Any) -> bool:
    """Make sure the tables and the index exist when a second Ctrl-C stopped pytest's shutdown.

    `written` is the stash key of the tables pytest_sessionfinish wrote, if it
    got that far. Returns whether there are tables (without, the session is
    left to stop as pytest would).
    """
    tables = config.stash.get(written, None)
    if not tables:
        root, stamp = state.settings.root, state.stamp
        with holding_ctrl_c(collector.say):
            finish_open_runs(config)
            settle(root, stamp)
            columns = state.settings.columns
            tables = config.stash[written] = finalize(collector.found, root, stamp, True, columns)
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if tables and reporter is not None:
            print_tables(reporter, tables, str(config.invocation_params.dir))
    if tables:
        collector.say(
            "expharness: stopped by a second Ctrl-C; "
            "the tables and the index were written from the run folders"
        )
    return bool(tables)


def finish_open_runs(config: Any) -> None:
    """Finish runs pytest never tore down; in a worker whose controller went away, say so."""
    from ..run.exp import FLUSHER, Exp
    from ..run.exp import finish_open_runs as finish_rest
    from . import outcomes

    if outcomes.controller_gone(config) is not None:
        gone = outcomes.interrupted(config)
        for run in FLUSHER.active():
            if isinstance(run, Exp):
                run.finish(run.outcome or gone)
    finish_rest()


def settle(root: Path, stamp: str, wait: float = SETTLE) -> None:
    """Wait (up to `wait` s) while runs of this session still finish in live processes."""
    deadline = time.monotonic() + wait
    while _finishing_elsewhere(root, stamp) and time.monotonic() < deadline:
        time.sleep(0.1)


def _finishing_elsewhere(root: Path, stamp: str) -> bool:
    import json

    from ..archive.layout import SUMMARY
    from ..catalog.reading import crash_reason
    from .tablefiles import session_folders

    for folder in session_folders(root, stamp):
        for summary_path in folder.glob(f"*/{SUMMARY}"):
            try:
                summary = json.loads(summary_path.read_text("utf-8"))
            except (OSError, ValueError):
                continue
            if (
                summary.get("status") == "running"
                and summary.get("pid") != os.getpid()
                and crash_reason(summary) is None
            ):
                return True
    return False


@contextlib.contextmanager
def holding_ctrl_c(say: Callable[[str], None]) -> Iterator[list[int]]:
    """Hold back one Ctrl-C inside the block (a second one raises); yield what was held."""
    pressed: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield pressed
        return

    def hold(signum: int, frame: Any) -> None:
        if pressed:
            raise KeyboardInterrupt
        pressed.append(signum)
        say("expharness: writing the tables and the index first (Ctrl-C again to stop now)")

    previous = signal.signal(signal.SIGINT, hold)
    try:
        yield pressed
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler if previous is None else previous)


def print_tables(reporter: Any, tables: list[SweepTable], here: str) -> None:
    """Print each sweep's comparison table and where its files are; then each failed component."""
    from .tabletext import fit_width

    reporter.section("experiments")
    for line, markup in table_lines(tables, here, fit_width(reporter.config.option.verbose)):
        reporter.write_line(line, **markup)


def table_lines(
    tables: list[SweepTable], here: str, width: int | None = None
) -> Iterator[tuple[str, dict[str, bool]]]:
    """Yield what the end of a session prints, line by line, each with its markup.

    Per sweep: its title, its table (cells one line each; fitted to `width`, see
    tabletext.render), its recommendations and where its files are. Then a line
    per failed component (tabletext.failed_component_lines). `expharness collect`
    can print the same lines.
    """
    from .tabletext import TERMINAL_ROWS, failed_component_lines, render, title

    for i, table in enumerate(tables):
        where = (
            os.path.relpath(table.folder, here) if table.folder.startswith(here) else table.folder
        )
        if i:
            yield "", {}
        yield title(table), {"bold": True}
        yield render(table, "simple", TERMINAL_ROWS, width), {}
        for line in table.recommendations:
            yield f"recommendation: {line}", {"bold": True}
        for line in table.gates:
            yield line, _markup(line)
        yield f"-> {where}/comparison.md (.csv, .json), report.html", {}
    failed = failed_component_lines(tables)
    if failed:
        yield "", {}
    for line in failed:
        yield line, {"yellow": True}
