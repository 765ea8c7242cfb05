"""Properties of `expharness list`'s filters: parsing, and what a NAME means among runs.

Rows here are index rows as `Archive(root).runs()` gives them (params, final
metrics, stored values); see pytest_expharness/cli/filters.py for the rule.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from pytest_expharness.cli.filters import (
    MISSING,
    OPERATORS,
    RESULTS,
    SHOWN_NAMES,
    FilterError,
    Names,
    matches,
    parse_expression,
    resolve,
)

# a small vocabulary, upper case included, so that names collide: precedence, case, ambiguity
WORDS = ("lr", "LR", "loss", "elbo", "ELBO", "acc", "val", "train", "k", "results", "x_1")
PART = st.sampled_from(WORDS)
NAME = st.lists(PART, min_size=1, max_size=3).map("/".join)
ANY_NAME = st.from_regex(r"[A-Za-z_][A-Za-z0-9_./]{0,8}", fullmatch=True)
VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=2),
)
SOURCE = st.dictionaries(NAME, VALUE, max_size=5)
RESULT = st.dictionaries(NAME.map(lambda n: RESULTS + n), VALUE, max_size=4)


@st.composite
def rows(draw: Any) -> list[dict[str, Any]]:
    count = draw(st.integers(1, 4))
    return [
        {
            "params": draw(SOURCE),
            "metrics": draw(SOURCE),
            "results": {**draw(SOURCE), **draw(RESULT)},
        }
        for _ in range(count)
    ]


def first_holding(row: dict[str, Any], name: str) -> Any:
    """The old lookup, which a full name keeps: exact then upper case; params, metrics, stored."""
    for spelling in dict.fromkeys((name, name.upper())):
        for source in ("params", "metrics", "results"):
            if spelling in row[source]:
                return row[source][spelling]
    return MISSING


def same(a: Any, b: Any) -> bool:
    return a is b or a == b or (a != a and b != b)  # NaN is itself


# -- parsing ---------------------------------------------------------------------------


@given(ANY_NAME, st.sampled_from(sorted(OPERATORS)), st.integers(-(10**9), 10**9), st.text(" "))
def test_a_well_formed_expression_parses_to_its_parts(
    name: str, op: str, number: int, space: str
) -> None:
    parsed = parse_expression(f"{space}{name}{space}{op}{space}{number}{space}")
    assert parsed == (name, OPERATORS[op], number)


@given(st.text(max_size=60))
def test_any_text_parses_or_is_a_filter_error(text: str) -> None:
    try:
        name, compare, _ = parse_expression(text)
    except FilterError as error:
        assert str(error).startswith(f"filter {text!r}: ")
        assert "\n" not in str(error), "one line"
    else:
        assert name and compare in OPERATORS.values()


# -- what a NAME means -------------------------------------------------------------


@given(rows())
def test_every_name_a_run_holds_resolves_and_reads_as_before(found: list[dict[str, Any]]) -> None:
    names = Names.of(found)
    for name in names.every:
        key = resolve(name, names)
        for row in found:
            held = first_holding(row, name)
            if held is not MISSING:
                assert same(key.of(row), held), (name, row)


@given(rows())
def test_a_result_is_found_by_its_short_name_unless_a_full_name_is_the_reading(
    found: list[dict[str, Any]],
) -> None:
    names = Names.of(found)
    for key in names.stored:
        if not key.startswith(RESULTS):
            continue
        short = key[len(RESULTS) :]
        if short in names.every or short.upper() in names.every:
            continue  # a full name is the reading (the first property)
        resolved = resolve(short, names)
        for row in found:
            if key in row["results"]:
                assert same(resolved.of(row), row["results"][key])


@given(rows(), ANY_NAME)
def test_a_name_no_run_knows_is_an_error_naming_the_known_ones(
    found: list[dict[str, Any]], name: str
) -> None:
    names = Names.of(found)
    readings = {name, name.upper(), RESULTS + name, RESULTS + name.upper()}
    assume(not readings & names.every)
    ends = [
        k
        for k in names.stored
        if k.startswith(RESULTS) and k.endswith(("/" + name, "/" + name.upper()))
    ]
    assume(not ends)
    with pytest.raises(FilterError) as raised:
        resolve(name, names, f"{name}=1")
    message = str(raised.value)
    assert message.startswith(f"filter '{name}=1': no parameter, metric or result {name!r}")
    listed = message.split("; known: ", 1)[1]
    if not names.every:
        assert listed == "(none)"
    elif len(names.every) <= SHOWN_NAMES:
        assert listed.split(", ") == sorted(names.every, key=lambda n: (n.lower(), n))
    else:
        assert listed.endswith(f" ... and {len(names.every) - SHOWN_NAMES} more")


@given(PART, st.lists(PART, min_size=2, max_size=4, unique=True), VALUE)
def test_two_results_ending_alike_are_ambiguous_and_named(
    tail: str, heads: list[str], value: Any
) -> None:
    keys = [f"{RESULTS}{head}/{tail}" for head in heads]
    found = [{"params": {}, "metrics": {}, "results": dict.fromkeys(keys, value)}]
    with pytest.raises(FilterError) as raised:
        resolve(tail, Names.of(found))
    assert " or ".join(sorted(keys)) in str(raised.value)
    one = [{"params": {}, "metrics": {}, "results": {keys[0]: value}}]
    assert same(resolve(tail, Names.of(one)).of(one[0]), value), "one alone is found"


@given(rows(), st.sampled_from(sorted(OPERATORS)), VALUE)
def test_matching_never_raises(found: list[dict[str, Any]], op: str, value: Any) -> None:
    names = Names.of(found)
    for name in names.every:
        key = resolve(name, names)
        for row in found:
            assert matches(row, key, OPERATORS[op], value) in (True, False)
