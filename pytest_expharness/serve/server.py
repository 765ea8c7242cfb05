"""The HTTP server: GET and HEAD only, every path checked by paths.inside, errors as one line.

Standard library only (http.server's ThreadingHTTPServer). Nothing is
written: pages read the folders (readonly.py), files are sent as they are.
A failure inside a page is logged to stderr with its traceback and answered
500 with one line; the page never shows a traceback.
"""

from __future__ import annotations

import json
import mimetypes
import sys
import traceback
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from . import live, livecharts, livepage, pages, readonly
from .paths import inside, relative_to_root

# (filters, experiment, look) -> (rows, extra column headers, their values by row)
Finder = Callable[[list[str], "str | None", readonly.Look], tuple[list[Any], list[str], list[Any]]]
TEXT_TYPES = (".md", ".log", ".yaml", ".yml", ".csv", ".txt", ".py", ".journal", ".tsv")


class NotFound(Exception):
    """Nothing to serve at this path (or a path outside the archive)."""


class BadQuery(Exception):
    """A query the archive cannot answer as written (a bad filter): 400 with its message."""


class Handler(BaseHTTPRequestHandler):
    """Answers one request against `server.root`."""

    server: Server
    server_version = "expharness-serve"

    def __getattr__(self, name: str) -> Any:
        if name.startswith("do_"):  # POST, PUT, DELETE, any other method
            return self._not_allowed
        raise AttributeError(name)

    def _not_allowed(self) -> None:
        self._send(
            HTTPStatus.METHOD_NOT_ALLOWED,
            pages.error(405, "read-only: GET and HEAD"),
            "text/html; charset=utf-8",
            {"Allow": "GET, HEAD"},
        )

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def _answer(self, body: bool) -> None:
        self._body = body
        try:
            status, data, kind, headers = self._route()
        except NotFound as missing:
            status, data, kind = HTTPStatus.NOT_FOUND, pages.error(404, str(missing)), "text/html"
            headers = {}
        except BadQuery as bad:
            status, data, kind = HTTPStatus.BAD_REQUEST, pages.error(400, str(bad)), "text/html"
            headers = {}
        except Exception:
            print(f"expharness serve: {self.command} {self.path} failed:", file=sys.stderr)
            traceback.print_exc(file=sys.stderr)
            status, data, kind = (
                500,
                pages.error(500, "internal error (see the server's log)"),
                "text/html",
            )
            headers = {}
        if kind == "text/html":
            kind += "; charset=utf-8"
        self._send(status, data, kind, headers)

    def _send(self, status: int, data: bytes, kind: str, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if getattr(self, "_body", True) and self.command != "HEAD":
            self.wfile.write(data)

    def _route(self) -> tuple[int, bytes, str, dict[str, str]]:
        split = urlsplit(self.path)
        try:
            path = unquote(split.path, errors="strict")
        except UnicodeDecodeError:
            raise NotFound("not a path") from None
        query = parse_qs(split.query)
        root = self.server.root
        html = "text/html"
        if path == "/":
            seen = readonly.look(root)
            sessions = readonly.sessions(root, readonly.rows(root, seen))
            return 200, pages.home(sessions, seen.damaged), html, {}
        if path == "/runs":
            filters = [w for text in query.get("filter", []) for w in text.split()]
            experiment = query["experiment"][0] if query.get("experiment") else None
            seen = readonly.look(root)
            found, headers, shown = self.server.finder(filters, experiment, seen)
            page = pages.runs(found, headers, shown, filters, seen.damaged, experiment)
            return 200, page, html, {}
        head, _, rest = path.lstrip("/").partition("/")
        if head == "files":
            return self._file(rest)
        if head == "run":
            folder = self._inside(rest)
            from ..archive.layout import is_run_folder

            if not folder.is_dir() or not is_run_folder(folder):
                raise NotFound("no run folder here")
            return 200, pages.run(root, folder, relative_to_root(root, folder)), html, {}
        if head == "session":
            return self._session(rest.strip("/"))
        if head == "api" and rest.startswith("charts/"):
            stamp = rest.removeprefix("charts/").strip("/")
            self._check_name(stamp)
            if not live.session_folders(root, stamp):
                raise NotFound(f"no session {stamp!r}")
            return 200, livecharts.charts(root, stamp), "text/html; charset=utf-8", {}
        if head == "api" and rest.startswith("live/"):
            stamp = rest.removeprefix("live/").strip("/")
            self._check_name(stamp)
            since: dict[str, int] = {}
            for given in query.get("since", []):
                key, _, offset = given.rpartition(":")
                try:
                    since[key] = int(offset)
                except ValueError:
                    raise BadQuery(f"since={given!r}: expected RUN:OFFSET") from None
            state = live.session_state(root, stamp, since)
            if state is None:
                raise NotFound(f"no session {stamp!r}")
            return 200, json.dumps(state).encode("utf-8"), "application/json", {}
        raise NotFound("no such page")

    @staticmethod
    def _check_name(name: str) -> None:
        if not name or name.startswith(".") or any(c in name for c in "/\\\x00"):
            raise NotFound("no such session")

    def _inside(self, relative: str) -> Path:
        found = inside(self.server.root, relative)
        if found is None:
            raise NotFound("not in the archive")
        return found

    def _file(self, relative: str) -> tuple[int, bytes, str, dict[str, str]]:
        target = self._inside(relative)
        if not target.is_file():
            raise NotFound("not a file in the archive")
        kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if target.suffix in TEXT_TYPES:
            kind = "text/plain; charset=utf-8"
        elif kind.startswith("text/") or kind in ("application/json", "image/svg+xml"):
            kind += "; charset=utf-8"
        return 200, target.read_bytes(), kind, {}

    def _session(self, stamp: str) -> tuple[int, bytes, str, dict[str, str]]:
        self._check_name(stamp)
        folders = live.session_folders(self.server.root, stamp)
        if not folders:
            raise NotFound(f"no session {stamp!r}")
        state = live.session_state(self.server.root, stamp, {}) if self._running(folders) else None
        if state is not None and not state["over"]:
            return 200, livepage.live(stamp), "text/html", {}
        if len(folders) == 1 and (folders[0] / "report.html").is_file():
            where = f"/files/{folders[0].parent.name}/{stamp}/report.html"
            return 302, b"", "text/plain", {"Location": where}
        return 200, pages.session_index(stamp, folders), "text/html", {}

    @staticmethod
    def _running(folders: list[Path]) -> bool:
        return any(not (f / "comparison.json").is_file() for f in folders)


class Server(ThreadingHTTPServer):
    """A ThreadingHTTPServer that knows its archive root and how to filter runs."""

    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], root: Path, finder: Finder, verbose: bool = False
    ) -> None:
        super().__init__(address, Handler)
        self.root, self.finder, self.verbose = root.resolve(), finder, verbose

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}/"
