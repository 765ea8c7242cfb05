"""The search space reader: texts and Optuna objects, checked against declared types."""

from __future__ import annotations

import contextlib
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_expharness.plan.searchspace import Dist, SearchError, parse_cli, read

FLOATS = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False)


@st.composite
def dists(draw: Any) -> tuple[Dist, Any]:
    kind = draw(st.sampled_from(["float", "int", "choice"]))
    if kind == "choice":
        values = draw(st.one_of(
            st.lists(st.integers(-10**6, 10**6), min_size=1, max_size=6, unique=True).map(
                lambda v: (tuple(v), int)),
            st.lists(st.text("abcxyz_-", min_size=1, max_size=8), min_size=1, max_size=6,
                     unique=True).map(lambda v: (tuple(v), str)),
        ))  # fmt: skip
        return Dist("choice", choices=values[0]), values[1]
    if kind == "int":
        low = draw(st.integers(-(10**6), 10**6))
        high = draw(st.integers(low + 1, low + 10**6))
        log = low > 0 and draw(st.booleans())
        step = None if log else draw(st.none() | st.integers(2, 5))
        return Dist("int", low, high, log, step), int
    low, high = sorted(draw(st.lists(FLOATS, min_size=2, max_size=2, unique=True)))
    log = low > 0 and draw(st.booleans())
    step = None if log else draw(st.none() | st.floats(0.001, 10))
    return Dist("float", low, high, log, step), float


@given(dists())
def test_a_distribution_reads_back_from_its_own_text(pair: tuple[Dist, Any]) -> None:
    dist, declared = pair
    assert read("P", dist.text(), declared, "here") == dist


@given(st.text(max_size=60))
def test_any_text_is_a_distribution_or_a_search_error(text: str) -> None:
    try:
        dist = read("P", text, float, "here")
    except SearchError as error:
        assert "search P=" in str(error) or "here" in str(error)
        return
    assert dist.kind in ("float", "int", "choice")
    if dist.kind != "choice":
        assert dist.low is not None and dist.high is not None
        assert math.isfinite(dist.low) and dist.low < dist.high


@given(st.text("uniformlgchoice(),. 0123456789e-+intstep=", max_size=40))
def test_near_miss_texts_are_read_or_refused_cleanly(text: str) -> None:
    with contextlib.suppress(SearchError):
        read("P", text, float, "here")


def test_optuna_distributions_are_read_by_their_attributes() -> None:
    distributions = pytest.importorskip("optuna.distributions")
    assert read("P", distributions.FloatDistribution(1e-4, 1e-1, log=True), float, "w") == Dist(
        "float", 1e-4, 1e-1, True, None
    )
    assert read("P", distributions.IntDistribution(1, 9, step=2), int, "w") == Dist(
        "int", 1, 9, False, 2
    )
    assert read("P", distributions.CategoricalDistribution(["a", "b"]), str, "w") == Dist(
        "choice", choices=("a", "b")
    )
    assert read("P", [1, 2], int, "w") == Dist("choice", choices=(1, 2))


@pytest.mark.parametrize(
    ("text", "declared", "message"),
    [
        ("uniform(1)", float, "expected uniform"),
        ("uniform(0, inf)", float, "bounds must be finite"),
        ("uniform(0, x)", float, "'x' is not a number"),
        ("uniform(0, 1, log)", float, "uniform takes LOW, HIGH only"),
        ("float(1, 2, log, step=0.1)", float, "a log range takes no step"),
        ("int(0, 4, step=0)", int, "step must be above 0"),
        ("choice()", str, "choice needs values"),
        ("choice(a, a)", str, "is given more than once"),
        ("int(1, 3)", str, "an int range needs an int parameter"),
    ],
)
def test_bad_texts_say_what_is_wrong(text: str, declared: Any, message: str) -> None:
    with pytest.raises(SearchError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read("P", text, declared, "here")


def test_command_line_items_are_split_once_each() -> None:
    assert parse_cli(["LR=loguniform(1e-4, 1e-1)", "K=choice(a,b)"]) == {
        "LR": "loguniform(1e-4, 1e-1)",
        "K": "choice(a,b)",
    }
    with pytest.raises(SearchError, match="given twice"):
        parse_cli(["LR=uniform(0,1)", "LR=uniform(0,2)"])
    with pytest.raises(SearchError, match="expected NAME=DIST"):
        parse_cli(["lr=uniform(0,1)"])
