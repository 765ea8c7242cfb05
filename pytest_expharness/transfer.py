"""Move runs between archives: `export` packs run folders into a .tar.gz,
`import` unpacks one into a root, keeping every run's id and relative path.

An import never overwrites: a run whose folder already exists is skipped
(and said so). Each run is unpacked into a hidden staging folder first and
moved into place with one rename, so an interrupted import leaves no
half-written run behind. Members are checked before anything is written:
no absolute paths, no `..`, no links or devices.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from . import archive

MANIFEST = "expharness-export.json"
FORMAT = 1


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
    if parts[:1] == (archive.TESTING_DIR,):
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


def import_runs(source: Path, root: Path) -> Imported:
    """Unpack an export into root; existing runs are skipped, never overwritten."""
    if not source.is_file():
        raise TransferError(f"{source}: no such file")
    try:
        tar = tarfile.open(source, "r:gz")  # noqa: SIM115 (closed by the `with` below)
    except (tarfile.TarError, OSError) as error:
        raise TransferError(f"{source}: not a .tar.gz export ({error})") from None
    done = Imported()
    with tar:
        try:
            members = tar.getmembers()
            head = tar.extractfile(MANIFEST) if MANIFEST in tar.getnames() else None
        except (tarfile.TarError, OSError, EOFError) as error:
            raise TransferError(f"{source}: damaged archive ({error})") from None
        if head is None:
            raise TransferError(f"{source}: no {MANIFEST}; not made by `expharness export`")
        runs, files = _read_manifest(source, head.read())
        by_run: dict[str, list[tarfile.TarInfo]] = {run: [] for run in runs}
        for member in members:
            run = _check_member(member, runs, files)
            if run is not None:
                by_run[run].append(member)
        root.mkdir(parents=True, exist_ok=True)
        for run in sorted(runs):
            destination = root / run
            if destination.exists():
                done.skipped.append(run)
                continue
            destination.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=".import-", dir=destination.parent))
            try:
                if hasattr(tarfile, "data_filter"):
                    tar.extractall(staging, members=by_run[run], filter="data")
                else:  # Python before 3.10.12: the members were checked above
                    tar.extractall(staging, members=by_run[run])
                unpacked = staging / run
                if not archive.is_run_folder(unpacked):
                    raise TransferError(f"{run}: not a run folder in the archive")
                os.rename(unpacked, destination)  # fails rather than overwrite a new folder
                done.added.append(destination)
            except OSError as error:
                if destination.exists():
                    done.skipped.append(run)
                else:
                    raise TransferError(f"{run}: could not unpack ({error})") from None
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        for name in sorted(files):
            destination = root / name
            try:
                source_file = tar.extractfile(name)
            except KeyError:  # named in the manifest, missing from the archive
                continue
            if archive.is_run_folder(destination.parent):
                continue  # a table's name, yet inside a run folder here: never write there
            if source_file is not None and not destination.exists():
                destination.parent.mkdir(parents=True, exist_ok=True)
                archive.atomic_write_bytes(destination, source_file.read())
    return done
