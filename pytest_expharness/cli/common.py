"""What every `expharness` subcommand shares: the usage error, tables, counts, paths."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


class UsageError(Exception):
    """A command line that cannot be carried out as written."""


def shown_path(path: str | Path) -> str:
    """A path as the user can paste it: relative to the current folder when below it."""
    import os

    absolute = Path(path).absolute()
    try:
        return os.path.relpath(absolute) if absolute.is_relative_to(Path.cwd()) else str(absolute)
    except (OSError, ValueError):
        return str(absolute)


def runs_text(count: int) -> str:
    """'1 run', '3 runs'."""
    return f"{count} run{'s' if count != 1 else ''}"


def text_table(rows: list[list[Any]], headers: list[str]) -> str:
    from tabulate import tabulate

    return tabulate(rows, headers=headers, tablefmt="simple", floatfmt=".6g", missingval="")


def runs_of_session(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Return the index rows of every run of `args.session`, oldest first."""
    from ..catalog.loading import Archive
    from ..catalog.runnames import RunNotFound

    every = Archive(args.root).runs().rows
    found = [r for r in every if r["session"] == args.session]
    if not found and every:  # a session the archive never had: name the newest ones
        sessions = list(dict.fromkeys(r["session"] for r in every))
        shown = ", ".join(sessions[:5]) + (
            f" ... and {len(sessions) - 5} more" if len(sessions) > 5 else ""
        )
        raise UsageError(f"no session {args.session!r} under {args.root}; the newest: {shown}")
    if not found:
        raise RunNotFound(f"no run of session {args.session!r} under {args.root}")
    return found[::-1]


def differing(values: list[dict[str, Any]]) -> list[str]:
    """The keys whose values are not the same in every mapping, in first-seen order."""
    names: list[str] = []
    for found in values:
        names.extend(n for n in found if n not in names)
    return [n for n in names if len({json.dumps(v.get(n), default=str) for v in values}) > 1]
