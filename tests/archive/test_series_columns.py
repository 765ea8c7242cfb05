"""series/<name>.npy and metrics.csv, written in one stream, read back exactly."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_expharness.archive import seriesfiles
from pytest_expharness.archive.metricsfile import Columns, columns_from_csv, series_stats
from pytest_expharness.archive.seriesio import sink
from pytest_expharness.catalog.damage import DamagedRun, read_metrics

NAMES = st.sampled_from(["loss", "loss.kl.z", "metrics/train/acc", "a b", "x+y=z", "lr-1"])
VALUES = st.floats(allow_nan=True, allow_infinity=True, width=64)
STEPS = st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1))
TIMES = st.floats(min_value=0, max_value=4e9, allow_nan=False)
POINT = st.tuples(VALUES, STEPS, TIMES)
CHUNKS = st.lists(st.tuples(NAMES, st.lists(POINT, max_size=30)), max_size=12)


def _flat(points: list[tuple[float, int | None, float]]) -> list[Any]:
    return [x for point in points for x in point]


def _expected(chunks: list[tuple[str, list[Any]]]) -> dict[str, list[tuple[float, int, float]]]:
    """Every series' points with automatic steps resolved, as a finished run keeps them."""
    out: dict[str, list[tuple[float, int, float]]] = {}
    for name, points in chunks:
        kept = out.setdefault(name, [])
        for value, step, when in points:
            previous = kept[-1][1] if kept else -1
            kept.append((value, previous + 1 if step is None else step, when))
    return out


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or (
        a == b and math.copysign(1, a) == math.copysign(1, b)
    )


@settings(max_examples=60, deadline=None)
@given(chunks=CHUNKS)
def test_everything_written_reads_back_from_series_and_from_csv(
    tmp_path_factory: pytest.TempPathFactory, chunks: list[tuple[str, list[Any]]]
) -> None:
    folder = tmp_path_factory.mktemp("run")
    expected = _expected(chunks)
    if any(not (-(2**63) <= s < 2**63) for pts in expected.values() for _, s, _ in pts):
        with pytest.raises(OverflowError, match="does not fit in 64 bits"):
            seriesfiles.write(folder, [(n, _flat(p)) for n, p in chunks], columnar=True)
        assert not (folder / "series").exists() and not (folder / ".series-partial").exists()
        return
    samples = seriesfiles.write(folder, [(n, _flat(p)) for n, p in chunks], columnar=True)

    assert list(samples) == list(expected)  # in the order first tracked
    with_rows = {name: points for name, points in expected.items() if points}
    csv = columns_from_csv(folder / "metrics.csv")  # a series without points has no row
    for source, wanted in ((seriesfiles.read(folder) or {}, expected), (csv, with_rows)):
        assert list(source) == list(wanted)
        for name, points in wanted.items():
            cols = source[name]
            assert [int(s) for s in cols.steps] == [s for _, s, _ in points]
            assert all(_same(float(v), p[0]) for v, p in zip(cols.values, points, strict=True))
            assert [float(t) for t in cols.times] == [t for *_, t in points]
    for name, points in expected.items():
        full = Columns(_flat(points))
        assert samples[name].stats == series_stats(full) or _nan_equal(
            samples[name].stats, series_stats(full)
        )
        sample = samples[name]
        assert sample.steps[-1] == points[-1][1] if points else len(sample) == 0


def _nan_equal(a: dict[str, Any] | None, b: dict[str, Any]) -> bool:
    assert a is not None
    return all(a[k] == b[k] or (isinstance(a[k], float) and _same(a[k], b[k])) for k in b) and set(
        a
    ) == set(b)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 3000), limit=st.integers(1, 50))
def test_the_plot_sample_is_bounded_in_order_and_ends_with_the_last_point(
    tmp_path_factory: pytest.TempPathFactory, n: int, limit: int
) -> None:
    folder = tmp_path_factory.mktemp("run")
    original = sink.PLOT_POINTS
    sink.PLOT_POINTS = limit
    try:
        step = 97  # chunks of an awkward size
        chunks = [
            ("s", _flat([(float(i), None, 1.0) for i in range(a, min(n, a + step))]))
            for a in range(0, n, step)
        ]
        samples = seriesfiles.write(folder, chunks, columnar=True)
    finally:
        sink.PLOT_POINTS = original
    if n == 0:
        assert samples == {}
        return
    sample = samples["s"]
    assert len(sample) <= 2 * limit + 2
    assert list(sample.steps) == sorted(set(sample.steps))
    assert sample.steps[0] == 0 and sample.steps[-1] == n - 1
    assert list(sample.values) == [float(s) for s in sample.steps]
    assert sample.stats == {
        "final": n - 1.0,
        "min": 0.0,
        "max": n - 1.0,
        "count": n,
        "last_step": n - 1,
    }


