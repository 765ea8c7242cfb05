"""`expharness import-pycomex DIR` and `expharness import-hydra DIR [--metrics PATTERN...]`.

Both print what they imported, what was imported before (skipped), what they
could not read and why, and what they did not follow; then each new session's
comparison table, as a native session ends. Exit codes: 0 every run read,
1 something could not be read (the rest is imported), 2 DIR or an option
refused (nothing written).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path, PurePath
from typing import Any

from ..archive.names import safe_name
from .sources import ImportRefused, Report, SourceRun, real_top

METRICS_HELP = (
    "files in each job's folder holding its metrics (glob patterns, quoted: 'facts/*.json'); "
    "JSON of name: number or list, or CSV of step,name,value or epoch,loss,..."
)


def add_commands(commands: Any) -> None:
    """Add import-pycomex and import-hydra to the subcommands."""
    pycomex = commands.add_parser(
        "import-pycomex", help="import PyComex archive folders as runs (idempotent)"
    )
    pycomex.add_argument("folder", metavar="DIR", help="a PyComex results folder, or one in it")
    hydra = commands.add_parser(
        "import-hydra", help="import a Hydra multirun folder as a session (idempotent)"
    )
    hydra.add_argument("folder", metavar="DIR", help="a multirun folder (multirun/DATE/TIME)")
    hydra.add_argument(
        "--metrics", nargs="+", action="extend", default=[], metavar="PATTERN", help=METRICS_HELP
    )
    for command in (pycomex, hydra):
        command.add_argument("--experiment", help="the experiment name (default: the tool's)")
        command.add_argument("--metric", help="the main metric (default: the first series found)")
        command.add_argument(
            "--mode",
            choices=("min", "max"),
            default="min",
            help="is the main metric best low or high",
        )
    pycomex.set_defaults(handler=_pycomex)
    hydra.set_defaults(handler=_hydra)


def _pycomex(args: argparse.Namespace) -> int:
    def read(top: Path, report: Report) -> list[SourceRun]:
        from . import pycomex

        runs = []
        for folder in pycomex.find_runs(top, report):
            run = pycomex.read_run(top, folder, report)
            if run is not None:
                runs.append(run)
        for run in runs if args.experiment else []:
            run.experiment = safe_name(args.experiment)
        pycomex.assign_axes(runs)
        return runs

    return _import(args, "a PyComex results folder", read)


def _hydra(args: argparse.Namespace) -> int:
    for pattern in args.metrics:
        pure = PurePath(pattern)
        if pure.is_absolute() or ".." in pure.parts or not pattern.strip():
            print(
                f"expharness: --metrics {pattern!r}: give a pattern inside each job's "
                "folder (relative, without ..)",
                file=sys.stderr,
            )
            return 2

    def read(top: Path, report: Report) -> list[SourceRun]:
        from . import hydra

        runs = []
        for session, jobs in sorted(hydra.find_sessions(top, report).items()):
            found = hydra.read_session(top, session, jobs, args.metrics, report)
            if found:
                report.notes.append(f"{session}: {len(found)} jobs, {hydra.axes_summary(found)}")
            runs += found
        for run in runs if args.experiment else []:
            run.experiment = safe_name(args.experiment)
        return runs

    return _import(args, "a Hydra multirun folder", read)


def _main_metric(args: argparse.Namespace, runs: list[SourceRun]) -> dict[str, str]:
    """Give every run the main metric: --metric, else the first series of the experiment's.

    Returns, by experiment, the note saying which series was chosen (none with --metric).
    """
    chosen: dict[str, str] = {}
    notes: dict[str, str] = {}
    for run in runs:
        name = args.metric or chosen.get(run.experiment) or next(iter(run.series), None)
        if name is None:
            continue
        if run.experiment not in chosen and not args.metric:
            notes[run.experiment] = (
                f"{run.experiment}: main metric {name} ({args.mode}), its first series; "
                "choose another with --metric"
            )
        chosen[run.experiment] = name
    for run in runs:
        name = args.metric or chosen.get(run.experiment)
        run.main_metric = {"name": name, "mode": args.mode} if name else None
    return notes


def _import(args: argparse.Namespace, what: str, read: Any) -> int:
    from .writer import finish_sessions, sessions_of, write_runs

    root = Path(os.path.abspath(args.root))
    report = Report()
    try:
        top = real_top(Path(args.folder), what)
        if Path(os.path.realpath(root)).is_relative_to(top):
            raise ImportRefused(f"{root}: the archive cannot be inside the folder imported")
        runs = read(top, report)
    except ImportRefused as error:
        print(f"expharness: {error}", file=sys.stderr)
        return 2
    chosen = _main_metric(args, runs)
    from ..archive.layout import session_stamp

    placed = write_runs(root, runs, session_stamp(), report)
    made = {path.parent.parent.name for path in placed}
    report.notes += [note for experiment, note in chosen.items() if experiment in made]
    tables: list[Any] = []
    if placed:
        try:
            tables = finish_sessions(root, placed)
        except Exception as error:  # the folders hold everything; the next reader catches up
            report.notes.append(f"the tables or the index were not all written: {error}")
    report.sessions = list(sessions_of(placed))
    for line in report.lines():
        print(line)
    if report.sessions:
        print(f"sessions: {', '.join(report.sessions)}")
    if not runs and not report.already:
        print("nothing to import", file=sys.stderr)
    if tables:
        from ..sweep.end import table_lines

        print()
        for line, _ in table_lines(tables, str(Path.cwd())):
            print(line)
    return 1 if report.unreadable else 0
