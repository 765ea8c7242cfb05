"""The readers of other tools' files take any content: a run, or a line saying why not."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_expharness.catalog.records import record_from_folder
from pytest_expharness.importers import hydra, pycomex
from pytest_expharness.importers.sources import Report
from pytest_expharness.importers.writer import write_runs

JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
META_KEYS = ["status", "parameters", "__track__", "start_time", "end_time", "name", "error_type"]


@settings(max_examples=60, deadline=None)
@given(
    meta=st.one_of(JSON, st.dictionaries(st.sampled_from(META_KEYS), JSON)),
    data=st.one_of(st.none(), JSON),
)
def test_any_pycomex_meta_reads_or_is_named(meta: Any, data: Any) -> None:
    with tempfile.TemporaryDirectory() as folder:
        top = Path(folder)
        (top / pycomex.META).write_text(json.dumps(meta))
        if data is not None:
            (top / pycomex.DATA).write_text(json.dumps(data))
        report = Report()
        run = pycomex.read_run(top, top, report, now=float("inf"))
        if run is None:
            assert report.unreadable or report.notes
        else:
            assert run.status in ("completed", "failed", "crashed")
            assert all(isinstance(p, str) for p in run.problems)
            (path,) = write_runs(top / "archive", [run], "2026-01-01_00-00-00_abcd", report)
            assert record_from_folder(path)["status"] == run.status


@settings(max_examples=60, deadline=None)
@given(config=JSON, overrides=JSON, hydra_yaml=JSON)
def test_any_hydra_job_reads_or_is_named(config: Any, overrides: Any, hydra_yaml: Any) -> None:
    with tempfile.TemporaryDirectory() as folder:
        job = Path(folder) / "0"
        (job / ".hydra").mkdir(parents=True)
        for name, value in (
            ("config.yaml", config),
            ("overrides.yaml", overrides),
            ("hydra.yaml", hydra_yaml),
        ):
            (job / ".hydra" / name).write_text(json.dumps(value))  # JSON is YAML
        report = Report()
        found = hydra.read_job(Path(folder), job, [], report)
        if found is None:
            assert len(report.unreadable) == 1 and report.unreadable[0].startswith(str(job))
        else:
            assert found[0].status == "completed"
            root = Path(folder) / "archive"
            (path,) = write_runs(root, [found[0]], "2026-01-01_00-00-00_abcd", report)
            assert record_from_folder(path)["status"] == "completed"
