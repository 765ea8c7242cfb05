"""The `expharness` command: look back at archived runs.

    expharness list [--experiment E] [--status S] [--tag T] [--label L] [EXPR ...]
                    [--limit N] [--json]
    expharness show RUN [--json]
    expharness compare RUN RUN... | --session S [--json]
    expharness diff RUN RUN [--json]
    expharness export RUN... | --session S --to FILE.tar.gz
    expharness import FILE.tar.gz
    expharness label RUN keep|baseline|exploratory|failed [--note TEXT]
    expharness tag RUN TAG
    expharness gc [--status S] [--older-than 30d] [--keep-last N] [--dry-run]
    expharness reindex
    expharness check [--json]
    expharness analyze RUN [--current]
    expharness report RUN... | --session S [--to FILE.html]
    expharness collect SESSION

EXPR compares a parameter or a final metric with a value: `lr<0.01`,
`latent=vq`, `loss>=0.5`, `beta!=10` (parsed, never evaluated). Exit codes:
0 done, 1 nothing matched (or, for check, something damaged), 2 usage error;
every error is one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .cli_filters import MISSING, FilterError, lookup, matches, parse_expression


class UsageError(Exception):
    """A command line that cannot be carried out as written."""


def runs_text(count: int) -> str:
    """'1 run', '3 runs'."""
    return f"{count} run{'s' if count != 1 else ''}"


def _table(rows: list[list[Any]], headers: list[str]) -> str:
    from tabulate import tabulate

    return tabulate(rows, headers=headers, tablefmt="simple", floatfmt=".6g", missingval="")


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


def cmd_show(args: argparse.Namespace) -> int:
    from .loading import load_run

    run = load_run(args.run, root=args.root)
    summary = run.summary
    if args.json:
        print(
            json.dumps(
                {"path": str(run.path), "config": run.config, "summary": summary},
                default=str,
                indent=2,
            )
        )
        return 0
    head = run.config.get("experiment", {})
    print(f"{head.get('name')} / {run.run_id}  ({run.path})")
    print(
        f"status: {run.status}" + (f" ({summary.get('reason')})" if summary.get("reason") else "")
    )
    error = summary.get("error")
    if error:
        print(f"error: {error.get('type')}: {error.get('message')}")
    print(
        f"session: {head.get('session')}, started {summary.get('started')}, "
        f"duration {summary.get('duration')} s, git {head.get('git_commit')}"
    )
    print()
    print(_table([[k, v] for k, v in run.params.items()], ["parameter", "value"]))
    metrics = summary.get("metrics") or {}
    if metrics:
        print()
        body = [
            [n, s.get("final"), s.get("min"), s.get("max"), s.get("count")]
            for n, s in metrics.items()
        ]
        print(_table(body, ["series", "final", "min", "max", "count"]))
    components = summary.get("components") or {}
    if components:
        print()
        body = [[n, c["status"], c.get("reason"), c.get("hint")] for n, c in components.items()]
        print(_table(body, ["component", "status", "reason", "hint"]))
    return 0


def runs_of_session(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Return the index rows of every run of `args.session`, oldest first."""
    from .loading import Archive, RunNotFound

    found = [r for r in Archive(args.root).runs() if r["session"] == args.session]
    if not found:
        raise RunNotFound(f"no run of session {args.session!r} under {args.root}")
    return found[::-1]


def _runs_for(args: argparse.Namespace) -> list[Any]:
    from .loading import RunTable, load_run

    if getattr(args, "session", None):
        return RunTable(Path(args.root), runs_of_session(args)).load()  # damaged ones skipped
    if len(args.runs) < 2:
        raise UsageError("compare needs two runs or more, or --session S")
    return [load_run(run, root=args.root) for run in args.runs]


