"""`expharness serve [--port P] [--host H]`: a local, read-only web page over the archive."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .common import UsageError

DEFAULT_PORT = 8765


def add_command(commands: Any) -> None:
    """Register `serve`."""
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
    from pathlib import Path

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
