"""What a review of the issue-15 code found, each as a user would meet it."""

from __future__ import annotations

import io
import math
import struct
from pathlib import Path
from typing import Any

import pytest

from pytest_expharness.archive import journal, safeyaml
from pytest_expharness.catalog import indexrows
from pytest_expharness.catalog.reading import rebuild_metrics
from pytest_expharness.plan import params
from pytest_expharness.run import tracking


def test_a_failed_journal_write_repeats_no_point_and_leaves_no_half_record(
    tmp_path: Path, monkeypatch: Any
) -> None:
    keeper = tracking.Tracker(tmp_path, clock=lambda: 1.0)
    real = journal.write_chunk
    calls = {"n": 0}

    def disk_full_once(handle: Any, sid: int, flat: list[Any]) -> None:
        calls["n"] += 1
        if calls["n"] == 2:  # part of the record reached the file, then the disk was full
            whole = io.BytesIO()
            real(whole, sid, flat)
            handle.write(whole.getvalue()[:1000])
            raise OSError(28, "No space left on device")
        real(handle, sid, flat)

    monkeypatch.setattr(tracking.journal, "write_chunk", disk_full_once)
    n = tracking.CHUNK_POINTS + 10
    for i in range(n):
        keeper.track_slow("x", float(i), None)
    with pytest.raises(OSError):
        keeper.flush()
    monkeypatch.setattr(tracking.journal, "write_chunk", real)
    keeper.flush()
    keeper.close()
    points = [v for _, chunk in keeper.chunks() for v in chunk[0::3]]
    assert points == [float(i) for i in range(n)]  # each once, in order


def test_points_a_failed_last_flush_left_in_memory_are_still_written(
    tmp_path: Path, monkeypatch: Any
) -> None:
    keeper = tracking.Tracker(tmp_path, clock=lambda: 1.0)
    keeper.track_slow("x", 1.0, None)
    keeper.flush()  # the run has a journal now
    keeper.track_slow("x", 2.0, None)

    def disk_full(*args: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tracking.journal, "write_chunk", disk_full)
    with pytest.raises(OSError):
        keeper.close()
    points = [v for _, chunk in keeper.chunks() for v in chunk[0::3]]
    assert points == [1.0, 2.0]


@pytest.mark.parametrize("length", [2**40, 2**63])
def test_a_journal_record_claiming_more_bytes_than_the_file_is_a_torn_end(
    tmp_path: Path, length: int
) -> None:
    with open(tmp_path / "metrics.journal", "wb") as handle:
        handle.write(journal.MAGIC)
        journal.write_series(handle, 0, "x")
        journal.write_chunk(handle, 0, [1.0, None, 1.0])
        handle.write(struct.pack("<cIQ", b"C", 0, length) + b"\x00" * 16)
    columns = rebuild_metrics(tmp_path)
    assert list(columns["x"].values) == [1.0]


def test_ints_beyond_a_float_are_indexed_and_compared_exactly_in_python() -> None:
    assert indexrows.encoded(10**400) == (indexrows.OTHER, None)  # was OverflowError
    assert indexrows.encoded(2**63 + 1)[0] == indexrows.NUMBER
    assert not indexrows.sql_comparable(2**63)
    assert indexrows.sql_comparable(2**63 - 1)


def test_only_known_comparisons_reach_sql() -> None:
    with pytest.raises(ValueError, match="unknown comparison"):
        indexrows.compare_sql("= 0 OR 1=1 OR val =", 5)
    assert indexrows.compare_sql("<", 5)[1] == (indexrows.NUMBER, 5)


def test_the_fast_yaml_path_never_replaces_a_callers_loader() -> None:
    text = "LR: inf\nEPS: nan\nGRID: [inf, 1]\n"
    found = safeyaml.load_bounded(text, "--exp-config", safeyaml.CONFIG_FILE, params._loader())
    assert found["LR"] == math.inf and math.isnan(found["EPS"]) and found["GRID"] == [math.inf, 1]


def test_points_of_a_short_run_whose_files_failed_stay_in_its_journal(
    tmp_path: Path, monkeypatch: Any
) -> None:
    keeper = tracking.Tracker(tmp_path, clock=lambda: 1.0)
    keeper.track_slow("a", 1.0, None)
    keeper.track_slow("b", 2.0, 7)
    keeper.close()  # too short to have a journal: the points are only in memory

    def disk_full(*args: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tracking.seriesfiles, "write", disk_full)
    with pytest.raises(OSError, match="No space"):
        keeper.write_files()
    monkeypatch.undo()
    path = tmp_path / "metrics.journal"
    kept = [(name, chunk) for name, chunk in journal.iter_journal(path) if chunk]
    assert kept == [("a", [1.0, None, 1.0]), ("b", [2.0, 7, 1.0])]
    columns = rebuild_metrics(tmp_path)  # what reindex does with a run left like this
    assert {name: list(cols.values) for name, cols in columns.items()} == {"a": [1.0], "b": [2.0]}
    assert (tmp_path / "metrics.csv").read_text().splitlines()[1:] == [
        "0,a,1.0,1.0",
        "7,b,2.0,1.0",
    ]
