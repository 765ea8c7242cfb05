"""comparison.md's tables (sweep/mdtable.py) hold to what tabulate writes, byte for byte."""

from __future__ import annotations

import string
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from tabulate import tabulate

from pytest_expharness.sweep import mdtable
from pytest_expharness.sweep.tabletext import MARKDOWN, markdown_cell, tabulated

ASCII = st.text(alphabet=string.printable[:95], max_size=12)  # printable ASCII, spaces too
NUMERIC_TEXT = st.sampled_from(["007", "1e5", "nan", "-inf", " 3 ", "1,000", "0x1f", "", "  "])
CELL = st.one_of(
    st.none(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    ASCII,
    NUMERIC_TEXT,
)
ANY_CELL = st.one_of(CELL, st.booleans(), st.text(max_size=5), st.integers(min_value=10**400))


def _tabulate(rows: list[list[Any]], headers: list[str]) -> str:
    text = [i for i in range(len(headers)) if any(isinstance(r[i], str) for r in rows)]
    return str(
        tabulate(
            rows,
            headers=headers,
            tablefmt=MARKDOWN,
            floatfmt=".6g",
            missingval="",
            disable_numparse=text or False,
        )
    )


@st.composite
def tables(draw: Any, cell: Any = CELL) -> tuple[list[list[Any]], list[str]]:
    columns = draw(st.integers(min_value=1, max_value=5))
    headers = draw(st.lists(ASCII, min_size=columns, max_size=columns))
    kinds = [draw(st.sampled_from(["int", "float", "mixed", "any"])) for _ in headers]
    by_kind = {
        "int": st.one_of(st.none(), st.integers(-(10**6), 10**6)),
        "float": st.one_of(st.none(), st.floats()),
        "mixed": st.one_of(st.none(), st.integers(-99, 99), st.floats(-1e3, 1e3)),
        "any": cell,
    }
    count = draw(st.integers(min_value=1, max_value=6))
    rows = [[draw(by_kind[kind]) for kind in kinds] for _ in range(count)]
    return rows, headers


@settings(max_examples=400, deadline=None)
@given(tables())
def test_github_is_tabulate_byte_for_byte(table: tuple[list[list[Any]], list[str]]) -> None:
    rows, headers = table
    text = [i for i in range(len(headers)) if any(isinstance(r[i], str) for r in rows)]
    found = mdtable.github(rows, headers, text)
    assert found is not None  # every cell here is one comparison.md holds: no fallback
    assert found == _tabulate(rows, headers)


@settings(max_examples=300, deadline=None)
@given(tables(ANY_CELL))
def test_what_github_declines_tabulate_writes(table: tuple[list[list[Any]], list[str]]) -> None:
    """Any cell at all: the fast path is tabulate's output or declines; the result is the same."""
    rows, headers = table
    try:
        expected: str | None = _tabulate(rows, headers)
    except OverflowError:
        expected = None
    text = [i for i in range(len(headers)) if any(isinstance(r[i], str) for r in rows)]
    found = mdtable.github(rows, headers, text)
    if found is not None:
        assert found == expected
    if expected is not None:
        assert tabulated(rows, headers, MARKDOWN) == expected


@settings(max_examples=200, deadline=None)
@given(tables())
def test_markdown_cells_render_as_tabulate(table: tuple[list[list[Any]], list[str]]) -> None:
    """As comparison.md renders them: cells through markdown_cell first (pipes, line breaks)."""
    rows, headers = table
    cells = [[markdown_cell(v) for v in row] for row in rows]
    heads = [str(markdown_cell(h)) for h in headers]
    assert tabulated(cells, heads, MARKDOWN) == _tabulate(cells, heads)


def test_a_table_without_rows_or_with_odd_text_goes_to_tabulate() -> None:
    assert mdtable.github([], ["a"], []) is None
    assert mdtable.github([["\u00e9t\u00e9"]], ["a"], [0]) is None
    assert mdtable.github([[True]], ["a"], []) is None
    assert tabulated([["\u00e9t\u00e9", 1.5]], ["a", "b"], MARKDOWN) == _tabulate(
        [["\u00e9t\u00e9", 1.5]], ["a", "b"]
    )


def test_numbers_align_on_their_point() -> None:
    found = mdtable.github([[1.5, "x"], [10.25, None], [None, "yy"]], ["value", "t"], [1])
    assert found == (
        "|   value | t   |\n"
        "|---------|-----|\n"
        "|    1.5  | x   |\n"
        "|   10.25 |     |\n"
        "|         | yy  |"
    )


def test_comparison_md_of_a_sweep_needs_no_tabulate(tmp_path: Any) -> None:
    """A sweep's comparison.md (table and pivot) is written by mdtable: tabulate is never loaded."""
    import subprocess
    import sys

    code = f"""
import sys
from pathlib import Path
from pytest_expharness.sweep.table import build
from pytest_expharness.sweep.tablefiles import markdown
sweep = {str(tmp_path / "exp" / "s")!r}
records = [
    {{"experiment": "exp", "session": "s", "run_id": f"lr={{lr}},b={{b}}", "sweep": sweep,
      "status": "completed", "axes": {{"lr": lr, "b": b}}, "metrics": {{"loss": lr * b + 0.5}},
      "results": {{"results/n": b}}, "order": i, "metric": "loss", "mode": "min"}}
    for i, (lr, b) in enumerate((lr, b) for lr in (0.1, 0.01) for b in (1, 2, 3))
]
text = markdown(build(records))
assert "|   lr " + chr(92) + " b |    1 |" in text, text  # the pivot, by mdtable too
assert "tabulate" not in sys.modules, "comparison.md went through tabulate"
print(text)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "Best run by loss (min): **lr=0.01,b=1**" in done.stdout
