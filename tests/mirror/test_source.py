"""A run's points read for a mirror: in batches, from series/, metrics.csv or the journal alike."""

from __future__ import annotations

from pathlib import Path

import matplotlib.figure  # noqa: F401  (see tests/conftest.py)
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_expharness.archive.journal import MAGIC, write_chunk, write_series
from pytest_expharness.archive.seriesfiles import read_any
from pytest_expharness.mirror import source

from conftest import Archive

BIG = """
import time

from pytest_expharness.archive import seriesfiles

seriesfiles.COLUMNAR_BYTES = 100_000  # a big run after some 5,000 points, for this test

def test_big(exp):
    for step in range(120_000):
        exp.track("loss", 1.0 / (step + 1))
    time.sleep(0.6)  # the flusher journals them meanwhile
    for step in range(0, 30, 3):
        exp.track("val", float(step), step=step)
"""


def _flat(folder: Path) -> list[tuple[str, float, int, float]]:
    return [
        (name, float(v), int(s), float(t))
        for name, cols in read_any(folder).items()
        for v, s, t in zip(cols.values, cols.steps, cols.times, strict=True)
    ]


def test_a_big_run_streams_from_series_in_batches_of_at_most_a_thousand(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(test_exp=BIG)
    pytester.runpytest("-p", "no:xdist", "--exp-sys-interval", "0").assert_outcomes(passed=1)
    folder = archive.run()
    assert (folder / "series" / "index.json").is_file(), "a big run keeps series/"
    batches = list(source.read(folder).points())
    assert max(len(b) for b in batches) == 1000
    points = [p for b in batches for p in b]
    assert len(points) == 120_010
    assert points == _flat(folder)
    assert [p[2] for p in points if p[0] == "val"] == list(range(0, 30, 3))


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b/c"]),
            st.lists(
                st.tuples(
                    st.floats(allow_nan=False), st.none() | st.integers(0, 10**6), st.floats(0, 1e9)
                ),
                max_size=5,
            ),
        ),
        max_size=6,
    ),
    st.integers(1, 4),
)
def test_a_run_known_only_by_its_journal_reads_as_its_points(
    tmp_path_factory: pytest.TempPathFactory,
    chunks: list[tuple[str, list[tuple[float, int | None, float]]]],
    size: int,
) -> None:
    folder = tmp_path_factory.mktemp("run")
    ids: dict[str, int] = {}
    with open(folder / "metrics.journal", "wb") as handle:
        handle.write(MAGIC)
        for name, points in chunks:
            if name not in ids:
                ids[name] = len(ids)
                write_series(handle, ids[name], name)
            write_chunk(handle, ids[name], [x for point in points for x in point])
    run = source.Source(folder, {"experiment": {}}, {"status": "crashed"})
    batches = list(run.points(size))
    assert all(1 <= len(b) <= size for b in batches)
    got = [p for b in batches for p in b]
    expected = sorted(_flat(folder), key=lambda p: p[0])  # read_any groups by series
    assert sorted(got, key=lambda p: p[0]) == expected
