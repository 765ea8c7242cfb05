"""Our names as MLflow keys: MLflow allows fewer characters in metric, param and tag keys.

MLflow keys may hold word characters, `_ - . /` and spaces (and `:` except on
Windows: we leave it out, so one mirror suits every server), must not be
longer than 250 characters, and must be a normalised path (no leading,
trailing or doubled `/`, no `.` or `..` part). `mlflow_key` maps any other
character to `_`, drops empty parts, writes a `.` part as `_` and a `..` part
as `__`, and cuts a long key to 240 characters plus a hash. Our `sys/`
resource series become `system/...`, where MLflow's UI shows system metrics.
Two of a run's names that map to one key stay apart (`Keys`): a name that is a
valid key already keeps it, the others get `-` and 8 hex digits of their
name's hash. The same name always maps to the same key, in every run.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

MAX_KEY = 250
_BAD = re.compile(r"[^\w./\- ]")
SYS_PREFIX, SYSTEM_PREFIX = "sys/", "system/"


def _hash(name: str) -> str:
    return hashlib.sha1(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def mlflow_key(name: str) -> str:
    """Return name as a valid MLflow key (itself when it is one already)."""
    parts = [_BAD.sub("_", part) for part in name.split("/") if part]
    parts = [{".": "_", "..": "__"}.get(part, part) for part in parts]
    key = "/".join(parts) or "_"
    if len(key) > MAX_KEY:
        key = key[: MAX_KEY - 10].rstrip("/") + "-" + _hash(name)
    return key


def metric_name(name: str) -> str:
    """Our series name as MLflow would show it: `sys/` resource series under `system/`."""
    return SYSTEM_PREFIX + name[len(SYS_PREFIX) :] if name.startswith(SYS_PREFIX) else name


class Keys:
    """A run's names mapped to distinct MLflow keys; names may come as points arrive."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        names = list(names)
        self._keys: dict[str, str] = {}
        self._owner: dict[str, str] = {}
        for name in names:  # names that are valid keys first: they keep their names
            if mlflow_key(name) == name:
                self[name]
        for name in names:
            self[name]

    def __getitem__(self, name: str) -> str:
        key = self._keys.get(name)
        if key is None:
            key = mlflow_key(name)
            if self._owner.get(key, name) != name:
                key = key[: MAX_KEY - 9].rstrip("/") + "-" + _hash(name)
            self._keys[name] = key
            self._owner[key] = name
        return key

    def mapping(self) -> dict[str, str]:
        """Every name seen and its key."""
        return dict(self._keys)
