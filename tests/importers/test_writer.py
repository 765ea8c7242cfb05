"""The writer of imported runs: whatever a source holds reads back from the run folder."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_expharness.archive.metricsfile import columns_from_csv
from pytest_expharness.archive.yamltext import load
from pytest_expharness.catalog.records import record_from_folder
from pytest_expharness.importers.sources import Report, SourceRun
from pytest_expharness.importers.writer import series_name, write_runs

VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
POINTS = st.lists(
    st.tuples(st.integers(0, 10**6), st.floats(allow_nan=False, allow_infinity=False)),
    min_size=1,
    max_size=6,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    params=st.dictionaries(st.text(min_size=1, max_size=12), VALUES, max_size=5),
    series=st.dictionaries(st.text(min_size=1, max_size=12), POINTS, max_size=4),
    status=st.sampled_from(["completed", "failed", "crashed"]),
    data=st.dictionaries(st.text(min_size=1, max_size=8).filter(lambda k: "/" not in k), VALUES),
)
def test_what_a_source_run_holds_reads_back(
    params: dict[str, Any], series: dict[str, Any], status: str, data: dict[str, Any]
) -> None:
    run = SourceRun(
        tool="hydra",
        source=Path("/nowhere/0"),
        source_id="a" * 64,
        experiment="app",
        name="0",
        params=params,
        status=status,
        started=1_700_000_000.0,
        ended=1_700_000_009.5,
        series=series,
        data=data,
        reason="why" if status != "completed" else None,
    )
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "archive"
        report = Report()
        (path,) = write_runs(root, [run], "2026-01-01_00-00-00_abcd", report)
        record = record_from_folder(path)
        assert record["status"] == status and record["duration"] == 9.5
        config = load((path / "config.yaml").read_text("utf-8"))
        assert config["experiment"]["imported_from"]["source_id"] == "a" * 64
        assert set(config["parameters"]) == set(params)
        for key, value in params.items():
            if not isinstance(value, str) or value.isprintable():
                assert config["parameters"][key] == value
        read = columns_from_csv(path / "metrics.csv")
        kept: dict[str, Any] = {}
        for name, points in series.items():
            new = series_name(name)
            if new is not None and new not in kept:
                kept[new] = points
        assert set(read) == set(kept)
        for name, points in kept.items():
            assert list(read[name].steps) == [s for s, _ in points]
            assert all(
                math.isclose(a, b, rel_tol=0, abs_tol=0)
                for a, b in zip(read[name].values, [v for _, v in points], strict=True)
            )
        if data:
            assert json.loads((path / "data.json").read_text()) == data
        again = Report()
        assert write_runs(root, [run], "2026-01-02_00-00-00_abcd", again) == []
        assert len(again.already) == 1  # importing twice adds nothing
        assert not list(root.glob(".import-*"))
