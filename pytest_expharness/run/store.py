"""The run's nested data store (`exp["results/loss"] = v`); archive/values.py encodes it.

Values are checked when assigned, so a value that cannot be stored fails at the
assignment, naming its key, instead of producing an empty file at the end.
Reads give back the object that was stored (dict nodes are the store's own
copies); data.json holds its encoding, made again at every save.
"""

from __future__ import annotations

import threading
from typing import Any

from ..archive.values import encode, own_dicts


def split_key(key: object) -> list[str]:
    """Split a slash key into its parts, refusing empty parts."""
    if not isinstance(key, str) or not key:
        raise KeyError(f"exp[{key!r}]: keys are non-empty strings like 'results/final_loss'")
    parts = key.split("/")
    if any(not part for part in parts):
        raise KeyError(f"exp[{key!r}]: empty part in key")
    return parts


class DataStore:
    """Nested data addressed by slash keys.

    Values are checked when assigned and encoded when saved, so a list stored
    and then appended to is saved with its items.
    """

    def __init__(self) -> None:
        self.live: dict[str, Any] = {}
        self.lock = threading.Lock()
        self.dirty = False

    def __setitem__(self, key: str, value: Any) -> None:
        parts = split_key(key)
        encode(value, f"exp[{key!r}]")
        value = own_dicts(value)
        with self.lock:
            node = self.live
            for i, part in enumerate(parts[:-1]):
                child = node.get(part)
                if child is None:
                    child = node[part] = {}
                elif not isinstance(child, dict):
                    where = "/".join(parts[: i + 1])
                    raise KeyError(f"exp[{key!r}]: {where!r} holds a value, not a group")
                node = child
            node[parts[-1]] = value
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

    def snapshot(self, problems: list[str] | None = None) -> dict[str, Any]:
        """Return the JSON form of the store as it is now (marks it clean)."""
        with self.lock:
            self.dirty = False
            try:
                tree: dict[str, Any] = encode(
                    self.live, "exp", problems if problems is not None else []
                )
            except BaseException:
                self.dirty = True
                raise
        return tree