def test_a_series_file_is_a_plain_npy_of_value_step_time_records(tmp_path: Path) -> None:
    seriesfiles.write(tmp_path, [("metrics/loss", [0.5, None, 10.0, 0.25, 7, 11.0])], columnar=True)
    records = np.load(tmp_path / "series" / "metrics" / "loss.npy", allow_pickle=False)
    assert records.dtype.names == ("value", "step", "time")
    assert records.dtype["step"] == np.dtype("<i8")
    assert records.tolist() == [(0.5, 0, 10.0), (0.25, 7, 11.0)]
    index = json.loads((tmp_path / "series" / "index.json").read_text())
    assert index == [
        {
            "name": "metrics/loss",
            "file": "metrics/loss.npy",
            "final": 0.25,
            "min": 0.25,
            "max": 0.5,
            "count": 2,
            "last_step": 7,
        }
    ]
    assert (tmp_path / "metrics.csv").read_text() == (
        "step,name,value,time\n0,metrics/loss,0.5,10.0\n7,metrics/loss,0.25,11.0\n"
    )


def test_a_run_without_series_gets_a_header_only_csv_and_no_series_folder(tmp_path: Path) -> None:
    assert seriesfiles.write(tmp_path, []) == {}
    assert (tmp_path / "metrics.csv").read_text() == "step,name,value,time\n"
    assert not (tmp_path / "series").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.csv"]


def test_load_reads_series_when_present_and_csv_for_older_runs(tmp_path: Path) -> None:
    old = tmp_path / "old"
    old.mkdir()
    (old / "metrics.csv").write_text("step,name,value,time\n3,loss,1.5,9.0\n")
    cols = read_metrics(old)
    assert list(cols["loss"].values) == [1.5] and list(cols["loss"].steps) == [3]
    new = tmp_path / "new"
    new.mkdir()
    seriesfiles.write(new, [("loss", [2.5, 4, 9.0])], columnar=True)
    (new / "metrics.csv").write_text("step,name,value,time\n")  # series/ wins
    cols = read_metrics(new)
    assert isinstance(cols["loss"].values, np.ndarray)
    assert cols["loss"].values.tolist() == [2.5] and cols["loss"].steps.tolist() == [4]


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        (lambda f: (f / "series" / "index.json").write_text("{"), "not readable series files"),
        (lambda f: (f / "series" / "index.json").write_text('{"a": 1}'), "series entries"),
        (lambda f: (f / "series" / "loss.npy").write_bytes(b"\x93NUMPY"), "not readable"),
        (lambda f: (f / "series" / "loss.npy").unlink(), "not readable"),
        (lambda f: np.save(f / "series" / "loss.npy", np.zeros(3)), "holds float64"),
    ],
)
def test_damaged_series_files_name_the_folder(tmp_path: Path, damage: Any, why: str) -> None:
    seriesfiles.write(tmp_path, [("loss", [2.5, 4, 9.0])], columnar=True)
    damage(tmp_path)
    with pytest.raises(DamagedRun, match=why) as found:
        read_metrics(tmp_path)
    assert found.value.path == tmp_path / "series"


def test_the_header_is_always_the_same_size_and_numpy_reads_it() -> None:
    for count in (0, 1, 10**6, 2**62):
        header = seriesfiles.npy_header(count)
        assert len(header) == 192 and len(header) % 64 == 0
        (length,) = struct.unpack("<H", header[8:10])
        assert header.endswith(b"\n") and length == 182
        assert f"'shape': ({count},)".encode() in header


@settings(max_examples=40, deadline=None)
@given(chunks=CHUNKS)
def test_the_reader_without_numpy_reads_what_numpy_reads(
    tmp_path_factory: pytest.TempPathFactory, chunks: list[tuple[str, list[Any]]]
) -> None:
    folder = tmp_path_factory.mktemp("run")
    try:
        seriesfiles.write(folder, [(n, _flat(p)) for n, p in chunks], columnar=True)
    except OverflowError:
        return
    with_numpy, plain = seriesfiles.read(folder), seriesfiles.read_lists(folder)
    if with_numpy is None:
        assert plain is None
        return
    assert plain is not None and list(plain) == list(with_numpy)
    for name, cols in with_numpy.items():
        assert plain[name].steps == cols.steps.tolist()
        assert plain[name].times == cols.times.tolist()
        assert all(
            _same(a, b) for a, b in zip(plain[name].values, cols.values.tolist(), strict=True)
        )
