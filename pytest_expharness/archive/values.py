"""The JSON encoding of values: what data.json, summary.json and config.yaml can hold.

Values are checked when stored, so one that cannot be encoded fails where it
was stored, naming its key, instead of producing an empty file at the end.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import PurePath
from typing import Any

_PLAIN = (bool, int, float, str)


def encode(
    value: Any,
    where: str = "value",
    problems: list[str] | None = None,
    _open: set[int] | None = None,
) -> Any:
    """Return a JSON-able copy of value: numpy, Path, datetime and sets included.

    A value with no JSON form (or one that contains itself) raises TypeError
    naming `where`; given a `problems` list, it is stored as its repr and the
    problem noted there instead.
    """
    if value is None or type(value) in _PLAIN:
        return value
    if isinstance(value, (bool, int, float, str)):  # numpy float64, IntEnum: the plain value
        return _plain_scalar(value)
    if isinstance(value, (dict, list, tuple, set, frozenset)):
        inside = set() if _open is None else _open
        if id(value) in inside:
            return _unstorable(value, f"{where}: the value contains itself", problems)
        inside.add(id(value))
        try:
            return _encode_container(value, where, problems, inside)
        finally:
            inside.discard(id(value))
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    dtype = getattr(value, "dtype", None)
    if getattr(dtype, "kind", None) in tuple("biufUSMO") and hasattr(value, "tolist"):
        return encode(value.tolist(), where, problems, _open)
    message = (
        f"{where}: cannot store a {type(value).__module__}.{type(value).__qualname__}; "
        "store numbers, strings, lists, dicts, numpy arrays, Path, datetime or sets, "
        "or save it as an artifact with exp.commit_raw / exp.commit_json"
    )
    return _unstorable(value, message, problems)


def _plain_scalar(value: int | float | str) -> Any:
    """Return a numpy scalar, or an int, float or str subclass (an enum), as the plain type."""
    if type(value).__module__ == "numpy":
        return value.item()  # type: ignore[union-attr]
    if isinstance(value, str):
        return str.__str__(value)  # str() of a str enum would give its name
    return int(value) if isinstance(value, int) else float(value)


def _encode_container(value: Any, where: str, problems: list[str] | None, inside: set[int]) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, (str, int, float, bool)):
                message = f"{where}: dict key {key!r} is not a string or number"
                return _unstorable(value, message, problems)
            out[str(key)] = encode(item, f"{where}[{key!r}]", problems, inside)
        return out
    if isinstance(value, (list, tuple)):
        return [encode(item, f"{where}[{i}]", problems, inside) for i, item in enumerate(value)]
    items = [encode(item, where, problems, inside) for item in value]
    try:
        return sorted(items)
    except TypeError:
        return items


def _unstorable(value: Any, message: str, problems: list[str] | None) -> Any:
    if problems is None:
        raise TypeError(message)
    problems.append(message)
    return repr(value)


def own_dicts(value: Any) -> Any:
    """Copy the dict nodes of value, so storing under them never changes the caller's dicts."""
    if isinstance(value, dict):
        return {key: own_dicts(item) for key, item in value.items()}
    return value


def to_json(tree: dict[str, Any]) -> str:
    """Return the text of data.json."""
    return json.dumps(tree, indent=2) + "\n"


def scalars(tree: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Yield (slash key, value) for every scalar leaf of an encoded tree."""
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from scalars(value, path + "/")
        elif isinstance(value, (int, float, str, bool)) or value is None:
            yield path, value


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def encode_param(value: Any) -> Any:
    """Encode a parameter value for config.yaml; objects fall back to their repr.

    Memory addresses are left out of a repr ('<function mean>'): they differ from
    one process to the next, and resume compares these values.
    """
    try:
        return encode(value)
    except (TypeError, RecursionError):
        return _ADDRESS.sub("", repr(value))
