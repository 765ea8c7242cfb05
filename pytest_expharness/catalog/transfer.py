"""Move runs between archives: `export` packs run folders into a .tar.gz,
`import` unpacks one into a root, keeping every run's id and relative path.

An import never overwrites: a run whose folder already exists is skipped
(and said so). Everything is checked before anything is written: members
(no absolute paths, no `..`, no links or devices), their number (at most
MAX_MEMBERS), the sizes they declare (at most `max_size` in all, default
4 GB: a 1 MB .tar.gz can hold gigabytes of zeros), and every run's
config.yaml and summary.json (they must read back). Then all runs are
unpacked into one hidden staging folder, counting the bytes written against
the same limit, and moved into place one rename each, so a refused or
interrupted import leaves no run, whole or half, behind.

An imported run is someone else's data: its config.yaml header gets
`imported_from: {archive, at}`, and nothing it records is ever used as an
import path (see sweep/sweepanalysis.py; `expharness analyze` asks for --trust).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
import re
import shutil
import tarfile
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from ..archive import layout

MANIFEST = "expharness-export.json"
FORMAT = 1
MAX_SIZE = 4 * 10**9
MAX_MEMBERS = 1_000_000
CHUNK = 1 << 20
UNITS: dict[str, int] = {"": 1, "b": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}
UNITS |= {f"{u}b": f for u, f in UNITS.items() if u not in ("", "b")}
UNITS |= {f"{u}ib": 1024 ** (i + 1) for i, u in enumerate("kmgt")}
_SIZE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)\s*", re.IGNORECASE | re.ASCII)


class TransferError(Exception):
    """An export or import that cannot be done as asked."""


def export_runs(
    folders: Sequence[Path], root: Path, target: Path, extra: Sequence[Path] = ()
) -> int:
    """Pack run folders (paths under root) into target; return the number of runs.

    The archive holds a manifest and each run under its path relative to the
    root; `extra` files (a session's comparison tables) travel beside them.
    """
    if target.exists():
        raise TransferError(f"{target} exists; give a new file name")
    if not target.name.endswith((".tar.gz", ".tgz")):
        raise TransferError(f"{target}: give a file name ending in .tar.gz")
    root = root.resolve()
    relatives: list[str] = []
    files: list[str] = []
    for group, paths in ((relatives, folders), (files, extra)):
        for path in paths:
            try:
                group.append(path.resolve().relative_to(root).as_posix())
            except ValueError:
                raise TransferError(f"{path} is not under the root {root}") from None
    manifest = json.dumps({"format": FORMAT, "runs": relatives, "files": files}, indent=2).encode()
    partial = target.with_name(target.name + ".partial")
    try:
        with tarfile.open(partial, "w:gz") as tar:
            info = tarfile.TarInfo(MANIFEST)
            info.size = len(manifest)
            info.mtime = int(os.path.getmtime(root))
            tar.addfile(info, io.BytesIO(manifest))
            for relative in [*relatives, *files]:
                tar.add(root / relative, arcname=relative, filter=_no_journal_lock)
        partial.replace(target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return len(relatives)


def _no_journal_lock(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    return None if info.name.endswith(".tmp") else info


@dataclass
class Imported:
    """What an import did."""

    added: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


TABLE_FILES = ("comparison.csv", "comparison.md", "comparison.json", "report.html")


def _safe(path: str) -> bool:
    pure = PurePosixPath(path)
    return (
        bool(path)
        and not pure.is_absolute()
        and ".." not in pure.parts
        and "\\" not in path
        and not any(part.startswith(".") for part in pure.parts)  # .cache, staging folders
    )


def _table_file(path: str) -> bool:
    """Whether an extra file is a session's table: <experiment>/<session>/comparison.* etc."""
    parts = PurePosixPath(path).parts
    if parts[:1] == (layout.TESTING_DIR,):
        parts = parts[1:]
    return len(parts) == 3 and parts[2] in TABLE_FILES


def _read_manifest(source: Path, text: bytes) -> tuple[set[str], set[str]]:
    """Return the runs and extra files a manifest names, refusing anything unsafe."""
    try:
        manifest = json.loads(text)
        if manifest.get("format") != FORMAT:
            raise TransferError(f"{source}: export format {manifest.get('format')}, need {FORMAT}")
        runs, files = manifest["runs"], manifest.get("files") or []
        if not all(isinstance(p, str) for p in [*runs, *files]):
            raise TypeError("paths must be strings")
    except TransferError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        raise TransferError(f"{source}: unreadable {MANIFEST} ({error!r})") from None
    for path in [*runs, *files]:
        if not _safe(path):
            raise TransferError(f"{source}: unsafe path in the manifest: {path!r}")
    for path in files:
        if not _table_file(path):
            raise TransferError(
                f"{source}: {path!r} is not a session's table (only "
                f"<experiment>/<session>/{{{','.join(TABLE_FILES)}}} travel beside runs)"
            )
    for path in files:
        if any(path.startswith(run + "/") for run in runs):
            raise TransferError(f"{source}: {path!r} lies inside a run of the export")
    return set(runs), set(files)


def _check_member(member: tarfile.TarInfo, runs: set[str], files: set[str]) -> str | None:
    """Return the run a member belongs to, or raise if the member is unsafe."""
    path = PurePosixPath(member.name)
    if member.name == MANIFEST or (member.name in files and member.isfile()):
        return None
    if path.is_absolute() or ".." in path.parts:
        raise TransferError(f"unsafe path in the archive: {member.name!r}")
    if not (member.isfile() or member.isdir()):
        raise TransferError(f"{member.name!r} is a link or device; refusing to import")
    for run in runs:
        if member.name == run or member.name.startswith(run + "/"):
            return run
    if any(run.startswith(member.name + "/") for run in runs) and member.isdir():
        return None  # a parent folder of a run (experiment or session)
    raise TransferError(f"{member.name!r} belongs to no run of the manifest")


def parse_size(text: str) -> int:
    """Return the number of bytes a size such as `500MB`, `2GB`, `1.5GiB` or `1000` means."""
    found = _SIZE.fullmatch(text)
    factor = UNITS.get(found.group(2).lower()) if found else None
    if found is None or factor is None:
        raise ValueError(
            f"{text!r} is not a size; give a number of bytes or one with a unit: "
            "500MB, 2GB, 1TB (powers of 1000) or 512MiB, 2GiB (powers of 1024)"
        )
    number = found.group(1)
    whole, _, fraction = number.partition(".")
    scale: int = 10 ** len(fraction)
    size = int(whole or 0) * factor + int(fraction or 0) * factor // scale
    if size <= 0:
        raise ValueError(f"{text!r}: the size must be more than 0 bytes")
    return size


def format_size(size: int) -> str:
    """Return a size for people: 973.0 kB, 954.2 MB, 4.0 GB."""
    for unit, factor in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if size >= factor:
            return f"{size / factor:.1f} {unit}"
    return f"{size} B"


def _too_big(source: Path, size: str, limit: int) -> TransferError:
    return TransferError(
        f"{source}: unpacks to {size}, more than the limit of {format_size(limit)}; "
        "nothing was imported (if you trust it, raise the limit with --max-size SIZE)"
    )


def _scan(source: Path, tar: tarfile.TarFile, max_size: int) -> list[tarfile.TarInfo]:
    """Read every member's header, refusing too many members or too many declared bytes.

    Stops at the first member past a limit, so a bomb is never read to its end.
    """
    members: list[tarfile.TarInfo] = []
    declared = 0
    try:
        for member in tar:
            members.append(member)
            if len(members) > MAX_MEMBERS:
                raise TransferError(
                    f"{source}: more than {MAX_MEMBERS:,} members (an export holds a few "
                    "files per run); nothing was imported"
                )
            declared += member.size if member.isfile() else 0
            if declared > max_size:
                raise _too_big(source, f"at least {format_size(declared)}", max_size)
    except (tarfile.TarError, OSError, EOFError) as error:
        raise TransferError(f"{source}: damaged archive ({error})") from None
    return members


class _Budget:
    """The bytes an import may still write; running out aborts it."""

    def __init__(self, source: Path, limit: int) -> None:
        self.source, self.limit, self.written = source, limit, 0

    def spend(self, count: int) -> None:
        self.written += count
        if self.written > self.limit:
            raise _too_big(self.source, f"more than {format_size(self.written)}", self.limit)


def _read_back(source: Path, tar: tarfile.TarFile, members: list[tarfile.TarInfo]) -> None:
    """Refuse the import unless each run's config.yaml and summary.json reads back."""
    import yaml

    from ..archive.yamltext import load

    for member in sorted(members, key=lambda m: m.offset_data):  # one forward pass
        try:
            handle = tar.extractfile(member)
            text = handle.read().decode("utf-8") if handle is not None else ""
            if member.name.endswith(layout.CONFIG):
                data = load(text)
                ok = isinstance(data, dict) and isinstance(data.get("experiment"), dict)
            else:
                ok = isinstance(json.loads(text), dict)
        except (tarfile.TarError, OSError, EOFError) as error:
            raise TransferError(f"{source}: damaged archive ({error})") from None
        except (ValueError, RecursionError, yaml.YAMLError) as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
            raise TransferError(
                f"{source}: {member.name} does not read back ({type(error).__name__}: "
                f"{first}); nothing was imported"
            ) from None
        if not ok:
            yaml_file = member.name.endswith(layout.CONFIG)
            what = "a mapping with an experiment header" if yaml_file else "a JSON object"
            raise TransferError(f"{source}: {member.name} is not {what}; nothing was imported")


def _unpack(
    tar: tarfile.TarFile, members: Iterable[tarfile.TarInfo], staging: Path, budget: _Budget
) -> None:
    """Write checked members under staging (files and folders only), counting every byte."""
    for member in members:
        target = staging / member.name
        if member.isdir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        source = tar.extractfile(member)
        with open(target, "wb") as out:
            while source is not None and (chunk := source.read(CHUNK)):
                budget.spend(len(chunk))
                out.write(chunk)
        os.utime(target, (member.mtime, member.mtime))


def _mark_imported(folder: Path, source: Path, at: str) -> None:
    from ..archive.locks import update_config

    def change(config: dict[str, Any]) -> None:
        config["experiment"]["imported_from"] = {"archive": source.name, "at": at}

    update_config(folder, change)


def import_runs(source: Path, root: Path, max_size: int = MAX_SIZE) -> Imported:
    """Unpack an export into root; existing runs are skipped, never overwritten."""
    if not source.is_file():
        raise TransferError(f"{source}: no such file")
    try:
        tar = tarfile.open(source, "r:gz")  # noqa: SIM115 (closed by the `with` below)
    except (tarfile.TarError, OSError) as error:
        raise TransferError(f"{source}: not a .tar.gz export ({error})") from None
    done = Imported()
    with tar:
        members = _scan(source, tar, max_size)
        try:
            head = tar.extractfile(MANIFEST) if MANIFEST in tar.getnames() else None
            text = head.read() if head is not None else None
        except (tarfile.TarError, OSError, EOFError) as error:
            raise TransferError(f"{source}: damaged archive ({error})") from None
        if text is None:
            raise TransferError(f"{source}: no {MANIFEST}; not made by `expharness export`")
        runs, files = _read_manifest(source, text)
        by_run: dict[str, list[tarfile.TarInfo]] = {run: [] for run in runs}
        tables: dict[str, tarfile.TarInfo] = {}
        for member in members:
            run = _check_member(member, runs, files)
            if run is not None:
                by_run[run].append(member)
            elif member.name in files and member.isfile():
                tables[member.name] = member
        heads = []
        for run in sorted(runs):
            named = {m.name: m for m in by_run[run] if m.isfile()}
            wanted = [named.get(f"{run}/{name}") for name in (layout.CONFIG, layout.SUMMARY)]
            if None in wanted:
                raise TransferError(f"{source}: {run} is not a run folder in the archive")
            heads += [m for m in wanted if m is not None]
        _read_back(source, tar, heads)
        done.skipped = [run for run in sorted(runs) if (root / run).exists()]
        pending = [run for run in sorted(runs) if run not in done.skipped]
        _place(tar, source, root, pending, by_run, tables, max_size, done)
    return done


def _place(
    tar: tarfile.TarFile,
    source: Path,
    root: Path,
    runs: list[str],
    by_run: dict[str, list[tarfile.TarInfo]],
    tables: dict[str, tarfile.TarInfo],
    max_size: int,
    done: Imported,
) -> None:
    """Unpack the runs and tables into one staging folder, then move each into place."""
    if not runs and not tables:
        return
    created = not root.exists()
    layout.create_root(root)  # an archive from now on: its marker (and .gitignore when new)
    staging = Path(tempfile.mkdtemp(prefix=".import-", dir=root))
    try:
        chosen = [m for run in runs for m in by_run[run]] + list(tables.values())
        try:
            chosen.sort(key=lambda m: m.offset_data)  # one forward pass through the stream
            _unpack(tar, chosen, staging, _Budget(source, max_size))
        except (tarfile.TarError, OSError, EOFError, ValueError) as error:
            message = f"{source}: could not unpack ({error}); nothing was imported"
            raise TransferError(message) from None
        at = dt.datetime.now().astimezone().isoformat(timespec="seconds")
        for run in runs:
            try:
                _mark_imported(staging / run, source, at)
            except OSError as error:
                message = f"{source}: could not mark {run} as imported ({error}); nothing imported"
                raise TransferError(message) from None
        for run in runs:
            destination = root / run
            destination.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.rename(staging / run, destination)  # fails rather than overwrite a run
                done.added.append(destination)
            except OSError as error:
                if not destination.exists():
                    raise TransferError(f"{run}: could not move into place ({error})") from None
                done.skipped.append(run)
        for name in sorted(tables):
            destination = root / name
            if layout.is_run_folder(destination.parent) or destination.exists():
                continue  # inside a run folder here (never write there), or someone's own table
            destination.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / name, destination)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if created and not done.added:
            with contextlib.suppress(OSError):  # a root this import made, left empty
                for name in (layout.MARKER, ".gitignore"):
                    (root / name).unlink(missing_ok=True)
                root.rmdir()
