"""Which file of the archive a request names: inside the root, or nothing.

A request path is decoded once (so `%2e%2e` is `..`), then refused when it
holds a `..` segment, a backslash, a NUL, or starts absolute; what is left is
resolved (symlinks followed) and must still lie inside the resolved root.
"""

from __future__ import annotations

import os
from pathlib import Path


def inside(root: Path, relative: str) -> Path | None:
    """Return the resolved path `relative` names below root, or None when it is not inside."""
    if "\x00" in relative or "\\" in relative or relative.startswith(("/", "~")):
        return None
    parts = [p for p in relative.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        return None
    base = root.resolve()
    try:
        target = base.joinpath(*parts).resolve(strict=True)
    except (OSError, RuntimeError, ValueError):  # missing, a symlink loop, a name too long
        return None
    if target != base and not target.is_relative_to(base):
        return None
    return target


def relative_to_root(root: Path, path: Path) -> str:
    """`path` (inside root) as a relative path with forward slashes."""
    return Path(os.path.relpath(path, root.resolve())).as_posix()
