"""comparison.md's tables without tabulate: the same bytes, a tenth of the time.

tabulate types every cell of every column several times over; for a 10,000-run
sweep that is most of the cost of comparison.md. `github` writes what
`tabulate(rows, headers, "github", floatfmt=".6g", missingval="",
disable_numparse=text_columns)` writes (tabulate 0.10), for the cells a
comparison table holds: None, text, ints and floats. Anything else (a bool,
text outside printable ASCII, where tabulate's width rules get subtle, a
table without rows) returns None and the caller asks tabulate.
tests/sweep/test_mdtable.py holds the two to the same output with hypothesis.
"""

from __future__ import annotations

from typing import Any

_SPECIAL = ("nan", "inf", "-inf")


def _printable(text: str) -> bool:
    return text.isascii() and text.isprintable()


def _afterpoint(text: str) -> int:
    """Digits after the point of a formatted number (tabulate's decimal alignment); -1: none."""
    if not text or text in _SPECIAL:
        return -1
    try:
        int(text)
        return -1
    except ValueError:
        pass
    pos = text.rfind(".")
    if pos < 0:
        pos = text.lower().rfind("e")
    return len(text) - pos - 1 if pos >= 0 else -1


def _column(values: list[Any], text: bool) -> tuple[list[str], bool] | None:
    """A column's cells as text and whether it is aligned as numbers; None if out of reach."""
    if text:
        cells = []
        for value in values:
            kind = type(value)
            if value is None:
                cells.append("")
            elif kind is str:
                if not _printable(value):
                    return None
                cells.append(value.strip())
            elif kind is int or kind is float:
                cells.append(str(value))
            else:
                return None
        return cells, False
    floats = False
    for value in values:
        kind = type(value)
        if kind is float:
            floats = True
        elif value is not None and kind is not int:
            return None
    if floats:
        try:
            return ["" if v is None else format(float(v), ".6g") for v in values], True
        except OverflowError:  # an int too large for a float: tabulate's own error
            return None
    numeric = any(v is not None for v in values)
    return ["" if v is None else str(v) for v in values], numeric


def github(rows: list[list[Any]], headers: list[str], text_columns: list[int]) -> str | None:
    """The table as tabulate's `github` format writes it, or None (see the module docstring)."""
    if not rows or not headers or any(len(row) != len(headers) for row in rows):
        return None
    if not all(type(h) is str and _printable(h) for h in headers):
        return None
    text = set(text_columns)
    columns: list[list[str]] = []
    heads: list[str] = []
    for i, header in enumerate(headers):
        found = _column([row[i] for row in rows], i in text)
        if found is None:
            return None
        cells, numeric = found
        if numeric:
            decimals = [_afterpoint(c) for c in cells]
            most = max(decimals)
            cells = [c + " " * (most - d) for c, d in zip(cells, decimals, strict=True)]
        width = max(max(map(len, cells)), len(header) + 2)
        if numeric:
            columns.append([c.rjust(width) for c in cells])
            heads.append(header.rjust(width))
        else:
            columns.append([c.ljust(width) for c in cells])
            heads.append(header.ljust(width))
    lines = ["| " + " | ".join(heads) + " |"]
    lines.append("|" + "|".join("-" * (len(h) + 2) for h in heads) + "|")
    lines.extend("| " + " | ".join(cells) + " |" for cells in zip(*columns, strict=True))
    return "\n".join(lines)
