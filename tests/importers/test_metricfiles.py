"""The metrics files import-hydra reads: what is written reads back, anything else is refused."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_expharness.importers.metricfiles import MetricsError, parse

FLOATS = st.floats(allow_nan=False, allow_infinity=False, width=64)
NAMES = st.text(min_size=1, max_size=12).filter(lambda n: n == n.strip() and "\0" not in n)
SERIES = st.dictionaries(
    NAMES,
    st.lists(st.tuples(st.integers(-(10**6), 10**6), FLOATS), min_size=1, max_size=8),
    max_size=5,
)


def _csv(rows: list[list[Any]]) -> str:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue()


@given(SERIES, st.booleans())
def test_a_long_csv_reads_back(series: dict[str, list[tuple[int, float]]], timed: bool) -> None:
    head = ["step", "name", "value", *(["time"] if timed else [])]
    rows = [[s, n, repr(v), *([1.5] if timed else [])] for n, pts in series.items() for s, v in pts]
    found, notes = parse("m.csv", _csv([head, *rows]))
    assert found == series and notes == []


@given(
    st.lists(NAMES.filter(lambda n: n.lower() != "epoch"), min_size=1, max_size=4, unique=True),
    st.lists(st.lists(st.one_of(st.none(), FLOATS), min_size=4, max_size=4), max_size=6),
    st.booleans(),
)
def test_a_wide_csv_reads_back(names: list[str], table: list[list[Any]], stepped: bool) -> None:
    rows = [row[: len(names)] for row in table]
    head = (["epoch"] if stepped else []) + names
    lines = [
        [*([10 * i] if stepped else []), *("" if v is None else repr(v) for v in row)]
        for i, row in enumerate(rows)
    ]
    expected: dict[str, list[tuple[int, float]]] = {}
    for i, row in enumerate(rows):
        for name, value in zip(names, row, strict=True):
            if value is not None:
                expected.setdefault(name, []).append((10 * i if stepped else i, value))
    if not stepped and [n.lower() for n in names[:3]] == ["step", "name", "value"]:
        return  # that header is the long form
    found, _ = parse("curve.CSV", _csv([head, *lines]))
    assert found == expected


JSON_TREES = st.recursive(
    st.one_of(FLOATS, st.integers(-(10**9), 10**9), st.lists(FLOATS, min_size=1, max_size=5)),
    lambda inner: st.dictionaries(
        NAMES.filter(lambda n: "/" not in n), inner, min_size=1, max_size=3
    ),
    max_leaves=10,
)


def _flat(tree: Any, prefix: str = "") -> dict[str, list[tuple[int, float]]]:
    out: dict[str, list[tuple[int, float]]] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}/"))
        elif isinstance(value, list):
            out[f"{prefix}{key}"] = [(i, float(v)) for i, v in enumerate(value)]
        else:
            out[f"{prefix}{key}"] = [(0, float(value))]
    return out


@given(st.dictionaries(NAMES.filter(lambda n: "/" not in n), JSON_TREES, max_size=4))
def test_json_reads_back_with_slash_names(tree: dict[str, Any]) -> None:
    found, notes = parse("facts.json", json.dumps(tree))
    assert found == _flat(tree) and notes == []


@given(st.text(max_size=200), st.sampled_from(["x.json", "x.csv"]))
def test_any_text_reads_or_is_refused_with_a_metrics_error(text: str, name: str) -> None:
    try:
        parse(name, text)
    except MetricsError as error:
        assert str(error).startswith(f"{name}: ")


@pytest.mark.parametrize(
    ("name", "text", "said"),
    [
        (
            "m.csv",
            "epoch,loss\n0,0.5\n1,high\n",
            "m.csv: line 3: 'high' in column 'loss' is not a number",
        ),
        (
            "m.csv",
            "step,name,value\n1.5,loss,2\n",
            "m.csv: line 2: step '1.5' is not a whole number",
        ),
        ("m.csv", "epoch,loss\n0,1,2\n", "m.csv: line 2: 3 cells, need 2"),
        ("m.csv", "", "m.csv: no header line"),
        ("m.json", "[1, 2]", "m.json: a JSON object of metric names is needed"),
        ("m.txt", "loss 1", "m.txt: not a .json or .csv file"),
    ],
)
def test_bad_files_say_where(name: str, text: str, said: str) -> None:
    with pytest.raises(MetricsError) as raised:
        parse(name, text)
    assert str(raised.value).startswith(said)


def test_text_in_json_is_no_metric_and_said() -> None:
    found, notes = parse("f.json", '{"loss": 0.5, "model": "mlp", "ok": true}')
    assert found == {"loss": [(0, 0.5)]}
    assert notes == [
        "f.json: 'model' is no number or list of numbers; not a metric",
        "f.json: 'ok' is no number or list of numbers; not a metric",
    ]
