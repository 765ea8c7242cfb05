"""The `expharness` command: look back at archived runs.

    expharness list [--experiment E] [--status S] [--tag T] [--label L] [EXPR ...]
                    [--limit N] [--json]
    expharness show RUN [--json]
    expharness summary [--experiment E] [--json]
    expharness compare RUN RUN... | --session S [--experiment E] [--json]
    expharness diff RUN RUN [--json]
    expharness export RUN... | --session S --to FILE.tar.gz
    expharness import FILE.tar.gz
    expharness import-pycomex DIR / import-hydra DIR [--metrics PATTERN...]
    expharness label RUN [keep|baseline|exploratory|failed] [--note TEXT]
    expharness tag RUN TAG
    expharness untag RUN TAG
    expharness gc [--status S] [--older-than 30d] [--keep-last N] [--dry-run]
    expharness reindex
    expharness check [--json]
    expharness analyze RUN [--current]
    expharness report RUN... | --session S [--to FILE.html]
    expharness plots RUN... [--png]
    expharness collect SESSION
    expharness watch [SESSION | EXPERIMENT | latest] [--once] [--every SECONDS]
    expharness serve [--port P] [--host H]

Every subcommand takes --root (before or after it). RUN is a run name
(catalog/runnames.py: latest, EXPERIMENT/latest, EXPERIMENT/RUN, SESSION/RUN, a run id)
or a run folder's path. EXPR compares a parameter, a final metric or a result
with a value: `lr<0.01`, `latent=vq`, `elbo<0` (parsed, never evaluated; see
cli/filters.py). Exit codes: 0 done, 1 nothing matched (or, for check,
something damaged), 2 usage error (a name or value the archive does not know,
an ambiguous run name); every error and warning is one line on stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .common import UsageError

ROOT_HELP = (
    "archive root (default: $EXPHARNESS_ROOT, else the project's results/, found "
    "from the current folder upward)"
)


def parser() -> argparse.ArgumentParser:
    """The command line of `expharness`."""
    main = argparse.ArgumentParser(prog="expharness", description=__doc__.split("\n\n")[0])
    main.add_argument(
        "--root",
        default=None,
        help=ROOT_HELP,
    )
    commands = main.add_subparsers(dest="command", required=True)
    from ..importers import commands as importers
    from . import check, follow, manage, plots, query, report, show

    query.add_commands(commands)
    show.add_commands(commands)
    check.add_command(commands)
    manage.add_commands(commands)
    report.add_commands(commands)
    plots.add_commands(commands)
    follow.add_commands(commands)
    importers.add_commands(commands)
    for command in commands.choices.values():  # --root before or after the subcommand
        command.add_argument("--root", default=argparse.SUPPRESS, help=ROOT_HELP)
    return main


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return its exit code."""
    import warnings

    from ..catalog.indexrows import IndexWarning

    try:
        args = parser().parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0) and 2
    if args.root is None:
        from ..archive.layout import find_root

        args.root = str(find_root(Path.cwd()))
    if not Path(args.root).is_dir() and not args.command.startswith("import"):
        print(f"expharness: no archive at {args.root} (give --root)", file=sys.stderr)
        return 1
    with warnings.catch_warnings():  # a folder skipped or an index rebuilt: one line each
        warnings.filterwarnings("default", category=IndexWarning)

        def show(message: Any, category: type[Warning], *rest: Any, **named: Any) -> None:
            print(f"expharness: warning: {message}", file=sys.stderr)  # one line, no source

        warnings.showwarning = show
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    import errno

    from ..catalog.damage import DamagedRun
    from ..catalog.index import IndexUnavailable
    from ..catalog.runnames import AmbiguousRun, RunNotFound

    try:
        result: int = args.handler(args)
        return result
    except (UsageError, AmbiguousRun) as error:  # a name that fits several runs: say which
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
