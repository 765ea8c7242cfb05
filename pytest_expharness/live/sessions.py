"""Which sessions of an archive to watch: the running ones, one named, an experiment's latest.

A session is the set of sweep folders <root>[/_testing]/<experiment>/<stamp>
sharing a stamp. It is running while a run of it is in flight and its tables
are not written yet; only each experiment's newest RECENT sessions are looked
at for that, so finding them stays cheap on a big archive.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..archive import layout
from .runs import Reader, SweepState
from .text import IN_FLIGHT

RECENT = 3
STAMP = re.compile(r"^\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d_[0-9a-f]{4}$")


class NoSuchSession(Exception):
    """A watch target that names no session and no experiment of the archive."""


def _subdirs(folder: Path) -> list[str]:
    try:
        return sorted(e.name for e in os.scandir(folder) if e.is_dir())
    except OSError:
        return []


def experiment_folders(root: Path) -> list[Path]:
    """Return every experiment folder of the archive, testing ones too."""
    bases = (root, root / layout.TESTING_DIR)
    return [
        base / name for base in bases for name in _subdirs(base) if not name.startswith((".", "_"))
    ]


def stamps(experiment: Path) -> list[str]:
    """Return an experiment's session stamps, oldest first."""
    return [name for name in _subdirs(experiment) if STAMP.match(name)]


def running(sweeps: list[SweepState]) -> bool:
    """Tell whether a session is still going: a run in flight, and its tables not written."""
    in_flight = any(r.status in IN_FLIGHT for s in sweeps for r in s.runs)
    return in_flight and not all(s.ended for s in sweeps)


def running_sessions(root: Path, reader: Reader) -> list[str]:
    """Return the stamps of the sessions now running on this archive, oldest first."""
    candidates = {s for e in experiment_folders(root) for s in stamps(e)[-RECENT:]}
    return sorted(s for s in candidates if running(reader.session(root, s)))


def resolve(root: Path, target: str) -> str:
    """Return the session stamp a watch target names: a stamp, an experiment, or latest."""
    experiments = experiment_folders(root)
    if target == "latest":
        every = [s for e in experiments for s in stamps(e)]
        if not every:
            raise NoSuchSession(f"no session under {root}")
        return max(every)
    if any((e / target).is_dir() for e in experiments) and STAMP.match(target):
        return target
    found = [stamps(e) for e in experiments if e.name == target]
    if found and any(found):
        return max(s for group in found for s in group)
    names = ", ".join(sorted({e.name for e in experiments})[:10]) or "none"
    raise NoSuchSession(
        f"no session or experiment {target!r} under {root} (experiments: {names}; "
        "or give a session stamp, or latest)"
    )
