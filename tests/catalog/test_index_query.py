"""Filters answered by SQL (the vals table), and the incremental reindex, against their oracles.

The oracle of a filter is the Python evaluator `expharness list` used before
(cli/filters.py: Names.of, resolve, matches over every row); the oracle of an
incremental reindex is a full one.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pytest_expharness.catalog.index import FILE, open_index
from pytest_expharness.catalog.indexrows import COLUMNS, upsert
from pytest_expharness.catalog.loading import Archive
from pytest_expharness.cli import main as cli
from pytest_expharness.cli.filters import (
    OPERATORS,
    FilterError,
    Names,
    matches,
    op_text,
    resolve,
)

from conftest import XDIST_MODES

WORDS = ("lr", "LR", "loss", "elbo", "results/elbo", "results/val/elbo", "results/acc", "k")
VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(st.characters(blacklist_categories=["Cs"]), max_size=4),
    st.lists(st.integers(-3, 3), max_size=2),
)
SOURCE = st.dictionaries(st.sampled_from(WORDS), VALUE, max_size=4)
FILTER_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(allow_nan=True),
    st.text(st.characters(blacklist_categories=["Cs"]), max_size=2),
    st.lists(st.integers(-3, 3), max_size=2),
)


def index_row(n: int, params: Any, metrics: Any, results: Any, tags: list[str]) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update(
        path=f"e/s/run{n}", run_id=f"run{n}", experiment="e", session="s", status="completed",
        started_unix=float(n), tags=json.dumps(tags), params=json.dumps(params),
        metrics=json.dumps(metrics), results=json.dumps(results), testing=False, attempt=1,
    )  # fmt: skip
    return row


def oracle(rows: list[dict[str, Any]], tests: list[tuple[str, str, Any]]) -> list[str] | str:
    """The old answer: run ids newest first, or the error's text."""
    names = Names.of(rows)
    try:
        keys = [(resolve(name, names), OPERATORS[op], value) for name, op, value in tests]
    except FilterError as error:
        return str(error)
    found = [r for r in rows if all(matches(r, *key) for key in keys)]
    return [r["run_id"] for r in sorted(found, key=lambda r: -r["started_unix"])]


def by_sql(root: Path, tests: list[tuple[str, str, Any]], limit: int) -> tuple[Any, int]:
    archive = Archive(root)
    with archive.reading():
        count, held = archive.names()
        names = Names.held(count, held)
        try:
            keys = [(resolve(name, names), OPERATORS[op], value) for name, op, value in tests]
        except FilterError as error:
            return str(error), 0
        conditions = [(key.candidates(names), op_text(op), value) for key, op, value in keys]
        found = archive.runs(conditions=conditions, limit=limit)
    return [r["run_id"] for r in found.rows], found.total


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(SOURCE, SOURCE, SOURCE), min_size=1, max_size=6),
    st.lists(
        st.tuples(
            st.sampled_from((*WORDS[:5], "acc", "val/elbo")),
            st.sampled_from(sorted(OPERATORS)),
            FILTER_VALUE,
        ),
        min_size=1,
        max_size=2,
    ),
    st.sampled_from([0, 1, 3]),
)
@example(runs=[({}, {}, {"lr": None})] * 2, tests=[("lr", "!=", [])], limit=1)  # total, not page
def test_the_sql_answer_is_the_python_answer(
    runs: list[tuple[Any, Any, Any]], tests: list[tuple[str, str, Any]], limit: int
) -> None:
    rows = [index_row(n, p, m, {**r}, []) for n, (p, m, r) in enumerate(runs)]
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        conn = open_index(root)
        upsert(conn, rows)
        conn.close()
        loaded = Archive(root).runs().rows  # the rows as the index gives them back
        expected = oracle(loaded, tests)
        got, total = by_sql(root, tests, limit)
    if isinstance(expected, str):
        assert got == expected
    else:
        assert got == (expected[:limit] if limit else expected)
        assert total == len(expected)


