"""The helper process of a big run: series/ and metrics.csv written while the run runs.

A run's loop holds its process's GIL, so formatting rows in a thread would only
slow the loop down; this process does it on another core. split.py starts it
once the run's journal passes seriesfiles.COLUMNAR_BYTES. It tails the journal
and writes each series' .npy records and CSV rows into the run's `.series-live`
folder as the points arrive. Its stdin is the run's pipe:

  run -> helper  {"end": size}     the journal is complete
  helper -> run  {"at": offset, "state": {id: [count, step]}}   where it stands
  run -> helper  {"go": offset}    format up to there, the run does the rest
  helper -> run  {"progress": offset} ... then {"done": {id: part}}

The end of its stdin before "end" (the run died, however it died) or a new
parent process makes it remove its folder and exit: it never outlives the run.
A helper that fails says {"error": ...} and exits; the run then writes the
files itself (split.py), so a helper can make finishing faster, never wrong.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

from .. import journal
from ..layout import JOURNAL
from .publish import Writer
from .sink import LIVE, Part, last_step

__all__ = ["LIVE", "main"]
POLL = 0.05  # seconds between looks at a journal that has nothing new
PROGRESS = 0.5  # seconds between progress lines once the run waits
SLICE = 16384  # points written between looks at the pipe


class Pipe:
    """Lines of JSON in and out on the run's pipe."""

    def __init__(self) -> None:
        self.buffer = b""

    def ready(self, timeout: float) -> bool:
        return b"\n" in self.buffer or bool(select.select([0], [], [], timeout)[0])

    def receive(self) -> dict[str, Any] | None:
        """Return the next message, or None at the end of stdin."""
        while b"\n" not in self.buffer:
            data = os.read(0, 65536)
            if not data:
                return None
            self.buffer += data
        line, self.buffer = self.buffer.split(b"\n", 1)
        message: dict[str, Any] = json.loads(line)
        return message

    def send(self, message: dict[str, Any]) -> None:
        data = memoryview((json.dumps(message) + "\n").encode())
        while data:
            data = data[os.write(1, data) :]


class Gone(Exception):
    """The run went away (its pipe closed, or this process has a new parent)."""


def serve(folder: Path, work: Path, parent: int, pipe: Pipe) -> bool:
    """Tail the journal until the run says it is complete, then do the share it gives.

    Return True once the run has the parts; False when the run went away first.
    The run's word is looked for between slices of a record, so that it waits
    a few milliseconds for the answer: `at` is the end of the record under way.
    """
    fd = os.open(folder / JOURNAL, os.O_RDONLY)
    reader = journal.Reader(fd)
    writer = Writer(work, "h", header=True)
    end: int | None = None

    def listen(sid: int | None, rest: Any) -> None:
        nonlocal end
        if end is not None or not pipe.ready(0):
            return
        message = pipe.receive()
        if message is None:
            raise Gone
        end = int(message["end"])
        state = {k: [s.part.count, s.part.step] for k, s in writer.sinks.items()}
        if sid is not None:  # where the record under way leaves its series
            part = writer.sinks[sid].part
            left = len(rest) // 3
            state[sid] = [part.count + left, last_step(rest, part.step)]
        pipe.send({"at": reader.offset, "state": state})

    def step(limit: int) -> bool:
        for sid, chunk in reader.read(limit, fast=True):
            target = writer.sink(sid, reader.names[sid], Part())
            for start in range(0, len(chunk), 3 * SLICE):
                listen(sid, chunk[start:])
                target.add(chunk[start : start + 3 * SLICE])
            return True
        if reader.bad:
            raise ValueError(f"journal: not a valid record at byte {reader.offset}")
        return False

    try:
        while end is None:
            listen(None, [])
            if os.getppid() != parent:
                raise Gone
            if end is None and not step(os.fstat(fd).st_size):
                pipe.ready(POLL)
        message = pipe.receive()
        if message is None:
            raise Gone
    except Gone:
        return False
    limit, told = int(message["go"]), time.monotonic()
    if not reader.offset <= limit <= end:
        raise ValueError(f"told to stop at {limit}, at {reader.offset} of {end}")
    while reader.offset < limit:
        if not step(limit):
            raise ValueError(f"journal: no complete record at byte {reader.offset}")
        if time.monotonic() - told > PROGRESS:
            pipe.send({"progress": reader.offset})
            told = time.monotonic()
    parts = writer.close()
    os.close(fd)
    pipe.send({"done": {str(sid): part.as_json() for sid, part in parts.items()}})
    return True


def main(argv: list[str]) -> int:
    """Serve one run: `FOLDER PARENT_PID`; exit 0 when it took the files over."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is the run's to handle
    folder, parent = Path(argv[0]), int(argv[1])
    work = folder / LIVE
    pipe, handed = Pipe(), False
    try:
        work.mkdir()
        handed = serve(folder, work, parent, pipe)
    except Exception as error:  # the run writes the files itself
        with contextlib.suppress(OSError):
            pipe.send({"error": f"{type(error).__name__}: {error}"})
    if not handed:  # the run gave up on us, or went away: nothing of ours is left behind
        shutil.rmtree(work, ignore_errors=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
