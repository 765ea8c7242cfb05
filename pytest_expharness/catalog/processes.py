"""Telling processes apart: a pid with its start time, host and pid namespace.

A pid alone names a process only while it lives: the kernel hands it to a new
process later. With the start time (field 22 of /proc/<pid>/stat, in clock ticks
since boot) a recorded process is recognised, or known to be gone, on this host.
A process of another host or pid namespace cannot be looked up from here.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any


def parse_stat(text: str) -> tuple[str, int] | None:
    """Return (state, start time in clock ticks) from the text of /proc/<pid>/stat.

    The command name (field 2) is in parentheses and may hold spaces and
    parentheses itself; the fields after its last `)` start with field 3.
    """
    _, paren, rest = text.rpartition(")")
    fields = rest.split()
    if not paren or len(fields) < 20:
        return None
    try:
        return fields[0], int(fields[19])
    except ValueError:
        return None


def proc_stat(pid: int) -> tuple[str, int] | None:
    try:
        return parse_stat(Path(f"/proc/{pid}/stat").read_text("utf-8", "replace"))
    except OSError:  # no such process, or no /proc on this system
        return None


def pid_namespace() -> str | None:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


_IDENTITY: dict[int, dict[str, Any]] = {}


def this_process() -> dict[str, Any]:
    """Return what tells this process apart: pid, host, start time and pid namespace."""
    pid = os.getpid()  # keyed by pid: a forked child is another process
    found = _IDENTITY.get(pid)
    if found is None:
        stat = proc_stat(pid)
        found = _IDENTITY[pid] = {
            "pid": pid,
            "host": socket.gethostname(),
            "pid_start": stat[1] if stat else None,
            "pid_ns": pid_namespace(),
        }
    return found


def pid_alive(pid: int) -> bool:
    """Return whether a process with this pid exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def is_local(identity: dict[str, Any]) -> bool:
    """Whether a recorded process can be looked up here (same host and pid namespace)."""
    here = this_process()
    namespace = identity.get("pid_ns")
    return identity.get("host") == here["host"] and namespace in (None, here["pid_ns"])


def gone_reason(pid: int, start: Any) -> str | None:
    """Why the process recorded as (pid, start) on this host is certainly gone; None if alive.

    A zombie (exited, not yet reaped) is gone; without a recorded start time a
    live pid counts as alive.
    """
    stat = proc_stat(pid)
    if stat is None:  # gone, hidden from us, or no /proc here: ask the kernel
        return None if pid_alive(pid) else "is gone"
    state, began = stat
    if state in ("Z", "X"):
        return "is gone"
    if isinstance(start, int) and not isinstance(start, bool) and start != began:
        return f"is gone (pid {pid} now belongs to a newer process)"
    return None


def alive(pid: Any, start: Any) -> bool:
    """Whether pid is a live process of this host that started at `start` (if known)."""
    if type(pid) is not int or not 0 < pid < 2**31:
        return False
    return gone_reason(pid, start) is None
