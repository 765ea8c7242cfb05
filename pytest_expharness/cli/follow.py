"""The commands that follow a running archive: `expharness watch` and `expharness serve`.

    expharness watch [SESSION | EXPERIMENT | latest] [--once] [--every SECONDS]
    expharness serve [--port P] [--host H]

`watch` shows the live view of running sessions from another terminal (without a
target, every session now running on the archive). It reads the same files as the
session's own view (live/), so it works for a detached SLURM session or one on
another machine of a shared filesystem, and ends when the sessions end, then prints
each sweep's comparison.md. `serve` is a local, read-only web page over the archive.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from .common import UsageError

GRACE = 15.0  # seconds without a run in flight after which a session without tables is over
TABLE = "comparison.md"  # what sweep/tablefiles.write puts in each sweep folder


def _view(root: Path, stamps: list[str], reader: Any) -> tuple[list[str], list[Any]]:
    from ..live.text import lines

    shown, sweeps = [], []
    for stamp in stamps:
        found = reader.session(root, stamp)
        sweeps.extend(found)
        shown.append(f"session {stamp}")
        shown.extend(lines(found) if found else ["  (no run yet)"])
    return shown, sweeps


def _tables(sweeps: list[Any]) -> list[str]:
    out = []
    for sweep in sweeps:
        path = Path(sweep.folder) / TABLE
        try:
            out.append(path.read_text("utf-8").rstrip("\n"))
        except OSError:
            out.append(
                f"{sweep.experiment}: no table in {sweep.folder}; the session ended without "
                f"writing it (killed?); a SLURM session's: `expharness collect {sweep.folder.name}`"
            )
        out.append("")
    return out


def cmd_watch(args: argparse.Namespace) -> int:
    """Show the live view until the sessions end, then their tables."""
    from ..live.runs import Reader
    from ..live.sessions import NoSuchSession, resolve, running, running_sessions

    root, reader = Path(args.root), Reader()
    if args.every <= 0:
        raise UsageError(f"--every {args.every}: give seconds, more than 0")
    try:
        stamps = [resolve(root, args.target)] if args.target else running_sessions(root, reader)
    except NoSuchSession as error:
        raise UsageError(str(error)) from None
    if not stamps:
        print(f"expharness: no session is running on {root}", file=sys.stderr)
        return 1
    tty = sys.stdout.isatty() and os.environ.get("TERM") != "dumb" and not args.once
    drawn, quiet_since = 0, time.monotonic()
    while True:
        shown, sweeps = _view(root, stamps, reader)
        if tty and drawn:
            sys.stdout.write(f"\x1b[{drawn}F\x1b[J")
        print("\n".join(shown), flush=True)
        drawn = len(shown)
        if args.once:
            return 0
        if running(sweeps):
            quiet_since = time.monotonic()
        elif all(s.ended for s in sweeps) or time.monotonic() - quiet_since > GRACE:
            break
        time.sleep(args.every)
    print("\n" + "\n".join(_tables(sweeps)), end="", flush=True)
    return 0


def _add_watch(commands: Any) -> None:
    watch = commands.add_parser("watch", help="live progress of running sessions, until they end")
    watch.add_argument("target", nargs="?", default=None, metavar="SESSION|EXPERIMENT|latest")
    watch.add_argument("--once", action="store_true", help="print the state once and exit")
    watch.add_argument(
        "--every", type=float, default=2.0, metavar="SECONDS", help="refresh period (default 2)"
    )
    watch.set_defaults(handler=cmd_watch)


DEFAULT_PORT = 8765


def _add_serve(commands: Any) -> None:
    serve = commands.add_parser(
        "serve",
        help="browse the archive in a web browser (read-only; running sessions update live)",
    )
    serve.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port (default {DEFAULT_PORT}; 0 picks a free one)",
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)"
    )
    serve.set_defaults(handler=cmd_serve)


def finder(
    texts: list[str], experiment: str | None, seen: Any
) -> tuple[list[Any], list[str], list[Any]]:
    """The runs `expharness list` shows for these filters, from one read-only look."""
    from ..serve.readonly import ReadOnlyArchive
    from ..serve.server import BadQuery
    from .filters import MISSING
    from .query import select

    archive = ReadOnlyArchive(seen.root, seen)
    try:
        found, tests = select(archive, texts, {"experiment": experiment})
    except UsageError as error:
        raise BadQuery(str(error)) from None
    columns = list({key.name: key for key, *_ in tests}.values())
    shown = [[None if (v := key.of(r)) is MISSING else v for key in columns] for r in found.rows]
    return found.rows, [key.name for key in columns], shown


def cmd_serve(args: argparse.Namespace) -> int:
    from ..serve.server import Server

    try:
        server = Server((args.host, args.port), Path(args.root), finder)
    except OSError as error:
        raise UsageError(
            f"serve: cannot listen on {args.host}:{args.port} ({error.strerror})"
        ) from None
    print(f"expharness: serving {args.root} at {server.url} (read-only; Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    print("expharness: stopped", file=sys.stderr)
    return 0


def add_commands(commands: Any) -> None:
    """Register `watch` and `serve`."""
    _add_watch(commands)
    _add_serve(commands)
