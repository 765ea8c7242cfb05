"""The pieces report.html is built of: escaping, cells, tables, links, data-run attributes."""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from ...archive import layout
from ...catalog.loading import RunRecord

REPORT = "report.html"


MAX_INLINE_IMAGE = 4_000_000  # bytes: a larger analysis image is linked from its file, not embedded


MAX_SHOWN_TEXT = 64_000  # bytes: a larger analysis text file is only linked


IMAGE_TYPES = {
    ".png": "image/png",
    ".gif": "image/gif",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".svg": "image/svg+xml",
    ".webp": "image/webp",
}


TEXT_SUFFIXES = (".json", ".txt", ".csv", ".md", ".yaml", ".yml", ".log", ".tsv")


class Raw(str):
    """HTML put into a cell as it is (already escaped)."""


def plain(value: Any) -> str:
    """A value as the page shows it, before escaping (None: nothing)."""
    if type(value) is str:
        return value
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value, default=str)
    return str(value)


_ESCAPED = re.compile("[&<>\"']").search  # what html.escape replaces


def _escape(text: str) -> str:
    """html.escape, skipped when there is nothing to replace (most cells: 10,000 runs' worth)."""
    return html.escape(text) if _ESCAPED(text) else text


def esc(value: Any) -> str:
    return _escape(value if type(value) is str else plain(value))


def text(value: Any) -> str:
    """A parameter value as a person reads it: None says None (an empty cell means no value)."""
    return "None" if value is None else esc(value)


def href(path: str) -> str:
    """A relative link, escaped for an attribute (characters a path may hold quoted)."""
    return html.escape(quote(path, safe="/=,;:@+$!*'()~&"))


@lru_cache(maxsize=256)
def href_part(name: str) -> str:
    """href of a name many links share; `/` is kept, so href(a/b) is href(a) + / + href(b)."""
    return href(name)


def runs_attr(keys: list[str]) -> str:
    """The attribute saying which runs an element stands for (see the module docstring)."""
    if len(keys) == 1:
        return f' data-run="{esc(keys[0])}"'
    return f' data-runs="{esc(json.dumps(keys))}"'


def cell(value: Any) -> str:
    kind = type(value)
    if kind is str:
        return f"<td>{_escape(value)}</td>"
    if kind is float:  # as plain() shows it; a number's text needs no escaping
        return f'<td class="num" data-v="{value!r}">{value:.6g}</td>'
    if kind is int:
        return f'<td class="num" data-v="{value!r}">{value}</td>'
    if isinstance(value, Raw):
        return f"<td>{value}</td>"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f'<td class="num" data-v="{value!r}">{esc(value)}</td>'
    return f"<td>{esc(value)}</td>"


def table_html(
    headers: list[str],
    rows: list[list[Any]],
    sortable: bool = False,
    classes: list[str] | None = None,
    attrs: list[str] | None = None,
) -> str:
    """A table; `attrs` are extra attributes of each body row (already escaped)."""
    css = classes or [""] * len(rows)
    more = attrs or [""] * len(rows)
    return "".join(table_pieces(headers, zip(rows, css, more, strict=True), sortable))


ROWS_A_PIECE = 500  # rows of a big table joined into one piece of the page


def table_pieces(
    headers: list[str], rows: Iterable[tuple[list[Any], str, str]], sortable: bool = False
) -> Iterator[str]:
    """A table piece by piece: each row given with its class and extra attributes (escaped)."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    kind = ' class="sortable"' if sortable else ""
    yield f"<div class='wide'><table{kind}><thead><tr>{head}</tr></thead><tbody>"
    body: list[str] = []
    for row, css, more in rows:
        start = f'<tr class="{css}"{more}>' if css else f"<tr{more}>"
        body.append(start + "".join(cell(v) for v in row) + "</tr>")
        if len(body) == ROWS_A_PIECE:
            yield "".join(body)
            body = []
    yield "".join(body) + "</tbody></table></div>"


def img(svg: bytes, alt: str) -> str:
    data = base64.b64encode(svg).decode("ascii")
    return f'<img alt="{esc(alt)}" src="data:image/svg+xml;base64,{data}">'


def anchor(run: RunRecord) -> str:
    head = run.config["experiment"]
    return "run-" + layout.safe_name(f"{head.get('name')}-{head.get('session')}-{run.run_id}")


def runs_text(n: int) -> str:
    return f"{n} run{'' if n == 1 else 's'}"


def param_name(column: str) -> str:
    """The parameter a column shows (sweep/table.py renames an axis named like a fixed column)."""
    return column.removesuffix(" (axis)")
