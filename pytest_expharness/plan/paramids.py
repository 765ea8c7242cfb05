"""Which parts of a test's id the user wrote: `pytest.param(..., id=...)` and `ids=[...]`.

A run id is made from the axes (`size=10,lr=0.1`), except that an id given by
hand stands for its axes (`small,lr=0.1`). pytest joins one id per parametrize
call into the test id and keeps no note of which it generated from the values
and which were written; nor does it keep a written id as written (it escapes
non-ASCII text: `数据` becomes `\\u6570\\u636e`). The parametrize marks still hold
both: for each mark, the parameter set whose values are the very objects the
callspec holds (pytest renumbers `callspec.indices` of direct arguments, so
the values, not the indices, find it) has the written id in its `id`
(pytest.param), else in the mark's `ids[index]`. When several sets hold the
same objects (`[1, 1]`), the callspec's id parts decide between their ids.

Not counted as written: ids an `ids=` callable returns (it is asked for every
value, so its ids are generated), `pytest.HIDDEN_PARAM`, an empty id, and any
parametrization that leaves no mark (metafunc.parametrize in a
pytest_generate_tests hook, such as --exp-sweep's and pytest-repeat's).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def explicit_ids(item: Any, axes: Mapping[str, Any]) -> dict[str, str | None]:
    """Map each axis with a written id to it (None for the other axes of its parameter set)."""
    callspec = getattr(item, "callspec", None)
    if callspec is None or not axes:
        return {}
    found: dict[str, str | None] = {}
    for mark in item.iter_markers("parametrize"):
        names, values = _arguments(mark)
        if not names or any(name not in callspec.params or name in found for name in names):
            continue
        given = [callspec.params[name] for name in names]
        label = _written_id(mark, values, given, getattr(callspec, "_idlist", ()))
        members = [name for name in axes if name in names]
        if label is None or not members:
            continue
        found[members[0]] = label
        found.update((name, None) for name in members[1:])
    return found


def _arguments(mark: Any) -> tuple[list[str], Any]:
    """The argument names and values a parametrize mark was given."""
    args = list(mark.args)
    names = args[0] if args else mark.kwargs.get("argnames")
    values = args[1] if len(args) > 1 else mark.kwargs.get("argvalues")
    if isinstance(names, str):
        return [n.strip() for n in names.split(",") if n.strip()], values
    if isinstance(names, (list, tuple)) and all(isinstance(n, str) for n in names):
        return list(names), values
    return [], values


def _is_param_set(entry: Any) -> bool:
    """Whether entry is what pytest.param returns (a ParameterSet; duck-typed across versions)."""
    return isinstance(entry, tuple) and getattr(type(entry), "_fields", None) == (
        "values",
        "marks",
        "id",
    )


def _written_id(mark: Any, values: Any, given: list[Any], idlist: Any) -> str | None:
    """The written id of the parameter set holding `given`, if it has one."""
    if not isinstance(values, Sequence) or isinstance(values, str):
        return None  # a generator pytest has consumed: nothing left to read
    labels = _labels_of(mark, values, len(given)).get(tuple(map(id, given)), [])
    if len(set(labels)) == 1:
        return labels[0]
    shown = [label for label in labels if label is not None and _shown(label) in idlist]
    return shown[0] if len(shown) == 1 else None


# id(mark) -> (mark, width, {ids of a parameter set's values: their labels}); a sweep of
# N points asks N times, so each mark's values are read once (N*N for big sweeps else)
_LABELS: dict[int, tuple[Any, int, dict[tuple[int, ...], list[str | None]]]] = {}


def _labels_of(
    mark: Any, values: Sequence[Any], width: int
) -> dict[tuple[int, ...], list[str | None]]:
    """Each parameter set's values (by identity) with the labels written for them."""
    cached = _LABELS.get(id(mark))
    if cached is not None and cached[0] is mark and cached[1] == width:
        return cached[2]
    ids = mark.kwargs.get("ids")
    listed = ids if isinstance(ids, Sequence) and not isinstance(ids, str) else ()
    found: dict[tuple[int, ...], list[str | None]] = {}
    for index, entry in enumerate(values):
        if _is_param_set(entry):
            chosen, label = tuple(entry.values), entry.id
        elif width == 1:
            chosen, label = (entry,), None
        elif isinstance(entry, (list, tuple)):
            chosen, label = tuple(entry), None
        else:
            continue
        if len(chosen) != width:
            continue
        if label is None and index < len(listed):
            label = listed[index]
        # bool is an int; pytest.HIDDEN_PARAM and None are no written id
        text = str(label) or None if isinstance(label, (str, int, float)) else None
        found.setdefault(tuple(map(id, chosen)), []).append(text)
    _LABELS[id(mark)] = (mark, width, found)
    return found


def _shown(label: str) -> str:
    """A written id as pytest shows it in the test id (non-ASCII text escaped)."""
    return label if label.isascii() else label.encode("unicode_escape").decode("ascii")
