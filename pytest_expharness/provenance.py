"""Provenance of a session: git state, host, user, interpreter and package versions.

Gathered once per session (git costs tens of milliseconds), by the controller
under xdist and handed to the workers, otherwise on the first run.
"""

from __future__ import annotations

import getpass
import os
import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

KEY_PACKAGES = ("pytest-expharness", "pytest", "pytest-xdist", "numpy", "matplotlib", "pyyaml")


def _git(cwd: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_state(cwd: Path, archive_root: Path | None = None) -> dict[str, Any]:
    """Return commit, branch and dirty flag of the repository at cwd (all None outside git).

    Untracked files count as dirty (an experiment never committed cannot be
    checked out again), except those inside the archive root itself.
    """
    commit = _git(cwd, "rev-parse", "HEAD")
    if commit is None:
        return {"git_commit": None, "git_branch": None, "git_dirty": None}
    branch = _git(cwd, "rev-parse", "--abbrev-ref", "HEAD")
    top = _git(cwd, "rev-parse", "--show-toplevel")
    exclude: list[str] = []
    if archive_root is not None and top:
        try:
            inside = archive_root.resolve().relative_to(Path(top).resolve()).as_posix()
            exclude = ["--", f":(top,exclude){inside}"]
        except ValueError:  # the archive lies outside the repository
            exclude = []
    status = _git(cwd, "status", "--porcelain", "--untracked-files=normal", *exclude)
    return {
        "git_commit": commit,
        "git_branch": branch,
        "git_dirty": bool(status) if status is not None else None,
    }


def package_versions(names: tuple[str, ...] = KEY_PACKAGES) -> dict[str, str | None]:
    """Return installed versions of the named distributions (None when missing)."""
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USER")


def collect(rootdir: Path, command: list[str], archive_root: Path | None = None) -> dict[str, Any]:
    """Return the session's provenance as plain JSON-able data."""
    return {
        **git_state(rootdir, archive_root),
        "host": socket.gethostname(),
        "user": _user(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": package_versions(),
        "command": command,
    }
