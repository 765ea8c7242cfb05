"""Artifacts: files a run commits under its own `artifacts/` folder, written atomically."""

from __future__ import annotations

import io
import json
import os
import secrets
import weakref
from pathlib import Path, PurePath
from typing import IO, Any

from ..archive import layout
from ..archive.values import encode


def artifact_path(folder: Path, name: object, sub: str = layout.ARTIFACTS) -> Path:
    """Return the path of an artifact, refusing names that leave the artifacts folder."""
    if not isinstance(name, (str, os.PathLike)) or not str(name).strip():
        raise ValueError(f"artifact name {name!r}: expected a relative path such as 'out/a.json'")
    text = os.fspath(name)
    pure = PurePath(text)
    if pure.is_absolute() or pure.drive or pure.root or text.startswith(("/", "\\")):
        raise ValueError(f"artifact name {text!r} is absolute; use a path relative to artifacts/")
    if ".." in pure.parts or ".." in text.replace("\\", "/").split("/"):
        raise ValueError(f"artifact name {text!r} leaves artifacts/ ('..' is not allowed)")
    base = (folder / sub).resolve()
    target = (base / pure).resolve()
    if target == base or base not in target.parents:
        raise ValueError(f"artifact name {text!r} does not name a file inside artifacts/")
    return base / pure


def write(folder: Path, name: object, data: bytes, sub: str = layout.ARTIFACTS) -> Path:
    """Write bytes as an artifact (into folder/sub) atomically and return its path."""
    path = artifact_path(folder, name, sub)
    path.parent.mkdir(parents=True, exist_ok=True)
    layout.atomic_write_bytes(path, data)
    return path


def json_bytes(name: object, obj: Any) -> bytes:
    """Encode obj as JSON for commit_json, failing before anything is written."""
    return (json.dumps(encode(obj, f"commit_json({name!r})"), indent=2) + "\n").encode()


def figure_bytes(name: str | os.PathLike[str], fig: Any, **savefig: Any) -> tuple[str, bytes]:
    """Render a matplotlib figure; the name gets '.png' when it has no suffix."""
    name = os.fspath(name)
    if not hasattr(fig, "savefig"):
        raise TypeError(f"commit_fig({name!r}): expected a matplotlib figure, got {type(fig)}")
    suffix = PurePath(name).suffix.lstrip(".")
    if not suffix:
        name, suffix = name + ".png", "png"
    buffer = io.BytesIO()
    savefig.setdefault("bbox_inches", "tight")
    fig.savefig(buffer, format=suffix, **savefig)
    return name, buffer.getvalue()


class AtomicFile:
    """A file opened for writing in a temporary place, renamed into place on close."""

    def __init__(self, path: Path, mode: str, **kwargs: Any) -> None:
        self.path = path
        self._tmp = path.with_name(f".{path.name}.{secrets.token_hex(3)}.tmp")
        if ("a" in mode or "r" in mode) and path.exists():
            self._tmp.write_bytes(path.read_bytes())
        self._handle: IO[Any] = open(self._tmp, mode, **kwargs)  # noqa: SIM115

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)

    # Defined here, not reached through __getattr__, so that `exp.open(n).write(x)`
    # keeps this object (and so the file) alive until the write is done.
    def write(self, data: Any) -> int:
        return self._handle.write(data)

    def writelines(self, lines: Any) -> None:
        self._handle.writelines(lines)

    def read(self, size: int = -1) -> Any:
        return self._handle.read(size)

    def readline(self, size: int = -1) -> Any:
        return self._handle.readline(size)

    def __iter__(self) -> Any:
        return iter(self._handle)

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.discard()

    def close(self) -> None:
        """Close and move the file into place."""
        if not self._handle.closed:
            self._handle.close()
            os.replace(self._tmp, self.path)

    def __del__(self) -> None:
        # like a plain file, one dropped without close() still lands (CPython: at once)
        handle = self.__dict__.get("_handle")
        if handle is not None and not handle.closed:
            self.close()

    def discard(self) -> None:
        """Close and throw the partial file away."""
        if not self._handle.closed:
            self._handle.close()
        self._tmp.unlink(missing_ok=True)


OPEN_FILES: weakref.WeakSet[AtomicFile] = weakref.WeakSet()


def close_open_files(folder: Path) -> list[str]:
    """Close (and so commit) the artifact files of a run still open; return their names."""
    closed = []
    folder = folder.resolve()
    for handle in list(OPEN_FILES):
        if folder in handle.path.parents and not handle.closed:
            handle.close()
            closed.append(handle.path.name)
    return closed


def open_artifact(folder: Path, name: object, mode: str = "w", **kwargs: Any) -> Any:
    """Open an artifact; writing modes are atomic (the file appears on close)."""
    path = artifact_path(folder, name)
    if not any(flag in mode for flag in "wax+"):
        return open(path, mode, **kwargs)
    if "x" in mode and path.exists():
        raise FileExistsError(f"artifact {name!r} exists already")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = AtomicFile(path, mode.replace("x", "w"), **kwargs)
    OPEN_FILES.add(handle)
    return handle