def test_a_filter_is_compiled_to_parameterised_sql_and_python_sees_only_matches(
    tmp_path: Path,
) -> None:
    rows = [index_row(n, {"LR": n / 100, "LATENT": "vq" if n % 3 else "none"}, {}, {}, ["t"])
            for n in range(300)]  # fmt: skip
    conn = open_index(tmp_path)
    upsert(conn, rows)
    conn.close()
    archive = Archive(tmp_path)
    statements: list[str] = []
    with archive.reading():
        assert archive._conn is not None
        archive._conn.set_trace_callback(statements.append)
        found = archive.runs(
            tag="t", conditions=[([(0, "LR")], "<", 0.5), ([(0, "LATENT")], "=", "vq")], limit=10
        )
    selects = [s for s in statements if s.startswith("SELECT r.")]
    assert len(selects) == 1, statements
    # the trace shows the bound values in place: the WHERE, not Python, picks the rows
    assert "FROM vals WHERE source = 0 AND key = 'LR' AND kind = 1 AND val < 0.5" in selects[0]
    assert "key = 'LATENT' AND kind = 2 AND val = 'vq'" in selects[0] and "LIMIT 10" in selects[0]
    assert [r["run_id"] for r in found.rows] == [f"run{n}" for n in range(49, 29, -1) if n % 3][:10]
    assert found.total == len([n for n in range(50) if n % 3])
    hostile = "vq'); DELETE FROM runs; --"  # a value is bound, never spliced into the SQL
    assert archive.runs(conditions=[([(0, "LATENT")], "=", hostile)]).rows == []
    assert len(archive.runs()) == 300


SWEEP = """
import pytest

@pytest.mark.parametrize("x", [1, 2, 3, 4])
def test_fit(exp, x):
    exp.track("loss", float(x))
    exp["elbo"] = -x
"""


def dump(root: Path) -> list[tuple[Any, ...]]:
    """Every row and val of the index file, signatures aside."""
    with sqlite3.connect(root / FILE) as conn:
        keep = [c for c in COLUMNS if c != "signature"]
        runs = conn.execute(f"SELECT {', '.join(keep)} FROM runs ORDER BY path").fetchall()
        vals = conn.execute("SELECT * FROM vals ORDER BY path, source, key").fetchall()
    return [*runs, *vals]


def cmd(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    capsys.readouterr()
    code = cli.main(list(argv))
    return code, capsys.readouterr().out


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_an_incremental_reindex_after_new_deleted_and_relabelled_runs_equals_a_full_one(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str], mode: list[str]
) -> None:
    import shutil

    pytester.makepyfile(test_exp=SWEEP)
    pytester.runpytest(*mode).assert_outcomes(passed=4)
    root = pytester.path / "results"
    assert cmd(capsys, "--root", str(root), "reindex")[0] == 0  # reads the 4 record rows
    code, out = cmd(capsys, "--root", str(root), "reindex")
    assert (code, out) == (0, f"indexed 0 new or changed of 4 run folders under {root}\n")
    folders = sorted(p.parent for p in root.glob("*/*/*/summary.json"))
    shutil.copytree(folders[0], folders[0].parent.parent / "copied" / "x=9")  # a new session
    shutil.rmtree(folders[1])  # a deleted run
    config = folders[2] / "config.yaml"  # relabelled by hand: the index never heard of it
    config.write_text(config.read_text().replace("label: exploratory", "label: keep"))
    assert "label: keep" in config.read_text()
    code, out = cmd(capsys, "--root", str(root), "reindex")
    assert (code, out) == (0, f"indexed 2 new or changed of 4 run folders under {root}\n")
    incremental = dump(root)
    code, out = cmd(capsys, "--root", str(root), "reindex", "--full")
    assert (code, out) == (0, f"indexed 4 runs under {root}\n")
    assert dump(root) == incremental
    code, out = cmd(capsys, "--root", str(root), "list", "--label", "keep", "elbo=-3", "--json")
    assert code == 0 and [r["run_id"] for r in json.loads(out)] == ["x=3"]


def test_an_index_of_the_old_schema_is_rebuilt_from_the_folders(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    pytester.makepyfile(test_exp=SWEEP)
    pytester.runpytest("-p", "no:xdist").assert_outcomes(passed=4)
    root = pytester.path / "results"
    with sqlite3.connect(root / FILE) as conn:
        conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema'")
    capsys.readouterr()
    code = cli.main(["--root", str(root), "list", "elbo<=-2", "--json"])
    out, err = capsys.readouterr()
    assert "(schema 2, expected 3)" in err and "rebuilt from 4 run folders" in err, err
    assert code == 0 and sorted(r["run_id"] for r in json.loads(out)) == ["x=2", "x=3", "x=4"]
    assert list(root.glob(f"{FILE}.corrupt-*")), "the old file is kept aside, not deleted"


def test_names_come_from_the_selected_runs_only(tmp_path: Path) -> None:
    rows = [index_row(0, {"LR": 1}, {}, {}, ["a"]), index_row(1, {"BETA": 2}, {}, {}, ["b"])]
    conn = open_index(tmp_path)
    upsert(conn, rows)
    conn.close()
    assert Archive(tmp_path).names(tag="a") == (1, {0: frozenset({"LR"})})
    assert Archive(tmp_path).names() == (2, {0: frozenset({"LR", "BETA"})})
    code = cli.main(["--root", str(tmp_path), "list", "--tag", "b", "lr=1"])
    assert code == 2
