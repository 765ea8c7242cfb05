"""The experiment modules' sources as collected, and their hashes (a run's `source_hash`).

A module edited while a sweep runs must not change what later runs record:
their code/ copy and source hash are of the code collected.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

_SOURCES: dict[tuple[str, int, int], bytes] = {}


_CAPTURED: dict[str, bytes] = {}  # the session's experiment modules, as collected


def capture(paths: Iterable[str]) -> None:
    """Read every experiment module (modvariants.module_files, lazily) as collected.

    Cleared first, so a chain worked out meanwhile never reads an earlier session's bytes.
    """
    _CAPTURED.clear()
    for path in paths:
        if path not in _CAPTURED:
            try:
                _CAPTURED[path] = Path(path).read_bytes()
            except OSError:
                continue


def source(path: Path) -> bytes | None:
    """A module's bytes: as collected this session, else read (cached while unchanged)."""
    found = _CAPTURED.get(str(path))
    if found is not None:
        return found
    try:
        stat = path.stat()
    except OSError:
        return None
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    found = _SOURCES.get(key)
    if found is None:
        try:
            found = _SOURCES[key] = path.read_bytes()
        except OSError:
            return None
    return found


_HASHES: dict[str, tuple[bytes, str]] = {}  # path -> (the bytes hashed, their sha256)


def source_hash(path: str | None) -> str | None:
    """Return the sha256 of a module's source (see `source`), hashed once per content."""
    if path is None:
        return None
    data = source(Path(path))
    if data is None:
        return None
    done = _HASHES.get(path)
    if done is None or done[0] is not data:
        import hashlib

        done = _HASHES[path] = (data, hashlib.sha256(data).hexdigest())
    return done[1]


def modules_hash(modules: list[Any]) -> str | None:
    """The source hash of an experiment: its module's (the last), combined with its bases'.

    `modules` is modvariants.experiment_modules: a class variant's base modules
    or a module variant's chain, then the experiment's own module.
    """
    if not modules:
        return None
    module = modules[-1]
    mine = source_hash(getattr(module, "__file__", None))
    bases = [m for m in modules[:-1] if m is not module]
    if not bases or mine is None:
        return mine  # one module: the same hash as before variants existed
    import hashlib

    parts = [mine, *(source_hash(getattr(m, "__file__", None)) or "" for m in bases)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()
