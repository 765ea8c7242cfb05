"""The helper process: what it and the run write together is what one pass writes, or nothing."""

from __future__ import annotations

import io
import math
import os
import pickle
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_expharness.archive import journal, layout, seriesfiles
from pytest_expharness.archive.seriesio import split
from pytest_expharness.archive.seriesio.helper import LIVE
from pytest_expharness.archive.seriesio.split import Helper

Chunks = list[tuple[str, list[Any]]]


def _one_long_series() -> Chunks:
    return [
        ("loss", [x for i in range(a, a + 20_000) for x in (i * 0.5, None, 1e9 + i // 7000)])
        for a in range(0, 120_000, 20_000)
    ]


def _many_series() -> Chunks:
    chunks: Chunks = [("empty", [])]
    for a in range(0, 60_000, 6_000):
        chunks.append(("loss", [x for i in range(a, a + 6_000) for x in (1 / (i + 1), None, 5.0)]))
        steps = [2 * i for i in range(a, a + 6_000)]
        chunks.append(("eval/acc", [x for s in steps for x in (s * 0.25, s, 6.0 + s)]))
        odd = [
            (-0.0 if i % 5 else math.nan, None if i % 3 else -i, -0.0) for i in range(a, a + 999)
        ]
        chunks.append(("a b", [x for point in odd for x in point]))
    return chunks


CASES = [pytest.param(_one_long_series, id="one-series"), pytest.param(_many_series, id="many")]


def _write_journal(folder: Path, chunks: Chunks, upto: int | None = None) -> int:
    """Append chunks to folder's journal (from where it stands); return its size."""
    path = folder / layout.JOURNAL
    ids: dict[str, int] = {}
    with open(path, "wb") as handle:
        handle.write(journal.MAGIC)
        for name, flat in chunks[:upto]:
            if name not in ids:
                ids[name] = len(ids)
                journal.write_series(handle, ids[name], name)
            if flat:
                journal.write_chunk(handle, ids[name], flat)
    return path.stat().st_size


def _tree(folder: Path) -> dict[str, bytes]:
    files = [folder / layout.METRICS, *sorted((folder / seriesfiles.FOLDER).rglob("*"))]
    return {str(p.relative_to(folder)): p.read_bytes() for p in files if p.is_file()}


def _columns(columns: dict[str, Any]) -> dict[str, Any]:
    return {
        name: ([repr(v) for v in c.values], list(c.steps), list(c.times), repr(c.stats))
        for name, c in columns.items()
    }


@pytest.fixture
def two(tmp_path: Path) -> tuple[Path, Path]:
    one, other = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    other.mkdir()
    return one, other


@pytest.mark.parametrize("share", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("make", CASES)
def test_a_helper_and_the_run_write_the_files_one_pass_writes(
    two: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, make: Any, share: float
) -> None:
    one, other = two
    monkeypatch.setattr(split, "SHARE", share)
    monkeypatch.setattr(split, "MIN_SPLIT", 0)  # a real split, however small the rest
    chunks = make()
    _write_journal(one, chunks)
    expected = seriesfiles.write(one, journal.iter_journal(one / layout.JOURNAL), columnar=True)
    size = _write_journal(other, chunks)
    helper = Helper.start(other)
    assert helper is not None
    columns = helper.finish(size)
    assert columns is not None, "the helper's way failed"
    assert helper.process.returncode == 0
    assert _tree(other) == _tree(one)
    assert _columns(columns) == _columns(expected)
    assert sorted(p.name for p in other.iterdir()) == ["metrics.csv", "metrics.journal", "series"]


def test_the_helper_writes_rows_while_the_journal_grows(two: tuple[Path, Path]) -> None:
    one, other = two
    chunks = _one_long_series()
    _write_journal(one, chunks)
    seriesfiles.write(one, journal.iter_journal(one / layout.JOURNAL), columnar=True)
    _write_journal(other, chunks, upto=2)
    helper = Helper.start(other)
    assert helper is not None
    rows = other / LIVE / "h0.csv"
    deadline = time.monotonic() + 20
    while not (rows.exists() and rows.stat().st_size > 100_000) and time.monotonic() < deadline:
        time.sleep(0.02)
    written = rows.stat().st_size
    assert written > 100_000, "the helper formatted nothing while the run ran"
    size = _write_journal(other, chunks)  # the rest of the run (the same first records again)
    assert helper.finish(size) is not None
    assert _tree(other) == _tree(one)


def test_a_helper_killed_leaves_the_run_to_write_alone(two: tuple[Path, Path]) -> None:
    _, other = two
    size = _write_journal(other, _many_series())
    helper = Helper.start(other)
    assert helper is not None
    os.kill(helper.process.pid, signal.SIGKILL)
    helper.process.wait()
    assert helper.finish(size) is None
    assert not (other / LIVE).exists()


def test_a_helper_that_stops_answering_is_given_up_on(
    two: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, other = two
    monkeypatch.setattr(split, "STALL", 0.5)
    size = _write_journal(other, _one_long_series())
    helper = Helper.start(other)
    assert helper is not None
    time.sleep(0.3)  # started, and under way
    os.kill(helper.process.pid, signal.SIGSTOP)
    start = time.monotonic()
    assert helper.finish(size) is None
    assert time.monotonic() - start < 5
    assert helper.process.returncode is not None  # killed, and waited for
    assert not (other / LIVE).exists()


def test_a_helper_whose_run_went_away_removes_its_folder_and_ends(two: tuple[Path, Path]) -> None:
    _, other = two
    _write_journal(other, _one_long_series())
    helper = Helper.start(other)
    assert helper is not None
    time.sleep(0.3)
    assert helper.process.stdin is not None
    helper.process.stdin.close()  # what the run's death does to the pipe
    assert helper.process.wait(timeout=10) == 1
    assert not (other / LIVE).exists()


FLOATS = st.floats(allow_nan=True, allow_infinity=True, width=64)
POINTS = st.lists(st.tuples(FLOATS, st.none() | st.integers(-5, 5), FLOATS), max_size=700)


def _pickled(flat: list[Any], protocol: int) -> bytes:
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=protocol)
    pickler.fast = True
    pickler.dump(flat)
    return buffer.getvalue()


@settings(max_examples=150, deadline=None)
@given(points=POINTS, protocol=st.sampled_from([2, 5]))
def test_a_dense_chunk_reads_as_it_unpickles_and_anything_else_is_refused(
    points: list[tuple[float, int | None, float]], protocol: int
) -> None:
    flat = [x for point in points for x in point]
    found = journal.dense(_pickled(flat, protocol))
    if protocol != 2 or not points or any(step is not None for _, step, _ in points):
        assert found is None
        return
    assert found is not None
    assert [repr(v) for v in found.values.tolist()] == [repr(v) for v, _, _ in points]
    assert [repr(t) for t in found.times.tolist()] == [repr(t) for *_, t in points]


def test_a_journal_of_an_earlier_version_gives_the_same_files(
    two: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    one, other = two
    monkeypatch.setattr(split, "MIN_SPLIT", 0)
    chunks = _many_series()
    _write_journal(one, chunks)
    seriesfiles.write(one, journal.iter_journal(one / layout.JOURNAL), columnar=True)
    real = pickle.Pickler
    monkeypatch.setattr(  # protocol 5, as journals were pickled before
        journal.pickle, "Pickler", lambda buffer, protocol: real(buffer, protocol=5)
    )
    size = _write_journal(other, chunks)
    monkeypatch.setattr(journal.pickle, "Pickler", real)
    assert b"\x80\x05" in (other / layout.JOURNAL).read_bytes()[:200]  # not dense: unpickled
    helper = Helper.start(other)
    assert helper is not None
    assert helper.finish(size) is not None
    assert _tree(other) == _tree(one)
