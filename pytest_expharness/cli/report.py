"""The `expharness` subcommands that write reports or run code: report, analyze, collect."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..catalog.runnames import HELP as RUN_HELP
from .common import UsageError, runs_text, shown_path


def cmd_analyze(args: argparse.Namespace) -> int:
    from ..catalog.loading import resolve
    from ..sweep.analyses import NotTrusted, rerun

    folder = resolve(args.run, args.root)
    try:
        outcome, source = rerun(folder, args.current, trust=args.trust)
    except (FileNotFoundError, NotTrusted) as error:
        raise UsageError(str(error)) from None
    where = shown_path(folder)
    if outcome is None:
        print(f"{where}: no @analysis function in {source}", file=sys.stderr)
        return 1
    files = ", ".join(f"analysis/{f}" for f in outcome["files"]) or "no files"
    print(f"{where}: analysis {outcome['function']} from {source}: {outcome['status']}")
    if outcome["status"] != "completed":
        print(outcome.get("traceback", ""), file=sys.stderr, end="")
        return 1
    print(f"wrote {files}")
    return 0


def _report(records: list[dict[str, Any]], target: Path) -> Path:
    import json

    from ..sweep.html.page import read_runs, run_label, write
    from ..sweep.table import build

    sessions = {r["session"] for r in records}
    many = {r["experiment"] for r in records}
    label = run_label
    if len(sessions) > 1 or len(many) > 1:  # run ids repeat: name runs by what tells them apart

        def name(experiment: Any, session: Any, run_id: Any) -> str:
            parts = [experiment] if len(many) > 1 else []
            parts += [session] if len(sessions) > 1 else []
            return "/".join(str(p) for p in [*parts, run_id])

        for record in records:
            record["run_id"] = name(record["experiment"], record["session"], record["run_id"])

        def label(run: Any) -> str:
            head = run.config["experiment"]
            return name(head.get("name"), head.get("session"), run.run_id)

    table = build(records)
    experiments = list(dict.fromkeys(r["experiment"] for r in records))
    table.experiment = ", ".join(experiments)
    table.session = ", ".join(sorted(sessions))
    folders = {r["sweep"] for r in records}
    stored = Path(next(iter(folders))) / "comparison.json"
    if len(folders) == 1 and stored.is_file():  # a sweep analysis' recommendations
        table.recommendations = list(
            json.loads(stored.read_text("utf-8")).get("recommendations") or []
        )
    order = {row["run"]: i for i, row in enumerate(table.rows)}
    records = sorted(records, key=lambda r: order.get(r["run_id"], len(order)))
    return write(table, read_runs(records), target, label)


def _reused(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The archived runs a session reused (--exp-resume), from its comparison.json rows.

    They live in the folders of earlier sessions, so the index does not list
    them under this session; the table says where they came from.
    """
    import json

    from ..archive.layout import is_run_folder
    from ..plan.resume import reused_record

    found = []
    for sweep in dict.fromkeys(Path(r["sweep"]) for r in records):
        try:
            rows = json.loads((sweep / "comparison.json").read_text("utf-8"))["rows"]
        except (OSError, ValueError, KeyError):
            continue
        for row in rows:
            reason = str(row.get("reason") or "")
            if row.get("status") != "reused" or not reason.startswith("from session "):
                continue
            folder = sweep.parent / reason.removeprefix("from session ") / str(row["run"])
            if is_run_folder(folder):
                found.append(reused_record(folder, sweep))
    return found


def cmd_report(args: argparse.Namespace) -> int:
    from ..catalog.loading import resolve
    from ..catalog.records import record_from_folder
    from ..sweep.html.parts import REPORT
    from .common import runs_of_session

    root = Path(args.root)
    if args.session:
        folders = [root / row["path"] for row in runs_of_session(args)]
    elif args.runs:
        folders = list(dict.fromkeys(resolve(run, root) for run in args.runs))
    else:
        raise UsageError(
            "report needs runs (names or paths: see expharness show -h) or --session S"
        )
    records = []
    for folder in folders:
        try:
            records.append(record_from_folder(folder))
        except (OSError, ValueError) as error:  # a damaged run hides only itself
            print(f"expharness: skipped {folder}: {error}", file=sys.stderr)
    if args.session:
        records += _reused(records)
    if args.to:
        groups = {Path(args.to): records}
    elif args.session:  # each experiment's report beside its comparison table
        groups = {}
        for record in records:
            groups.setdefault(Path(record["sweep"]) / REPORT, []).append(record)
    else:
        groups = {Path(REPORT): records}
    for target, found in groups.items():
        written = _report(found, target)
        print(f"wrote {written} ({runs_text(len(found))})")
    return 0


def cmd_collect(args: argparse.Namespace) -> int:
    from ..cluster.slurm import SlurmError, job_folder
    from ..cluster.wait import finish_job
    from ..sweep.tabletext import render, title

    root = Path(args.root).resolve()
    folder = job_folder(root, args.session)
    try:
        tables, records, _ = finish_job(folder, root, args.session, print)
    except SlurmError as error:
        raise UsageError(str(error)) from None
    for table in tables:
        print(f"\n{title(table)}")
        print(render(table, "simple"))
        for line in table.recommendations:
            print(f"recommendation: {line}")
        print(f"-> {table.folder}/comparison.md (.csv, .json), report.html")
    bad = sum(1 for r in records if r["status"] in ("failed", "crashed"))
    print(f"\ncollected {runs_text(len(records))} of session {args.session}" + (
        f"; {bad} failed or crashed" if bad else ""
    ))  # fmt: skip
    return 0


def add_commands(commands: Any) -> None:
    """Register the subcommands of this module on the `expharness` parser."""
    collect = commands.add_parser(
        "collect", help="wait for a --exp-slurm-detach session's job, then write its tables"
    )
    collect.add_argument("session", metavar="SESSION")
    collect.set_defaults(handler=cmd_collect)
    report = commands.add_parser("report", help="write report.html for a session or any runs")
    report.add_argument("runs", nargs="*", metavar="RUN", help=RUN_HELP)
    report.add_argument("--session", help="every run of one session (one report per experiment)")
    report.add_argument(
        "--to", metavar="FILE.html", help="where (default: the session folder, or ./report.html)"
    )
    report.set_defaults(handler=cmd_report)
    analyze = commands.add_parser(
        "analyze",
        help="run a run's @analysis again: runs its code/ snapshot (imported runs need --trust)",
    )
    analyze.add_argument("run", help=RUN_HELP)
    analyze.add_argument(
        "--current", action="store_true", help="use the module as it is now, not the snapshot"
    )
    analyze.add_argument(
        "--trust",
        action="store_true",
        help="run the code of an imported run (someone else's code/ snapshot); read it first",
    )
    analyze.set_defaults(handler=cmd_analyze)
