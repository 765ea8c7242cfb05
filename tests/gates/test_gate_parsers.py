"""The parsers and writers of gates, property by property: bounds, tolerances, baseline files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from pytest_expharness.archive.names import run_id_for
from pytest_expharness.gates.baselines import entry, file_for, point_of, read, write
from pytest_expharness.gates.bounds import OPS, Bound, GateError, parse_bound, parse_tolerance
from pytest_expharness.gates.compare import IMPROVED, REGRESSED, WITHIN, Measured, compare

FINITE = st.floats(allow_nan=False, allow_infinity=False, width=64)


@given(st.sampled_from(list(OPS)), FINITE, st.sampled_from(["", " ", "  "]))
def test_a_written_bound_reads_back(op: str, value: float, gap: str) -> None:
    assert parse_bound(f"{op}{gap}{value!r}", "here") == Bound(op, value)


@given(st.text(max_size=20))
def test_anything_else_is_refused_with_where_it_was(text: str) -> None:
    try:
        bound = parse_bound(text, "experiment(expect=...)")
    except GateError as error:
        assert str(error).startswith("experiment(expect=...): ")
    else:
        assert bound.op in OPS and not math.isnan(bound.value)


@given(st.floats(min_value=0, max_value=1e9, allow_nan=False))
def test_tolerances_absolute_and_relative(amount: float) -> None:
    assert parse_tolerance(amount, "t").allowed(-4.0) == amount
    relative = parse_tolerance(f"{amount!r}%", "t")
    assert relative.relative and relative.allowed(-4.0) == pytest.approx(4.0 * amount / 100)


@pytest.mark.parametrize("bad", [-1, "-2%", "x%", float("nan"), float("inf"), True, None])
def test_bad_tolerances(bad: object) -> None:
    with pytest.raises(GateError, match="is no tolerance"):
        parse_tolerance(bad, "t")


@given(FINITE, FINITE, st.floats(min_value=0, max_value=1e6), st.sampled_from(["min", "max"]))
def test_a_verdict_mirrors_with_the_mode(base: float, now: float, tol: float, mode: str) -> None:
    tolerance = parse_tolerance(tol, "t")
    found = compare("m", Measured(now), Measured(base), tolerance, mode)
    other = compare(
        "m", Measured(now), Measured(base), tolerance, "max" if mode == "min" else "min"
    )
    mirror = {REGRESSED: IMPROVED, IMPROVED: REGRESSED, WITHIN: WITHIN}
    if math.isfinite(now - base):
        assert other["verdict"] == mirror[found["verdict"]]
        worse = (now - base) if mode == "min" else (base - now)
        assert (found["verdict"] == REGRESSED) == (worse > tol)


VALUES = st.dictionaries(
    st.text(min_size=1, max_size=8).filter(lambda s: not s.startswith("sys/")),
    st.floats(allow_infinity=True, width=64),
    max_size=4,
)


@example([{"a": 1e308}, {"a": 1e308}], 0)  # a mean that overflows is left out, not inf
@given(st.lists(VALUES, min_size=1, max_size=4), st.integers(min_value=-3, max_value=3))
def test_a_baseline_file_is_strict_json_that_reads_back(
    runs: list[dict[str, float]], axis: int
) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = file_for(Path(folder) / "test_m.py", "m/x", testing=False)
        point = entry({"a": axis}, runs)
        write(path, {"experiment": "m/x", "testing": False}, {"a=1": point})
        text = path.read_text("utf-8")
        json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in {path.name}"))
        back = read(path)
        assert back is not None and back["points"]["a=1"] == point
        for name, value in point["values"].items():  # kept only where every run had it, finite
            numbers = [run[name] for run in runs]
            assert all(math.isfinite(v) for v in numbers) and math.isfinite(value)
            assert value == pytest.approx(math.fsum(numbers) / len(numbers), rel=1e-9, abs=1e-300)
        if runs == [{"a": 1e308}, {"a": 1e308}]:
            assert "a" not in point["values"]
        assert path.parent.name == "baselines" and path.name == "m_x.json"


@given(
    st.dictionaries(
        st.from_regex(r"[a-z]{1,5}", fullmatch=True).filter(lambda s: s not in ("rep", "attempt")),
        st.one_of(st.integers(), st.text(max_size=5), st.booleans()),
        min_size=1,
        max_size=3,
    ),
    st.integers(min_value=0, max_value=20),
)
def test_the_point_of_a_repeat_is_its_run_id_without_the_repeat(
    axes: dict[str, object], repeat: int
) -> None:
    alone = run_id_for(axes)
    assert point_of(run_id_for({**axes, "rep": repeat})) == alone
    assert point_of(run_id_for({**axes, "rep": repeat, "attempt": 2})) == alone
    assert point_of(alone) == alone
