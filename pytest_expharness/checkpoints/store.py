"""A run's checkpoints: files in its `checkpoints/` folder and a manifest that says which are whole.

    checkpoints/
      manifest.json          {"format": 1, "checkpoints": [{"step", "file", "kind"}, ...]}
      step-000000000012.pkl  a pickled state (exp.checkpoint)
      step-000000000020.ckpt a file the framework wrote itself (exp.checkpoint_path)

The manifest is the truth: a checkpoint is in it only once its file is whole
(a pickle is written to a temporary file and renamed first; a path handed out
by `checkpoint_path` is taken in when the next checkpoint is asked for, or the
run ends). A run killed while writing leaves at most a file the manifest does
not name, which restore never returns. The newest `keep` stay; older ones go.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path
from typing import Any

from ..archive.layout import atomic_write_bytes

FOLDER = "checkpoints"
MANIFEST = "manifest.json"
PICKLED, FILE = "pickle", "path"
FORMAT = 1


class CheckpointError(ValueError):
    """A checkpoint that cannot be saved or read; the message says why."""


def _name(step: int, kind: str) -> str:
    return f"step-{step:012d}.{'pkl' if kind == PICKLED else 'ckpt'}"


def read_manifest(folder: Path) -> list[dict[str, Any]]:
    """The whole checkpoints of a run folder, oldest first ([] for none or a damaged manifest)."""
    try:
        data = json.loads((Path(folder) / FOLDER / MANIFEST).read_text("utf-8"))
        entries = data["checkpoints"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    good = [
        e
        for e in entries
        if isinstance(e, dict)
        and isinstance(e.get("step"), int)
        and e.get("kind") in (PICKLED, FILE)
        and isinstance(e.get("file"), str)
        and "/" not in e["file"]
        and not e["file"].startswith(".")
    ]
    return sorted(good, key=lambda e: e["step"])


def newest(folder: Path) -> dict[str, Any] | None:
    """The newest whole checkpoint of a run folder whose file is there, if any."""
    for entry in reversed(read_manifest(folder)):
        if (Path(folder) / FOLDER / entry["file"]).exists():
            return dict(entry)
    return None


class Checkpoints:
    """Saves, keeps and restores the checkpoints of one run folder."""

    def __init__(self, run_folder: Path, keep: int = 2) -> None:
        self.folder = Path(run_folder) / FOLDER
        self.keep = keep
        self.pending: dict[str, Any] | None = None  # a path handed out, not yet taken in

    def save(self, state: Any, step: int, keep: int | None = None) -> Path:
        """Pickle state as the checkpoint of `step`, atomically; return its file."""
        self.commit()
        self.folder.mkdir(exist_ok=True)
        try:
            data = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as error:
            raise CheckpointError(
                f"exp.checkpoint: the state cannot be pickled ({type(error).__name__}: {error}); "
                "save it yourself at exp.checkpoint_path(step)"
            ) from None
        path = self.folder / _name(step, PICKLED)
        atomic_write_bytes(path, data)
        self._take_in({"step": step, "file": path.name, "kind": PICKLED}, keep)
        return path

    def path(self, step: int, keep: int | None = None) -> Path:
        """A path for the framework to write the checkpoint of `step` to (taken in later)."""
        self.commit()
        self.folder.mkdir(exist_ok=True)
        path = self.folder / _name(step, FILE)
        self.pending = {"step": step, "file": path.name, "kind": FILE, "keep": keep}
        return path

    def commit(self) -> None:
        """Take in the path handed out last, if the framework wrote it."""
        pending, self.pending = self.pending, None
        if pending is not None and (self.folder / pending["file"]).exists():
            keep = pending.pop("keep", None)
            self._take_in(pending, keep)

    def restore(self) -> tuple[Any, int] | None:
        """(state, or the path of a framework's file; step) of the newest checkpoint, or None."""
        self.commit()
        entry = newest(self.folder.parent)
        if entry is None:
            return None
        path = self.folder / entry["file"]
        if entry["kind"] == FILE:
            return path, entry["step"]
        try:
            return pickle.loads(path.read_bytes()), entry["step"]
        except Exception as error:
            raise CheckpointError(
                f"exp.restore: {path} cannot be read back ({type(error).__name__}: {error})"
            ) from None

    def inherit(self, run_folder: Path) -> int | None:
        """Take the newest checkpoint of the run this one resumes (a hard link, else a copy)."""
        entry = newest(run_folder)
        if entry is None:
            return None
        self.folder.mkdir(exist_ok=True)
        source, target = Path(run_folder) / FOLDER / entry["file"], self.folder / entry["file"]
        try:
            if source.is_dir():
                shutil.copytree(source, target, copy_function=_link_or_copy)
            else:
                _link_or_copy(str(source), str(target))
        except OSError as error:
            raise CheckpointError(f"cannot take the checkpoint {source}: {error}") from None
        self._take_in(dict(entry), None)
        return int(entry["step"])

    def _take_in(self, entry: dict[str, Any], keep: int | None) -> None:
        keep = self.keep if keep is None else keep
        before = read_manifest(self.folder.parent)
        replaced = [e for e in before if e["step"] == entry["step"]]  # the same step saved again
        others = [e for e in before if e not in replaced]
        entries = sorted([*others, entry], key=lambda e: e["step"])
        kept, dropped = entries[-keep:], [*replaced, *entries[:-keep]]
        manifest = {"format": FORMAT, "checkpoints": kept}
        atomic_write_bytes(self.folder / MANIFEST, json.dumps(manifest, indent=1).encode())
        for old in dropped:  # only once the manifest no longer names them
            if old["file"] not in {e["file"] for e in kept}:
                _remove(self.folder / old["file"])


def _remove(path: Path) -> None:
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            os.unlink(path)
    except OSError:
        pass


def _link_or_copy(source: str, target: str) -> str:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
    return target


def check_keep(keep: Any) -> int:
    """Refuse a keep= that is no whole number of at least 1."""
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
        raise CheckpointError(f"keep={keep!r}: give a whole number of at least 1")
    return keep


def check_step(step: Any) -> int:
    """Refuse a step that is no whole number of at least 0."""
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise CheckpointError(f"step={step!r}: give a whole number of at least 0")
    return step
