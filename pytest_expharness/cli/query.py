"""The `expharness` subcommands that query many runs: list, compare (and summary's wiring).

Names on the command line follow cli/filters.py: a filter's NAME no selected
run knows, and an option's value no run could have, are usage errors naming
what there is (exit 2); a query that could match but matches nothing exits 1.
Paths are printed as the user can paste them (cli.shown_path); --json keeps
the index's own path, relative to the root.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .common import UsageError, differing, runs_of_session, runs_text, shown_path, text_table
from .filters import MISSING, Names, check_selection, op_text, parse_expression
from .filters import resolve as resolve_name
from .summary import add_command as add_summary
from .summary import main_metric, main_value, ranked

NAMES_HELP = (
    "EXPR is NAME<op>VALUE, op one of < <= > >= = != (lr<0.01, latent=vq, loss>=0.5). NAME is "
    "a parameter, a final metric or a stored value as written (lr also finds LR), else a "
    "result's short name (elbo finds results/elbo) or the end of one result's name (acc finds "
    "results/val/acc); a metric elbo wins over results/elbo. A NAME no selected run has, or "
    "an --experiment, --status, --tag or --label no run could have, is an error naming those "
    "there are (exit 2); nothing matched is exit 1."
)


def cmd_list(args: argparse.Namespace) -> int:
    from ..catalog.loading import Archive

    selection = {"experiment": args.experiment, "status": args.status, "tag": args.tag}
    selection["label"] = args.label
    found, tests = select(Archive(args.root), args.filters, selection, args.limit)
    if not found.total:  # a value no run could have (FilterError), or nothing matched
        check_selection(args.root, args.experiment, args.status, args.tag, args.label)
    shown = found.rows
    if args.json:
        print(json.dumps(shown, indent=2, default=str))
    elif shown:
        columns = list({key.name: key for key, *_ in tests}.values())  # a name twice: once
        headers = ["experiment", "session", "run", "status", "label"]
        headers += [*(key.name for key in columns), "duration_s", "path"]
        where = pasteable(args.root)
        body = [
            [
                r["experiment"],
                r["session"],
                r["run_id"],
                r["status"],
                r["label"],
                *[None if (v := key.of(r)) is MISSING else v for key in columns],
                r["duration"],
                where(r["path"]),
            ]
            for r in shown
        ]
        print(text_table(body, headers))
        if len(shown) < found.total:
            print(
                f"(the newest {len(shown)} of {found.total} runs; --limit 0 shows all)",
                file=sys.stderr,
            )
    return 0 if shown else 1


def select(
    archive: Any, texts: list[str], selection: dict[str, Any], limit: int = 0
) -> tuple[Any, list[Any]]:
    """The runs of a catalog Archive that `list` shows for these filters, and the filters' tests."""
    filters = [(text, *parse_expression(text)) for text in texts]
    tests = []
    with archive.reading():
        if filters:  # a NAME is known, or not, among the runs selected
            count, held = archive.names(**selection)
            if count:
                names = Names.held(count, held)
                tests = [(resolve_name(n, names, t), op, value) for t, n, op, value in filters]
        conditions = [(key.candidates(names), op_text(op), value) for key, op, value in tests]
        found = archive.runs(**selection, conditions=conditions, limit=limit)
    return found, tests


def pasteable(root: str | Path) -> Callable[[str], str]:
    """Return what turns an index path (relative to root) into one to paste (cli.shown_path)."""
    base = shown_path(root)  # once: every run folder below the root is below it the same way

    def shown(path: str) -> str:
        if os.path.isabs(path):  # a run indexed outside its root
            return shown_path(path)
        return path if base == "." else os.path.join(base, path)

    return shown


