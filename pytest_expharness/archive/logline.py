"""The format of a run.log entry, for every writer: `<date> <time.ms> <LEVEL> <text>`.

LEVEL is one of LEVELS; a text of several lines (a traceback) goes on below
its first line. The run writes its entries through run/log.py while it runs;
what writes to a run.log afterwards (an error after the run, a note of the
controller) appends with `append_entry`, in the same format.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from . import layout

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def stamp() -> str:
    """The local time that starts an entry, to the millisecond."""
    return dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def entry(level: str, text: str) -> str:
    """One entry of run.log, with its newline."""
    return f"{stamp()} {level} {text}\n"


def append_entry(folder: Path, level: str, text: str) -> None:
    """Append an entry to a run folder's run.log (for a run whose own log is closed)."""
    with open(folder / layout.LOG, "a", encoding="utf-8") as log:
        log.write(entry(level, text))
