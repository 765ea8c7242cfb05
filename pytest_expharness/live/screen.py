"""Drawing the live view in pytest's terminal without spoiling pytest's own output.

Screen stands in for the file of pytest's terminal writer, so every write of
pytest passes through it under one lock. On a terminal, the view is a block of
lines drawn just below pytest's last line: before pytest writes, the block is
erased (clear to the end of the screen), and after, drawn again and the cursor
moved back up to where pytest left it. Without a terminal the view's lines are
printed among pytest's, on lines of their own. The view writes to a copy of the
terminal's file descriptor taken when it starts (while pytest captures a
test's output, its own descriptor points into the capture).

We draw with two ANSI sequences rather than rich's Live: Live wraps sys.stdout,
but pytest writes through the file its terminal writer holds, and rich's
FileProxy holds pytest's dots back until a line ends.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from typing import IO, Any

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
CLEAR_BELOW = "\x1b[J"


class Screen:
    """pytest's terminal file, shared with the live view (install, show or emit, remove)."""

    def __init__(self, writer: Any, tty: bool) -> None:
        self._writer = writer
        self._file: IO[str] = writer._file
        self._tty = tty
        self._lock = threading.RLock()
        self._column = 0  # visible characters pytest wrote after its last line break
        self._shown: list[str] = []
        self._out: IO[str] = self._file
        with contextlib.suppress(OSError, ValueError, AttributeError):
            fd = os.dup(self._file.fileno())
            encoding = getattr(self._file, "encoding", None) or "utf-8"
            self._out = open(fd, "w", encoding=encoding, errors="replace", closefd=True)  # noqa: SIM115
        writer._file = self

    # -- what pytest's terminal writer calls ----------------------------------

    def write(self, text: str) -> int:
        """Write pytest's text above the view."""
        with self._lock:
            if self._shown:
                self._put(CLEAR_BELOW)
            written = self._file.write(text)
            self._file.flush()
            self._advance(text)
            if self._shown:
                self._draw()
            return written

    def flush(self) -> None:
        """Flush pytest's file."""
        self._file.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)

    # -- what the live view calls ---------------------------------------------

    def show(self, lines: list[str]) -> None:
        """Replace the view's block below pytest's output (a terminal)."""
        with self._lock:
            if self._shown:
                self._put(CLEAR_BELOW)
            self._shown = [self._fit(line) for line in lines]
            if self._shown:
                self._draw()

    def emit(self, lines: list[str]) -> None:
        """Print the view's lines among pytest's, each on a line of its own (no terminal)."""
        with self._lock:
            text = "\n".join(lines) + "\n"
            self._put(("\n" + text) if self._column else text)
            self._column = 0

    def remove(self) -> None:
        """Erase the view and give pytest its file back."""
        with self._lock:
            if self._shown:
                self._put(CLEAR_BELOW)
                self._shown = []
            if self._writer._file is self:
                self._writer._file = self._file
            if self._out is not self._file:
                with contextlib.suppress(OSError):
                    self._out.close()
                self._out = self._file

    # -- drawing ---------------------------------------------------------------

    def _put(self, text: str) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._out.write(text)
            self._out.flush()

    def _draw(self) -> None:
        up = len(self._shown)
        back = f"\r\x1b[{self._column}C" if self._column else "\r"
        self._put("\n" + "\n".join(self._shown) + f"\x1b[{up}A" + back)

    def _advance(self, text: str) -> None:
        plain = ANSI.sub("", text)
        cut = max(plain.rfind("\n"), plain.rfind("\r"))
        self._column = len(plain) - cut - 1 if cut >= 0 else self._column + len(plain)

    def _fit(self, line: str) -> str:
        width = getattr(self._writer, "fullwidth", 80) or 80
        return line if len(line) < width else line[: max(1, width - 2)] + "…"