def _session_rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The index rows of `--session` (of `--experiment` only, when given), oldest first."""
    from ..catalog.runnames import RunNotFound

    rows = runs_of_session(args)
    if args.experiment is None:
        return rows
    chosen = [r for r in rows if r["experiment"] == args.experiment]
    if not chosen:
        check_selection(args.root, experiment=args.experiment)  # no such experiment at all
        there = ", ".join(dict.fromkeys(str(r["experiment"]) for r in rows))
        raise RunNotFound(
            f"no run of experiment {args.experiment!r} in session {args.session!r} "
            f"(its experiments: {there})"
        )
    return chosen


def _runs_for(args: argparse.Namespace) -> list[Any]:
    from ..catalog.loading import RunTable, load_run

    if args.session:
        return RunTable(Path(args.root), _session_rows(args)).load()  # damaged ones skipped
    if args.experiment is not None:
        raise UsageError("compare: --experiment narrows --session S; named runs are compared")
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


@dataclass
class Comparison:
    """The runs of one experiment side by side."""

    experiment: str
    headers: list[str]
    body: list[list[Any]]
    same: dict[str, Any]
    statuses: dict[str, int] = field(default_factory=dict)
    metric: tuple[str, str] | None = None
    best: str | None = None

    def title(self) -> str:
        states = ", ".join(f"{n} {status}" for status, n in sorted(self.statuses.items()))
        parts = [f"{self.experiment}: {runs_text(len(self.body))} ({states})"]
        if self.metric is not None:
            parts.append(f"main metric {self.metric[0]} ({self.metric[1]})")
            parts.append(f"best {self.best}" if self.best else "no best run")
        return ", ".join(parts)

    def rows(self) -> list[dict[str, Any]]:
        return [dict(zip(self.headers, row, strict=True)) for row in self.body]

    def as_json(self) -> dict[str, Any]:
        metric = {"name": self.metric[0], "mode": self.metric[1]} if self.metric else None
        return {
            "experiment": self.experiment,
            "main_metric": metric,
            "best": self.best,
            "runs": self.rows(),
        }


def _status(run: Any) -> str:
    return str(run.status)


def compare(runs: list[Any], sort: bool) -> Comparison:
    """Put the runs of one experiment side by side (best first by the main metric with sort)."""
    metric = next((m for r in runs if (m := main_metric(r.config.get("experiment") or {}))), None)
    finals = {id(run): _finals(run) for run in runs}
    best = None
    if metric is not None:
        name = metric[0]  # finals hold series and results/ keys alike: both sources at once
        order, best = ranked(
            runs, lambda r: main_value(finals[id(r)], finals[id(r)], name), _status, metric[1]
        )
        runs = order if sort else runs
    params = [r.params for r in runs]
    changing = differing(params)
    metrics: list[str] = []
    for run in runs:
        metrics.extend(n for n in finals[id(run)] if n not in metrics)
    sessions = {(r.config.get("experiment") or {}).get("session") for r in runs}
    who = ["session"] if len(sessions) > 1 else []  # when the runs do not share it
    marks = ["best"] if best is not None else []
    headers = [*marks, *who, "run", "status", *changing, *metrics]
    body = [
        [
            *(["*" if run is best else ""] if marks else []),
            *[(run.config.get("experiment") or {}).get("session") for _ in who],
            run.run_id,
            run.status,
            *[run.params.get(n) for n in changing],
            *[finals[id(run)].get(n) for n in metrics],
        ]
        for run in runs
    ]
    statuses: dict[str, int] = {}
    for run in runs:
        statuses[run.status] = statuses.get(run.status, 0) + 1
    same = {n: params[0][n] for n in params[0] if n not in changing}
    return Comparison(
        runs[0].experiment, headers, body, same, statuses, metric, best.run_id if best else None
    )


def cmd_compare(args: argparse.Namespace) -> int:
    runs = _runs_for(args)
    if not runs:  # every run of the session damaged: each said so
        return 1
    groups: dict[str, list[Any]] = {}
    for run in runs:
        groups.setdefault(run.experiment, []).append(run)
    tables = [compare(found, sort=bool(args.session)) for found in groups.values()]
    if args.json:
        if len(tables) == 1:  # one experiment: its rows, as they always were
            shape: Any = tables[0].rows()
        else:
            shape = {"session": args.session, "experiments": [t.as_json() for t in tables]}
        print(json.dumps(shape, indent=2, default=str))
        return 0
    for i, table in enumerate(tables):
        if i:
            print()
        print(table.title())
        print(text_table(table.body, table.headers))
        if table.same:
            print(f"\nsame in every run: {', '.join(f'{n}={v!r}' for n, v in table.same.items())}")
    return 0


def add_commands(commands: Any) -> None:
    """Register list, compare and summary."""
    listing = commands.add_parser(
        "list", help="list runs, newest first", description="List runs, newest first. " + NAMES_HELP
    )
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
    compare_ = commands.add_parser(
        "compare",
        help="parameters that differ and metrics, side by side",
        description="Runs side by side: the parameters that differ and every final metric, one "
        "table per experiment, titled. A session's runs come best first by the main metric; "
        "named runs keep their order. --json: one experiment's rows as a list; several "
        'experiments as {"session", "experiments": [{"experiment", "main_metric", "best", '
        '"runs"}]}.',
    )
    compare_.add_argument("runs", nargs="*", metavar="RUN")
    compare_.add_argument("--session", help="every run of one session")
    compare_.add_argument("--experiment", help="with --session: only this experiment's runs")
    compare_.add_argument("--json", action="store_true")
    compare_.set_defaults(handler=cmd_compare)
    add_summary(commands)
