"""The run's nested data store (`exp["results/loss"] = v`) and its JSON encoding.

Values are encoded when assigned, so a value that cannot be stored fails at the
assignment, naming its key, instead of producing an empty file at the end.
Reads give back the object that was stored; data.json holds the encoding.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from pathlib import PurePath
from typing import Any


class Unstorable(TypeError):
    """A value with no JSON encoding."""


def encode(value: Any, where: str = "value") -> Any:
    """Return a JSON-able copy of value: numpy, Path, datetime and sets included."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, (str, int, float, bool)):
                raise Unstorable(f"{where}: dict key {key!r} is not a string or number")
            out[str(key)] = encode(item, f"{where}[{key!r}]")
        return out
    if isinstance(value, (list, tuple)):
        return [encode(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, (set, frozenset)):
        items = [encode(item, where) for item in value]
        try:
            return sorted(items)
        except TypeError:
            return items
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    dtype = getattr(value, "dtype", None)
    if dtype is not None and hasattr(value, "tolist") and dtype.kind in "biufUSMO":
        return encode(value.tolist(), where)
    raise Unstorable(
        f"{where}: cannot store a {type(value).__module__}.{type(value).__qualname__}; "
        "store numbers, strings, lists, dicts, numpy arrays, Path, datetime or sets, "
        "or save it as an artifact with exp.commit_raw / exp.commit_json"
    )


def split_key(key: object) -> list[str]:
    """Split a slash key into its parts, refusing empty parts."""
    if not isinstance(key, str) or not key:
        raise KeyError(f"exp[{key!r}]: keys are non-empty strings like 'results/final_loss'")
    parts = key.split("/")
    if any(not part for part in parts):
        raise KeyError(f"exp[{key!r}]: empty part in key")
    return parts


class DataStore:
    """Nested data addressed by slash keys, with a JSON mirror kept in step."""

    def __init__(self) -> None:
        self.live: dict[str, Any] = {}
        self.encoded: dict[str, Any] = {}
        self.lock = threading.Lock()
        self.dirty = False

    def __setitem__(self, key: str, value: Any) -> None:
        parts = split_key(key)
        try:
            encoded = encode(value, f"exp[{key!r}]")
        except RecursionError:
            raise Unstorable(f"exp[{key!r}]: the value refers to itself") from None
        with self.lock:
            live, enc = self.live, self.encoded
            for i, part in enumerate(parts[:-1]):
                if part in live and not isinstance(live[part], dict):
                    where = "/".join(parts[: i + 1])
                    raise KeyError(f"exp[{key!r}]: {where!r} holds a value, not a group")
                live = live.setdefault(part, {})
                enc = enc.setdefault(part, {})
            live[parts[-1]] = value
            enc[parts[-1]] = encoded
            self.dirty = True

    def __getitem__(self, key: str) -> Any:
        node: Any = self.live
        for part in split_key(key):
            if not isinstance(node, dict) or part not in node:
                raise KeyError(key)
            node = node[part]
        return node

    def __contains__(self, key: object) -> bool:
        try:
            self[key]  # type: ignore[index]
        except KeyError:
            return False
        return True

    def dump(self) -> str:
        """Return the JSON text of the store and mark it clean."""
        with self.lock:
            self.dirty = False
            return json.dumps(self.encoded, indent=2) + "\n"


def scalars(tree: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Yield (slash key, value) for every scalar leaf of an encoded tree."""
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from scalars(value, path + "/")
        elif isinstance(value, (int, float, str, bool)) or value is None:
            yield path, value
