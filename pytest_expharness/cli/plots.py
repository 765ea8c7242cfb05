"""The `expharness plots` subcommand: make a finished run's plots again, PNG when asked.

Every run draws plots/<series>.svg when it ends; `--png` adds plots/<series>.png
drawn with matplotlib (imported only then), for a paper or a slide. The run's
summary.json lists the plots and REPORT.md shows them; both are rewritten under
the run's lock, keeping every plot listed before whose file is still there
(GIFs of tracked images, PNGs made earlier). A run still running is refused:
it makes its own plots when it ends.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..catalog.runnames import HELP as RUN_HELP
from .common import UsageError, runs_text, shown_path

LIVE = ("running", "stale")  # a process may still write the folder


def _finished(runs: list[str], root: str) -> list[Path]:
    """The folders of the runs named, each once; refused if one may still be running."""
    from ..catalog.loading import resolve
    from ..catalog.reading import read_run

    folders: list[Path] = []
    for name in runs:
        folder = resolve(name, root)
        status = read_run(folder).get("status")
        if status in LIVE:
            raise UsageError(
                f"{shown_path(folder)} is {status}: a run makes its own plots when it ends; "
                "nothing changed"
            )
        if folder.resolve() not in [f.resolve() for f in folders]:
            folders.append(folder)
    return folders


def _columns(folder: Path) -> dict[str, Any]:
    """The run's series: series/ (memory-mapped) when it has one, else metrics.csv."""
    from ..catalog.damage import read_metrics

    return read_metrics(folder)


def _listed(before: list[Any], made: list[str], folder: Path) -> list[str]:
    """The plots just made, then those listed before that are still on disk."""
    kept = [str(p) for p in before if str(p) not in made and (folder / str(p)).is_file()]
    return [*made, *kept]


def remake(folder: Path, png: bool) -> tuple[list[str], list[str]]:
    """Make one run's plots again, under its lock; return the plots made and any problems."""
    import json

    from ..archive import layout, yamltext
    from ..archive.locks import run_lock
    from ..report import runreport
    from ..report.seriesplots import make_png_plots

    with run_lock(folder):
        columns = _columns(folder)
        made, problem = runreport.make_plots(folder, columns)
        problems = [problem] if problem else []
        if png:
            pngs, png_problem = make_png_plots(folder, columns)
            made += pngs
            problems += [png_problem] if png_problem else []
        summary = json.loads((folder / layout.SUMMARY).read_text("utf-8"))
        summary["plots"] = _listed(summary.get("plots") or [], made, folder)
        layout.write_json(folder / layout.SUMMARY, summary)
        config = yamltext.load((folder / layout.CONFIG).read_text("utf-8"))
        runreport.write_report(folder, config, summary)
    return made, problems


def cmd_plots(args: argparse.Namespace) -> int:
    from ..archive.locks import LockTimeout

    folders = _finished(args.runs, args.root)
    failed = 0
    for folder in folders:
        try:
            made, problems = remake(folder, args.png)
        except LockTimeout as error:
            raise UsageError(f"{error}; try again") from None
        where = shown_path(folder)
        print(f"{where}: {', '.join(made) if made else 'no series of two points or more'}")
        for problem in problems:
            print(f"expharness: {where}: {problem}", file=sys.stderr)
        failed += bool(problems)
    if failed:
        print(f"expharness: plots of {runs_text(failed)} incomplete", file=sys.stderr)
    return 1 if failed else 0


def add_commands(commands: Any) -> None:
    """Register plots."""
    plots = commands.add_parser(
        "plots",
        help="make runs' plots again: plots/<series>.svg, and .png with --png (matplotlib)",
        description=__doc__.split("\n\n")[1].replace("\n", " "),
    )
    plots.add_argument("runs", nargs="+", metavar="RUN", help=RUN_HELP)
    plots.add_argument(
        "--png", action="store_true", help="also draw plots/<series>.png with matplotlib"
    )
    plots.set_defaults(handler=cmd_plots)
