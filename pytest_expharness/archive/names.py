"""Names safe as one folder on Linux, macOS and Windows: run ids and every other safe_name.

A run id is made from the sweep axes (`latent=vq,beta=10`), or from the ids
a test's parametrize wrote by hand (`small,beta=10`: see plan/paramids.py), and is
bounded in characters (readable tables) and in UTF-8 bytes (file systems
count bytes, 255 at most). Letters, marks and digits of every script are
kept, in NFC; what a file system or a shell reads specially is replaced.
layout.py, where the layout lives, re-exports these names.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

MAX_ID = 80  # characters of a run id, for readable tables and paths
MAX_ID_BYTES = 200  # and UTF-8 bytes: file systems count bytes (255 at most), suffixes need room
MAX_NAME_BYTES = 200  # any other name made safe (an experiment's folder, a cache entry)

_KEPT = frozenset("._=+,-")  # besides letters, marks and digits of any script
_INVISIBLE = frozenset("\u034f\u115f\u1160\u3164\uffa0")  # a grapheme joiner, Hangul fillers
_WINDOWS_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL"]
    + [f"{device}{n}" for device in ("COM", "LPT") for n in "0123456789\u00b9\u00b2\u00b3"]
)


def safe_name(text: str, max_bytes: int = MAX_NAME_BYTES) -> str:
    """Return text made safe as one path component on Linux, macOS and Windows.

    Letters, combining marks and digits of any script are kept (in NFC, so one
    name has one spelling), and so are `. _ = + , -`; every other run of
    characters becomes `_`: separators, characters Windows forbids, control and
    format characters, whitespace, and punctuation a shell reads. A leading dot
    (a hidden name, `.` and `..`) gets a `_` before it, a trailing dot (which
    Windows drops) one after it; a Windows device name (CON, nul.txt) gets a `_`
    after its stem; the empty text becomes `_`. A name longer than max_bytes of
    UTF-8 is cut and ends with 8 hex digits of its hash. Safe text is returned
    unchanged (see is_safe_name).
    """
    if len(text) <= max_bytes and _PLAIN(text) and not _special(text):
        return text  # safe ASCII, the common case: a report names 10,000 runs' anchors
    return _bounded(_cleaned(text), None, max_bytes)


_PLAIN = re.compile(r"[A-Za-z0-9_=+,-][A-Za-z0-9._=+,-]*").fullmatch  # ASCII: one byte a char


def _special(text: str) -> bool:
    """Whether plain ASCII text still needs a change: a trailing dot, a Windows device name."""
    return text.endswith(".") or text.split(".")[0].upper() in _WINDOWS_RESERVED


def is_safe_name(text: str, max_bytes: int = MAX_NAME_BYTES) -> bool:
    """Whether text can be one path component on every common file system, as it is."""
    return (
        bool(text)
        and unicodedata.is_normalized("NFC", text)
        and all(_kept(char) for char in text)
        and not text.startswith(".")
        and not text.endswith(".")
        and text.split(".")[0].upper() not in _WINDOWS_RESERVED
        and len(text.encode("utf-8")) <= max_bytes
    )


def _kept(char: str) -> bool:
    if char in _KEPT:
        return True
    if char in _INVISIBLE or "\ufe00" <= char <= "\ufe0f" or "\U000e0100" <= char <= "\U000e01ef":
        return False  # letters and marks no one sees (variation selectors, fillers)
    return unicodedata.category(char)[0] in "LMN"


def _cleaned(text: str) -> str:
    out: list[str] = []
    replaced = False  # a run of unsafe characters becomes one `_`
    for char in unicodedata.normalize("NFC", text):
        if _kept(char):
            out.append(char)
            replaced = False
        elif not replaced:
            out.append("_")
            replaced = True
    cleaned = unicodedata.normalize("NFC", "".join(out))
    if cleaned.startswith("."):
        cleaned = "_" + cleaned
    if cleaned.endswith("."):
        cleaned += "_"
    stem = cleaned.split(".")[0]
    if stem.upper() in _WINDOWS_RESERVED:
        cleaned = f"{stem}_{cleaned[len(stem) :]}"
    return cleaned or "_"


def _bounded(text: str, max_chars: int | None, max_bytes: int) -> str:
    """Return text, or when it is too long its start and 8 hex digits of its hash."""
    size = len(text.encode("utf-8"))
    if size <= max_bytes and (max_chars is None or len(text) <= max_chars):
        return text
    import hashlib

    digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]
    budget = max(max_bytes - 9, 0)
    cut = min(len(text), budget, budget if max_chars is None else max_chars - 9)
    while len(text[:cut].encode("utf-8")) > budget:
        cut -= 1
    while 0 < cut < len(text) and unicodedata.category(text[cut])[0] == "M":
        cut -= 1  # never keep a letter without its combining marks
    return unicodedata.normalize("NFC", text[:cut]).rstrip("._,") + "-" + digest


def run_id_for(
    axes: dict[str, Any],
    fallback: str | None = None,
    *,
    explicit: Mapping[str, str | None] | None = None,
) -> str:
    """Return a readable run id made from the sweep axes, e.g. 'latent=vq,beta=10'.

    `explicit` maps an axis to the id its parametrize gave it by hand
    (`pytest.param(10, id="small")`, `ids=[...]`), which stands for it in the
    run id (`small,beta=10`); None for an axis whose id another axis of the
    same parameter set carries. When a value is not a plain scalar (a list, an
    object) and no explicit id stands for it, pytest's id of the test
    (`fallback`) is used instead. The id is always one safe path component
    (safe_name), of at most MAX_ID characters and MAX_ID_BYTES bytes.
    """
    if not axes:
        return "run"
    named = {name: label for name, label in (explicit or {}).items() if label != ""}
    parts: list[str] = []
    plain = True
    for name, value in axes.items():
        if name in named:
            label = named[name]
            if label is not None:
                parts.append(label)
            continue
        plain = plain and (isinstance(value, (str, int, float, bool)) or value is None)
        parts.append(f"{name}={_short(value)}")
    text = fallback if not plain and fallback else ",".join(parts)
    return _bounded(_cleaned(text), MAX_ID, MAX_ID_BYTES)


def _short(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)
    return str(value)
