"""The run's side of its helper process: start it, share the rest at the end, join the parts.

At the end the journal is complete. The helper, which wrote the series up to
where it stands (`at`), goes on to a record boundary `go` chosen so that both
processes end together: the run reads [at, go) only for each series' count and
last step (unpickling, about a fifth of the cost of writing), and writes
[go, end) itself, its .npy records in place in the helper's files and its rows
in CSV parts of its own. `seriesfiles.publish` then joins the parts in the
kernel (copy_file_range). Anything wrong with the helper (dead, killed, an
error, no word for STALL seconds) and `finish` returns None after stopping it
and removing its folder: the caller writes the files itself, as without one.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import os
import select
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from .. import journal
from ..layout import JOURNAL
from ..metricsfile import Columns
from .publish import Entry, Writer, csv_part, publish
from .sink import LIVE, Part, last_step

STALL = 10.0  # seconds without a word from the helper before the run gives up on it
SHARE = 0.52  # of what is left at the end, the helper's part (the run also reads that part)
MIN_SPLIT = 1 << 20  # bytes of journal left under which the helper does it all
_CODE = (
    "import sys; sys.path.insert(0, sys.argv.pop(1)); "
    "from pytest_expharness.archive.seriesio.helper import main; sys.exit(main(sys.argv[1:]))"
)


class Helper:
    """A running helper process of one run."""

    def __init__(self, folder: Path, process: subprocess.Popen[bytes]) -> None:
        self.folder = folder
        self.process = process
        self._buffer = b""

    @classmethod
    def start(cls, folder: Path) -> Helper | None:
        """Start a helper for the run in folder; None where it cannot help (one core)."""
        try:
            if len(os.sched_getaffinity(0)) < 2:
                return None
        except AttributeError:  # not Linux
            return None
        shutil.rmtree(folder / LIVE, ignore_errors=True)
        root = str(Path(__file__).resolve().parents[3])
        try:
            process = subprocess.Popen(
                [sys.executable, "-I", "-c", _CODE, root, str(folder), str(os.getpid())],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                close_fds=True,
            )
        except OSError:
            return None
        return cls(folder, process)

    def stop(self) -> None:
        """Kill the helper, wait for it, and remove its folder."""
        self.process.kill()
        self.process.wait()
        self._close()
        shutil.rmtree(self.folder / LIVE, ignore_errors=True)

    def _close(self) -> None:
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):  # a helper gone with words unread
                    pipe.close()

    def finish(self, size: int) -> dict[str, Columns] | None:
        """Write series/ and metrics.csv with the helper; None (helper stopped) if it failed."""
        try:
            columns = self._finish(size)
        except Exception:
            self.stop()
            return None
        except BaseException:
            self.stop()
            raise
        self.process.wait()
        self._close()
        return columns

    def _send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps(message) + "\n").encode())
        self.process.stdin.flush()

    def _receive(self) -> dict[str, Any]:
        """Return the helper's next message other than progress; raise if it has none."""
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        while True:
            while b"\n" not in self._buffer:
                if not select.select([fd], [], [], STALL)[0]:
                    raise TimeoutError(f"no word from the helper in {STALL} s")
                data = os.read(fd, 1 << 20)
                if not data:
                    raise EOFError("the helper ended")
                self._buffer += data
            line, self._buffer = self._buffer.split(b"\n", 1)
            message: dict[str, Any] = json.loads(line)
            if "error" in message:
                raise RuntimeError(f"the helper failed: {message['error']}")
            if "progress" not in message:
                return message

    def _finish(self, size: int) -> dict[str, Columns]:
        self._send({"end": size})
        work = self.folder / LIVE
        fd = os.open(self.folder / JOURNAL, os.O_RDONLY)
        try:
            scan = journal.Reader(fd)
            named: dict[int, int] = {}  # series id -> offset of the record naming it
            ends: list[int] = []  # offset after each record
            before = scan.offset
            for sid, chunk in scan.read(size, load=False):
                if chunk is not None:
                    named[sid] = before
                ends.append(before := scan.offset)
            if scan.bad or scan.offset != size:
                raise ValueError(f"journal: ends at byte {scan.offset} of {size}")
            reply = self._receive()
            at = int(reply["at"])
            state = {int(sid): (int(c), int(s)) for sid, (c, s) in reply["state"].items()}
            go = size
            if size - at >= MIN_SPLIT:
                go = ends[min(bisect.bisect_left(ends, at + SHARE * (size - at)), len(ends) - 1)]
            self._send({"go": go})
            counted = journal.Reader(fd, at)
            counted.names = scan.names
            for sid, chunk in counted.read(go, fast=True):
                count, step = state.get(sid, (0, -1))
                state[sid] = (count + len(chunk) // 3, last_step(chunk, step))
            mine = Writer(work, "f", header=not any(off < go for off in named.values()))
            rest = journal.Reader(fd, go)
            rest.names = scan.names
            for sid, chunk in rest.read(size, fast=True):
                mine.sink(sid, scan.names[sid], Part(*state.get(sid, (0, -1)))).add(chunk)
            ours = mine.close()
        finally:
            os.close(fd)
        theirs = {int(sid): Part.from_json(p) for sid, p in self._receive()["done"].items()}
        entries = []
        for sid in sorted(named, key=named.__getitem__):
            parts = [p for p in (theirs.get(sid), ours.get(sid)) if p is not None]
            if len(parts) == 2 and parts[0].count != parts[1].start:
                raise ValueError(f"series {scan.names[sid]!r}: parts do not meet")
            csvs = [csv_part(work, tag, sid) for tag, p in (("h", theirs), ("f", ours)) if sid in p]
            entries.append(Entry(scan.names[sid], parts, csvs))
        return publish(self.folder, work, entries)
