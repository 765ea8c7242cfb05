"""The `expharness` subcommands that query many runs: list, compare."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .cli import UsageError, _table, differing, runs_of_session
from .cli_filters import MISSING, FilterError, lookup, matches, parse_expression


def cmd_list(args: argparse.Namespace) -> int:
    from .loading import Archive

    try:
        filters = [parse_expression(text) for text in args.filters]
    except FilterError as error:
        raise UsageError(str(error)) from None
    found = Archive(args.root).runs(
        experiment=args.experiment, status=args.status, tag=args.tag, label=args.label
    )
    rows = [r for r in found.rows if all(matches(r, *f) for f in filters)]
    shown = rows[: args.limit] if args.limit > 0 else rows
    if args.json:
        print(json.dumps(shown, indent=2, default=str))
    elif rows:
        names = [f[0] for f in filters]
        headers = ["experiment", "session", "run", "status", "label", *names, "duration_s", "path"]
        body = [
            [
                r["experiment"],
                r["session"],
                r["run_id"],
                r["status"],
                r["label"],
                *[None if (v := lookup(r, n)) is MISSING else v for n in names],
                r["duration"],
                r["path"],
            ]
            for r in shown
        ]
        print(_table(body, headers))
        if len(shown) < len(rows):
            print(
                f"(the newest {len(shown)} of {len(rows)} runs; --limit 0 shows all)",
                file=sys.stderr,
            )
    return 0 if rows else 1


def _runs_for(args: argparse.Namespace) -> list[Any]:
    from .loading import RunTable, load_run

    if getattr(args, "session", None):
        return RunTable(Path(args.root), runs_of_session(args)).load()  # damaged ones skipped
    if len(args.runs) < 2:
        raise UsageError("compare needs two runs or more, or --session S")
    return [load_run(run, root=args.root) for run in args.runs]


def _finals(run: Any) -> dict[str, Any]:
    """A run's final series values and its stored results/ scalars."""
    summary = run.summary
    found = {n: s.get("final") for n, s in (summary.get("metrics") or {}).items()}
    found.update(
        (k, v) for k, v in (summary.get("results") or {}).items() if k.startswith("results/")
    )
    return found


def cmd_compare(args: argparse.Namespace) -> int:
    runs = _runs_for(args)
    params = [r.params for r in runs]
    changing = differing(params)
    finals = [_finals(run) for run in runs]
    metrics: list[str] = []
    for found in finals:
        metrics.extend(n for n in found if n not in metrics)
    who = []  # name the experiment and session when the runs do not share them
    if len({r.experiment for r in runs}) > 1:
        who.append("experiment")
    if len({r.config["experiment"].get("session") for r in runs}) > 1:
        who.append("session")
    headers = [*who, "run", "status", *changing, *metrics]
    body = []
    for run, found in zip(runs, finals, strict=True):
        head = run.config.get("experiment") or {}
        body.append(
            [
                *[run.experiment if w == "experiment" else head.get("session") for w in who],
                run.run_id,
                run.status,
                *[run.params.get(n) for n in changing],
                *[found.get(n) for n in metrics],
            ]
        )
    if args.json:
        print(
            json.dumps(
                [dict(zip(headers, row, strict=True)) for row in body], indent=2, default=str
            )
        )
    else:
        same = [n for n in params[0] if n not in changing]
        print(_table(body, headers))
        if same:
            print(f"\nsame in every run: {', '.join(f'{n}={params[0][n]!r}' for n in same)}")
    return 0


def add_commands(commands: Any) -> None:
    """Register list and compare."""
    listing = commands.add_parser("list", help="list runs, newest first")
    listing.add_argument("filters", nargs="*", metavar="EXPR", help="e.g. lr<0.01 latent=vq")
    listing.add_argument("--experiment")
    listing.add_argument("--status")
    listing.add_argument("--tag")
    listing.add_argument("--label")
    listing.add_argument(
        "--limit", type=int, default=200, metavar="N", help="newest N runs (default 200; 0: all)"
    )
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=cmd_list)
    compare = commands.add_parser(
        "compare", help="parameters that differ and metrics, side by side"
    )
    compare.add_argument("runs", nargs="*", metavar="RUN")
    compare.add_argument("--session", help="every run of one session")
    compare.add_argument("--json", action="store_true")
    compare.set_defaults(handler=cmd_compare)
