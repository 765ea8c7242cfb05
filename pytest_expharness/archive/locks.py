"""Per-run locks: every read-modify-write of a run's files holds its folder's lock.

The lock is an exclusive flock on the run folder itself, opened read-only: it adds
no file to the folder (an export stays clean), and the kernel drops it however the
holder ends, so a killed `expharness tag` never leaves a run locked. Within one
thread the lock is re-entrant (a label that also reindexes, a gc that marks a run
crashed), since a second flock on a new descriptor of the same folder would wait for
itself. Where flock does not exist (Windows) the lock is a no-op.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from . import layout

WAIT = 30.0

_held: dict[tuple[int, str], int] = {}


class LockTimeout(OSError):
    """Another process held a run's lock for longer than the wait allows."""


@contextmanager
def run_lock(folder: Path, wait: float = WAIT) -> Iterator[None]:
    """Hold the lock of one run folder (waiting up to `wait` seconds for it)."""
    key = (threading.get_ident(), os.path.realpath(folder))
    if _held.get(key):  # this thread holds it already
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    fd = _acquire(key[1], wait)
    _held[key] = 1
    try:
        yield
    finally:
        del _held[key]
        os.close(fd)  # closing the descriptor releases the flock


def _acquire(path: str, wait: float) -> int:
    fd = os.open(path, os.O_RDONLY)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        return fd
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                message = f"{path} is locked by another process (waited {wait:.0f} s)"
                raise LockTimeout(message) from None
            time.sleep(0.01)
        except BaseException:
            os.close(fd)
            raise


def update_summary(folder: Path, change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    """Read summary.json, apply change to it, and replace the file, under the run's lock."""
    path = folder / layout.SUMMARY
    with run_lock(folder):
        summary: dict[str, Any] = json.loads(path.read_text("utf-8"))
        change(summary)
        layout.write_json(path, summary)
    return summary


def update_config(folder: Path, change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    """Read config.yaml, apply change to it, and replace the file, under the run's lock."""
    from .yamltext import dump, load

    path = folder / layout.CONFIG
    with run_lock(folder):
        config: dict[str, Any] = load(path.read_text("utf-8"))
        change(config)
        layout.atomic_write_text(path, dump(config))
    return config
