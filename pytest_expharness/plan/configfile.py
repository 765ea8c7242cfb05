"""--exp-config FILE: a YAML file of parameter overrides, read within bounds."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from .params import PARAM_NAME, OverrideError, _loader, _shown


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML file of parameter overrides (a mapping of KEY: value), within bounds."""
    from ..archive.safeyaml import CONFIG_FILE, YamlError, load_bounded

    what = f"--exp-config {path}"
    try:
        loaded = load_bounded(_config_text(path, what), what, CONFIG_FILE, _loader())
    except YamlError as error:
        raise OverrideError(str(error)) from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict) or not all(isinstance(k, str) for k in loaded):
        raise OverrideError(f"{what}: expected a mapping of PARAMETER: value")
    bad = [k for k in loaded if not PARAM_NAME.match(k)]
    if bad:
        raise OverrideError(f"{what}: {_shown(bad[0])} is not an UPPERCASE parameter name")
    return dict(loaded)


def _config_text(path: str | Path, what: str) -> str:
    """Return the text of a config file: a regular file of UTF-8 text, within the size limit.

    The file is checked with stat before it is opened, and opened without
    blocking: opening a FIFO for reading would wait for a writer forever.
    """
    from ..archive.safeyaml import CONFIG_FILE

    limit = CONFIG_FILE.chars
    data = b""
    try:
        info = os.stat(path)
        if stat.S_ISREG(info.st_mode) and info.st_size <= limit:
            flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
            with os.fdopen(os.open(path, flags), "rb") as file:
                info = os.fstat(file.fileno())  # the file opened, should it have been replaced
                data = file.read(limit + 1) if stat.S_ISREG(info.st_mode) else b""
    except OSError as error:
        raise OverrideError(f"{what}: cannot read it ({error.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        raise OverrideError(
            f"{what}: is {_kind(info.st_mode)}, not a regular file; "
            "give a YAML file of PARAMETER: value lines"
        )
    if info.st_size > limit or len(data) > limit:
        size = max(info.st_size, len(data))
        raise OverrideError(f"{what}: {size:,} bytes; a config file holds at most {limit:,}")
    if b"\x00" in data:
        utf16 = data[:2] in (b"\xff\xfe", b"\xfe\xff")
        hint = "; it looks like UTF-16: save it as UTF-8" if utf16 else ""
        raise OverrideError(f"{what}: holds NUL bytes, so it is binary, not YAML text{hint}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise OverrideError(
            f"{what}: not UTF-8 text (byte 0x{data[error.start]:02x} at offset {error.start}); "
            "save it as UTF-8"
        ) from None


def _kind(mode: int) -> str:
    kinds = [
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ]
    return next((name for test, name in kinds if test(mode)), "not a regular file")
