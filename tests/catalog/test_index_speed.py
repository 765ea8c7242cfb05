"""What makes the archive quick keeps its answers: to_dataframe's columns, vals kept, YAML unread.

- `to_dataframe` builds its columns directly; the frame is the one pandas made
  from one dict per run (same columns in the same order, dtypes, NaN where a run
  lacks a value), for any rows;
- writing a row whose values did not change keeps its vals rows; whatever is
  written, the vals table is the one a fresh index would hold;
- a reindex of a real session's folders reads config.yaml without PyYAML.
"""

from __future__ import annotations

import contextlib
import io
import json
import sqlite3
import tempfile
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_expharness.archive import safeyaml
from pytest_expharness.catalog.index import open_index
from pytest_expharness.catalog.indexrows import COLUMNS, upsert, vals_of
from pytest_expharness.catalog.loading import Archive, RunTable
from pytest_expharness.cli import main as cli

from conftest import XDIST_MODES

KEYS = st.sampled_from(["lr", "LR", "loss", "results/elbo", "k", "tags", "path"])
VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=3),
    st.lists(st.integers(-3, 3), max_size=2),
)
SOURCE = st.dictionaries(KEYS, VALUE, max_size=3)
RUN = st.tuples(SOURCE, SOURCE, SOURCE, st.lists(st.sampled_from(["a", "b", "é"]), max_size=2))


def index_row(n: int, params: Any, metrics: Any, results: Any, tags: list[str]) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update(
        path=f"e/s/run{n}", run_id=f"run{n}", experiment="e", session="s", status="completed",
        started_unix=float(n), tags=json.dumps(tags), params=json.dumps(params),
        metrics=json.dumps(metrics), results=json.dumps(results), testing=False, attempt=1,
        label=None if n % 2 else "keep", duration=n / 3 if n % 3 else None,
    )  # fmt: skip
    return row


def frame_as_it_was(rows: list[dict[str, Any]]) -> Any:
    """to_dataframe before it built columns: one dict per run, handed to pandas."""
    import pandas as pd

    flat = []
    for row in rows:
        entry = {k: v for k, v in row.items() if k not in ("params", "metrics", "results")}
        entry["tags"] = ",".join(row["tags"] or [])
        entry.update({f"param.{k}": v for k, v in (row["params"] or {}).items()})
        entry.update({f"metric.{k}": v for k, v in (row["metrics"] or {}).items()})
        entry.update({f"result.{k}": v for k, v in (row["results"] or {}).items()})
        flat.append(entry)
    return pd.DataFrame(flat)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(RUN, max_size=6))
def test_the_frame_is_the_one_pandas_made_from_a_dict_per_run(runs: list[Any]) -> None:
    pd = pytest.importorskip("pandas")
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        conn = open_index(root)
        upsert(conn, [index_row(n, *run) for n, run in enumerate(runs)])
        conn.close()
        table = Archive(root).runs()
        frame = table.to_dataframe()
    expected = frame_as_it_was(table.rows)
    assert list(frame.columns) == list(expected.columns)
    pd.testing.assert_frame_equal(frame, expected, check_exact=True)
    assert RunTable(root, []).to_dataframe().shape == (0, 0)


def vals_table(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
    return sorted(conn.execute("SELECT * FROM vals").fetchall(), key=repr)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 3), RUN), min_size=1, max_size=8))
def test_vals_are_those_of_the_rows_written_last(writes: list[tuple[int, Any]]) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        conn = open_index(Path(scratch))
        latest: dict[int, dict[str, Any]] = {}
        for n, run in writes:  # the same run written again, changed or not
            latest[n] = index_row(n, *run)
            upsert(conn, [latest[n]])
            expected = [val for row in latest.values() for val in vals_of(row["path"], row)]
            assert vals_table(conn) == sorted(set(expected), key=repr)  # a tag twice: once
        conn.close()


def test_a_row_written_unchanged_keeps_its_vals_rows(tmp_path: Path) -> None:
    conn = open_index(tmp_path)
    row = index_row(1, {"lr": 0.1}, {"loss": 0.5}, {}, ["a"])
    upsert(conn, [row])
    before = conn.execute("SELECT rowid FROM runs").fetchall()
    conn.execute("CREATE TEMP TABLE writes (n)")
    conn.execute(
        "CREATE TEMP TRIGGER w AFTER INSERT ON main.vals BEGIN INSERT INTO writes VALUES (1); END"
    )
    upsert(conn, [{**row, "status": "failed"}])  # the row changes, its values do not
    assert conn.execute("SELECT COUNT(*) FROM writes").fetchone() == (0,)
    assert conn.execute("SELECT status FROM runs").fetchall() == [("failed",)]
    upsert(conn, [{**row, "params": json.dumps({"lr": 0.2})}])
    assert conn.execute("SELECT COUNT(*) FROM writes").fetchone() == (3,)  # lr, loss, tag a
    assert conn.execute("SELECT val FROM vals WHERE key = 'lr'").fetchall() == [(0.2,)]
    assert before
    conn.close()


SWEEP = """
import pytest
LR = 0.01

@pytest.mark.experiment(metric="loss")
@pytest.mark.parametrize("latent", ["vq", "none", "yes"])
def test_fit(exp, latent):
    exp.track("loss", 0.5)
"""


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_a_full_reindex_of_real_folders_reads_config_yaml_without_pyyaml(
    pytester: pytest.Pytester, mode: list[str]
) -> None:
    pytester.makepyfile(test_fit=SWEEP)
    pytester.runpytest(*mode, "--exp-tag", "t1").assert_outcomes(passed=3)
    root = pytester.path / "results"
    with sqlite3.connect(root / "index.sqlite") as conn:
        recorded = conn.execute("SELECT path, params, tags FROM runs ORDER BY path").fetchall()

    def no_pyyaml() -> Any:
        raise AssertionError("PyYAML's loader was asked for a config.yaml of ours")

    with (
        mock.patch.object(safeyaml, "loader_class", no_pyyaml),
        contextlib.redirect_stdout(io.StringIO()) as out,
    ):
        assert cli.main(["--root", str(root), "reindex", "--full"]) == 0
    assert out.getvalue() == f"indexed 3 runs under {root}\n"
    with sqlite3.connect(root / "index.sqlite") as conn:
        assert conn.execute("SELECT path, params, tags FROM runs ORDER BY path").fetchall() == (
            recorded
        )
    assert sorted(json.loads(p)["latent"] for _, p, _ in recorded) == ["none", "vq", "yes"]
