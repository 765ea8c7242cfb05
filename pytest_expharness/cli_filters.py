"""Filters of `expharness list`: `lr<0.01`, `latent=vq`, parsed and never evaluated."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from typing import Any

EXPRESSION = re.compile(r"^\s*([A-Za-z_][\w./]*)\s*(<=|>=|!=|==|=|<|>)\s*(.+?)\s*$")
OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "=": operator.eq,
    "==": operator.eq,
    "!=": operator.ne,
}


class FilterError(ValueError):
    """A filter expression that cannot be read."""


def parse_expression(text: str) -> tuple[str, Callable[[Any, Any], bool], Any]:
    """Parse `name<op>value`; the value is read as YAML (never eval'd)."""
    from .params import read_value

    match = EXPRESSION.match(text)
    if match is None:
        raise FilterError(
            f"filter {text!r}: expected NAME<op>VALUE with op one of < <= > >= = != "
            "(for example lr<0.01 or latent=vq)"
        )
    name, op, raw = match.groups()
    if raw[0] in "<>=!":
        raise FilterError(f"filter {text!r}: one comparison, e.g. {name}{op}{raw.lstrip('<>=!')}")
    try:
        value = read_value(raw)
    except Exception as error:
        first = str(error).splitlines()[0]
        raise FilterError(f"filter {text!r}: the value is not valid YAML ({first})") from None
    return name, OPERATORS[op], value


MISSING = object()


def lookup(row: dict[str, Any], name: str) -> Any:
    """Return a run's parameter, final metric or result called name (`lr` finds `LR`)."""
    sources = (row["params"] or {}, row["metrics"] or {}, row["results"] or {})
    for source in sources:
        if name in source:
            return source[name]
    upper = name.upper()
    for source in sources:
        if upper in source:
            return source[upper]
    return MISSING


def matches(
    row: dict[str, Any], name: str, compare: Callable[[Any, Any], bool], value: Any
) -> bool:
    found = lookup(row, name)
    if found is MISSING:
        return False
    try:
        return bool(compare(found, value))
    except TypeError:  # e.g. a string parameter compared with a number
        return False
