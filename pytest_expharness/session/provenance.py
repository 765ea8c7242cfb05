"""Provenance of a session: git state, host, user, interpreter, packages and pytest plugins.

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


def _git(cwd: Path, *args: str, strip: bool = True) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() if strip else done.stdout


NO_COMMITS = "no commits yet"
NOT_A_REPOSITORY = "not a git repository"


def git_state(cwd: Path, archive_root: Path | None = None) -> dict[str, Any]:
    """Return commit, branch and dirty flag of the repository at cwd, and a note without a commit.

    Untracked files count as dirty (an experiment never committed cannot be
    checked out again), except those inside an archive: this session's root,
    and every folder in the repository that carries the archive marker (or an
    index.sqlite), whoever wrote it. Changes to tracked files inside an
    archive do not count either.

    Without a commit, commit, branch and dirty flag are None and `git_note`
    says why (see no_commit_note); with one, `git_note` is None.
    """
    commit = _git(cwd, "rev-parse", "HEAD")
    if commit is None:
        return {
            "git_commit": None,
            "git_branch": None,
            "git_dirty": None,
            "git_note": no_commit_note(cwd),
        }
    branch = _git(cwd, "rev-parse", "--abbrev-ref", "HEAD")
    top = _git(cwd, "rev-parse", "--show-toplevel")
    return {
        "git_commit": commit,
        "git_branch": branch,
        "git_dirty": _dirty(Path(top), archive_root) if top else None,
        "git_note": None,
    }


def no_commit_note(cwd: Path) -> str:
    """Say why cwd has no commit: "no commits yet" in a work tree without one, else why not.

    "not a git repository" outside git; git that is not installed, or that
    refuses a repository another user owns (safe.directory), is named as such.
    """
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--is-inside-work-tree"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except FileNotFoundError:
        return "git is not installed"
    except (OSError, subprocess.SubprocessError):
        return NOT_A_REPOSITORY
    if done.returncode == 0 and done.stdout.strip() == "true":
        return NO_COMMITS
    if "dubious ownership" in done.stderr:
        return "git refuses the repository: another user owns it (see git config safe.directory)"
    return NOT_A_REPOSITORY


def head_commit(cwd: Path) -> str | None:
    """Return the commit HEAD names in the repository at cwd (None without one)."""
    return _git(cwd, "rev-parse", "HEAD")


def work_tree_top(cwd: Path) -> Path | None:
    """Return the top of the work tree holding cwd (None outside one)."""
    top = _git(cwd, "rev-parse", "--show-toplevel")
    return Path(top) if top else None


def _dirty(top: Path, archive_root: Path | None) -> bool | None:
    """Whether the work tree at top has a change outside every archive (None if git fails)."""
    changes = changed_paths(top, archive_root, limit=1)
    return None if changes is None else bool(changes)


def changed_paths(
    top: Path, archive_root: Path | None, limit: int | None = None
) -> list[str] | None:
    """Return the changes of the work tree at top outside every archive (None if git fails).

    Paths are relative to top, as `git status --porcelain` names them (with
    `limit`, the search stops after that many). `git status` names an
    untracked folder once (`out/`); a folder that holds an archive further
    down is searched for archive roots, which are then left out of a second
    status, so that what else it holds is seen (and named).
    """
    top = top.resolve()
    excluded: set[str] = set()
    if archive_root is not None:
        inside = _relative(archive_root, top)
        if inside:
            excluded.add(inside)
    archives = _ArchiveFolders(top)
    changes: dict[str, None] = {}  # in the order git names them, each once
    pending: list[str] = []
    for _ in range(_STATUS_PASSES):
        specs = [f":(top,exclude){path}" for path in sorted(excluded)]
        status = _git(
            top, "status", "--porcelain", "-z", "-unormal", "--", ":/", *specs, strip=False
        )
        if status is None:
            return None
        found: set[str] = set()
        pending = []
        for path, untracked in _changes(status):
            if archives.holds(path):
                continue
            below = archives.below(path) if untracked and path.endswith("/") else []
            if not set(below) - excluded:
                changes[path] = None  # a change, or an untracked folder beside its archives
                if limit is not None and len(changes) >= limit:
                    return list(changes)
                continue
            found.update(below)
            pending.append(path)
        if not found:
            return list(changes)
        excluded |= found
    changes.update(dict.fromkeys(pending))  # archives nested past every pass: the folder counts
    return list(changes)


_STATUS_PASSES = 3
_SEARCH_FOLDERS = 2000  # folders looked at for archives inside one untracked folder


def _relative(path: Path, top: Path) -> str | None:
    try:
        inside = path.resolve().relative_to(top).as_posix()
    except ValueError:  # outside the repository
        return None
    return inside if inside != "." else None


def _changes(status: str) -> list[tuple[str, bool]]:
    """Return (path, untracked) of each entry of `git status --porcelain -z`."""
    out: list[tuple[str, bool]] = []
    fields = iter(status.split("\0"))
    for entry in fields:
        if len(entry) < 4:
            continue
        code, path = entry[:2], entry[3:]
        out.append((path, code == "??"))
        if "R" in code or "C" in code:
            next(fields, None)  # the path it was renamed or copied from
    return out


class _ArchiveFolders:
    """Which folders of a work tree are archive roots, each looked at once."""

    def __init__(self, top: Path) -> None:
        self.top = top
        self._known: dict[str, bool] = {}

    def _is_root(self, relative: str) -> bool:
        known = self._known.get(relative)
        if known is None:
            from ..archive.layout import is_archive_root

            known = self._known[relative] = is_archive_root(self.top / relative)
        return known

    def holds(self, path: str) -> bool:
        """Whether path (relative to the top) is an archive root or lies inside one."""
        parts = path.rstrip("/").split("/")
        return any(self._is_root("/".join(parts[:n])) for n in range(1, len(parts) + 1))

    def below(self, folder: str) -> list[str]:
        """Return the archive roots inside an untracked folder (a bounded search)."""
        from ..archive.layout import INDEX, MARKER

        found: list[str] = []
        pending = [self.top / folder.rstrip("/")]
        for _ in range(_SEARCH_FOLDERS):
            if not pending:
                break
            current = pending.pop()
            try:
                with os.scandir(current) as entries:
                    listed = list(entries)
            except OSError:
                continue
            if any(e.name in (MARKER, INDEX) and e.is_file() for e in listed):
                found.append(current.relative_to(self.top).as_posix())
                continue
            pending.extend(
                Path(e.path) for e in listed if e.name != ".git" and e.is_dir(follow_symlinks=False)
            )
        return found


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


def pytest_details(config: Any) -> dict[str, Any]:
    """Return the pytest plugins installed as distributions, and pytest-randomly's seed if active.

    Plugins come as {distribution name: version} from the plugin manager, so
    only those this session loaded; the seed is the one pytest-randomly
    resolved in its pytest_configure (an int, also under xdist's controller).
    """
    plugins: dict[str, str] = {}
    for _plugin, dist in config.pluginmanager.list_plugin_distinfo():
        plugins[str(dist.metadata["name"])] = str(dist.version)
    details: dict[str, Any] = {"pytest_plugins": dict(sorted(plugins.items()))}
    if config.pluginmanager.hasplugin("randomly"):
        seed = config.getoption("randomly_seed", None)
        if isinstance(seed, int):
            details["randomly_seed"] = seed
    return details


def collect(
    rootdir: Path,
    command: list[str],
    archive_root: Path | None = None,
    pytest_config: Any = None,
) -> dict[str, Any]:
    """Return the session's provenance as plain JSON-able data.

    With the session's pytest config it also names the pytest plugins and
    pytest-randomly's seed (see pytest_details); gather it after
    pytest_configure, when pytest-randomly has chosen its seed.
    """
    found = {
        **git_state(rootdir, archive_root),
        "host": socket.gethostname(),
        "user": _user(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": package_versions(),
        "command": command,
    }
    if pytest_config is not None:
        found.update(pytest_details(pytest_config))
    return found
