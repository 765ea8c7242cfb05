"""What an importer reads and what it found: the neutral run, the folder rules, the report.

Every path is read inside the folder the user gave (`top`): a link is never
followed out of it (a link to a file inside it is read as that file, a link
to a folder is not walked), and each refusal is said in the report. A run's
identity (`source_id`) is a hash of its folder's real path and of the files
that describe it, kept in config.yaml as `imported_from`, so importing again
finds it and adds nothing.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..archive import layout

MAX_READ = 256 * 1024 * 1024  # bytes: a metadata or data file larger than this is not read


class ImportRefused(Exception):
    """A source the importer cannot read as asked (not such a folder, a bad pattern)."""


@dataclass
class SourceRun:
    """One run of another tool, as it will be written into our archive."""

    tool: str
    source: Path
    source_id: str
    experiment: str
    name: str  # the run's id when it has no axes (its folder's name at the source)
    params: dict[str, Any]
    status: str
    started: float | None = None
    ended: float | None = None
    description: str = ""
    series: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, Path] = field(default_factory=dict)  # name in artifacts/ -> source file
    code: dict[str, Path] = field(default_factory=dict)  # name in code/ -> source file
    log: list[tuple[str, str, str]] = field(default_factory=list)  # (stamp, LEVEL, text)
    reason: str | None = None
    error: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)
    axes: list[str] = field(default_factory=list)
    order: int = 0
    debug: bool = False
    session_hint: str | None = None  # a stable session name (a multirun's), else the import's
    main_metric: dict[str, str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # more of imported_from


@dataclass
class Report:
    """What an import did, for the lines it prints."""

    imported: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sessions: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The report as printed: each list under its heading, empty ones left out."""
        out: list[str] = []
        for title, items in (
            ("imported", self.imported),
            ("already imported (skipped)", self.already),
            ("could not read", self.unreadable),
            ("not followed (outside the folder, or a link)", self.refused),
            ("note", self.notes),
        ):
            if items:
                out.append(f"{title}: {len(items)}")
                out.extend(f"  {item}" for item in items)
        return out


def real_top(folder: Path, what: str) -> Path:
    """The real path of the folder given on the command line, refused if it is no folder."""
    if not folder.exists():
        raise ImportRefused(f"{folder}: no such folder")
    if not folder.is_dir():
        raise ImportRefused(f"{folder}: not a folder; give {what}")
    return Path(os.path.realpath(folder))


def inside(top: Path, path: Path) -> bool:
    """Whether path, links resolved, lies within top."""
    real = os.path.realpath(path)
    return real == os.fspath(top) or real.startswith(os.fspath(top) + os.sep)


def readable_file(top: Path, path: Path, report: Report) -> bool:
    """Whether path is a regular file to read: a link is read only when it stays inside top."""
    if path.is_symlink():
        target = os.readlink(path)
        if not inside(top, path):
            report.refused.append(f"{path} -> {target}: points outside {top}")
            return False
        if not os.path.isfile(path):
            report.refused.append(f"{path} -> {target}: not a file")
            return False
        return True
    return path.is_file()


def walk(top: Path, start: Path, report: Report) -> list[tuple[Path, list[str], list[str]]]:
    """os.walk from start, never into a linked folder (each said once in the report)."""
    found = []
    for folder, dirs, files in os.walk(start, followlinks=False):
        here = Path(folder)
        for name in list(dirs):
            link = here / name
            if link.is_symlink():
                dirs.remove(name)
                report.refused.append(f"{link} -> {os.readlink(link)}: a linked folder")
        dirs.sort()
        found.append((here, dirs, sorted(files)))
    return found


def files_under(top: Path, folder: Path, report: Report, skip: tuple[str, ...] = ()) -> list[Path]:
    """Every file to copy under folder (hidden ones included), relative names not in skip."""
    chosen = []
    for here, _, files in walk(top, folder, report):
        for name in files:
            path = here / name
            relative = path.relative_to(folder).as_posix()
            if relative in skip:
                continue
            if readable_file(top, path, report):
                chosen.append(path)
    return chosen


def read_bytes(path: Path) -> bytes:
    """A file's bytes, refused (OSError) past MAX_READ."""
    size = path.stat().st_size
    if size > MAX_READ:
        raise OSError(f"{size:,} bytes, more than the {MAX_READ:,} an import reads")
    return path.read_bytes()


def fingerprint(folder: Path, *parts: bytes) -> str:
    """The identity of a source run: its folder's real path and the bytes that describe it."""
    digest = hashlib.sha256(os.path.realpath(folder).encode("utf-8", "surrogateescape"))
    for part in parts:
        digest.update(b"\0" + hashlib.sha256(part).digest())
    return digest.hexdigest()


_SOURCE_ID = re.compile(r"source_id: \"?([0-9a-f]{64})")


def imported_ids(root: Path) -> dict[str, Path]:
    """The source_id of every run already imported into root (debug runs too), with its folder."""
    found: dict[str, Path] = {}
    if not root.is_dir():
        return found
    for config in sorted(root.glob(f"*/*/*/{layout.CONFIG}")):
        if config.parts[-4].startswith(".") or config.parts[-3].startswith("."):
            continue
        try:
            with open(config, encoding="utf-8", errors="replace") as handle:
                text = handle.read(1 << 20)
        except OSError:
            continue
        if "imported_from" in text:
            match = _SOURCE_ID.search(text)
            if match:
                found[match.group(1)] = config.parent
    return found


_PYCOMEX_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)[,.](\d{3}) - ?(.*)$")
_HYDRA_STAMP = re.compile(
    r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)[,.](\d{3})\]\[([^\]]*)\]\[([A-Z]+)\] - ?(.*)$"
)
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def log_entries(text: str) -> list[tuple[str, str, str]]:
    """run.log entries (stamp, LEVEL, text) from a PyComex or Hydra log (Python logging lines).

    A line without a stamp goes on below the entry before it, as a traceback does in run.log.
    """
    entries: list[tuple[str, str, str]] = []
    for line in text.splitlines():
        line = line.rstrip()
        pycomex = _PYCOMEX_STAMP.match(line)
        hydra = None if pycomex else _HYDRA_STAMP.match(line)
        if pycomex:
            entries.append((f"{pycomex[1]}.{pycomex[2]}", "INFO", pycomex[3]))
        elif hydra:
            level = hydra[4] if hydra[4] in LEVELS else "INFO"
            entries.append((f"{hydra[1]}.{hydra[2]}", level, f"{hydra[3]}: {hydra[5]}"))
        elif entries:
            stamp, level, before = entries[-1]
            entries[-1] = (stamp, level, f"{before}\n{line}")
        elif line:
            entries.append(("", "INFO", line))
    return entries