def _differing(values: list[dict[str, Any]]) -> list[str]:
    names: list[str] = []
    for found in values:
        names.extend(n for n in found if n not in names)
    return [n for n in names if len({json.dumps(v.get(n), default=str) for v in values}) > 1]


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
    differing = _differing(params)
    finals = [_finals(run) for run in runs]
    metrics: list[str] = []
    for found in finals:
        metrics.extend(n for n in found if n not in metrics)
    who = []  # name the experiment and session when the runs do not share them
    if len({r.experiment for r in runs}) > 1:
        who.append("experiment")
    if len({r.config["experiment"].get("session") for r in runs}) > 1:
        who.append("session")
    headers = [*who, "run", "status", *differing, *metrics]
    body = []
    for run, found in zip(runs, finals, strict=True):
        head = run.config.get("experiment") or {}
        body.append(
            [
                *[run.experiment if w == "experiment" else head.get("session") for w in who],
                run.run_id,
                run.status,
                *[run.params.get(n) for n in differing],
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
        same = [n for n in params[0] if n not in differing]
        print(_table(body, headers))
        if same:
            print(f"\nsame in every run: {', '.join(f'{n}={params[0][n]!r}' for n in same)}")
    return 0


PROVENANCE = (
    "git_commit",
    "git_branch",
    "git_dirty",
    "host",
    "user",
    "python",
    "platform",
    "packages",
    "command",
    "pytest_plugins",
    "randomly_seed",
    "base_config",
    "cli_overrides",
    "source_hash",
    "testing",
)


def cmd_diff(args: argparse.Namespace) -> int:
    from .loading import load_run

    first, second = (load_run(run, root=args.root) for run in (args.first, args.second))
    rows = []
    for name in _differing([first.params, second.params]):
        rows.append(["parameter", name, first.params.get(name), second.params.get(name)])
    heads = [r.config.get("experiment", {}) for r in (first, second)]
    for name in PROVENANCE:
        a, b = heads[0].get(name), heads[1].get(name)
        if json.dumps(a, default=str, sort_keys=True) != json.dumps(b, default=str, sort_keys=True):
            rows.append(["provenance", name, a, b])
    if args.json:
        keys = ["kind", "name", "first", "second"]
        print(json.dumps([dict(zip(keys, r, strict=True)) for r in rows], indent=2, default=str))
    elif rows:
        print(_table(rows, ["", "name", first.run_id, second.run_id]))
    else:
        print("same parameters and provenance")
    return 0


def parser() -> argparse.ArgumentParser:
    """The command line of `expharness`."""
    main = argparse.ArgumentParser(prog="expharness", description=__doc__.split("\n\n")[0])
    main.add_argument(
        "--root",
        default=None,
        help="archive root (default: $EXPHARNESS_ROOT, else the project's results/, found "
        "from the current folder upward)",
    )
    commands = main.add_subparsers(dest="command", required=True)
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
    show = commands.add_parser("show", help="one run: config, status, metrics, components")
    show.add_argument("run", help="run id, session/run id, unique prefix or path")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=cmd_show)
    compare = commands.add_parser(
        "compare", help="parameters that differ and metrics, side by side"
    )
    compare.add_argument("runs", nargs="*", metavar="RUN")
    compare.add_argument("--session", help="every run of one session")
    compare.add_argument("--json", action="store_true")
    compare.set_defaults(handler=cmd_compare)
    diff = commands.add_parser(
        "diff", help="parameters and provenance that differ between two runs"
    )
    diff.add_argument("first", metavar="RUN")
    diff.add_argument("second", metavar="RUN")
    diff.add_argument("--json", action="store_true")
    diff.set_defaults(handler=cmd_diff)
    from . import cli_check, cli_manage, cli_report

    cli_check.add_command(commands)
    cli_manage.add_commands(commands)
    cli_report.add_commands(commands)
    return main


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return its exit code."""
    import warnings

    from .index import IndexWarning

    try:
        args = parser().parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0) and 2
    if args.root is None:
        from .archive import find_root

        args.root = str(find_root(Path.cwd()))
    if not Path(args.root).is_dir() and args.command != "import":
        print(f"expharness: no archive at {args.root} (give --root)", file=sys.stderr)
        return 1
    with warnings.catch_warnings():  # a folder skipped or an index rebuilt: one line each
        warnings.filterwarnings("default", category=IndexWarning)
        shown = warnings.showwarning

        def show(message: Any, category: type[Warning], *rest: Any, **named: Any) -> None:
            if not issubclass(category, IndexWarning):
                return shown(message, category, *rest, **named)
            print(f"expharness: warning: {message}", file=sys.stderr)

        warnings.showwarning = show
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    import errno

    from .damage import DamagedRun
    from .index import IndexUnavailable
    from .loading import RunNotFound

    try:
        result: int = args.handler(args)
        return result
    except UsageError as error:
        print(f"expharness: {error}", file=sys.stderr)
        return 2
    except (RunNotFound, IndexUnavailable) as error:
        print(f"expharness: {error}", file=sys.stderr)
        return 1
    except DamagedRun as error:
        print(f"expharness: {error} (expharness check lists every damaged run)", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `expharness list | head`: the reader left; say nothing more
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as error:
        if error.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES):
            raise
        where = f"cannot write {error.filename}: " if error.filename else ""
        print(f"expharness: {where}{error.strerror}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
