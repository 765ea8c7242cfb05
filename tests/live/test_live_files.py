"""live.json: written by the flusher, read back by live/runs.py, which never raises (issue 16)."""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_expharness.archive import layout
from pytest_expharness.archive.layout import session_stamp
from pytest_expharness.catalog.processes import this_process
from pytest_expharness.live import runs, text
from pytest_expharness.plan.spec import RunSpec
from pytest_expharness.run.exp import Exp
from pytest_expharness.session.state import SessionState, Settings

NAMES = st.from_regex(r"[A-Za-z][A-Za-z0-9_.]{0,12}", fullmatch=True)


def _run(root: Path, steps: str | None = None, params: dict[str, Any] | None = None) -> Exp:
    state = SessionState(
        settings=Settings(root=root), stamp=session_stamp(), rootdir=root, command=["t"]
    )
    spec = RunSpec(
        experiment="live",
        description=None,
        tags=[],
        node_id="t",
        module_path=None,
        declared={},
        params=params or {},
        axes={},
        applied={},
        testing=False,
        patch_targets=[],
        metric="loss",
        steps=steps,
    )
    return Exp(spec, state)


def _persist(exp: Exp) -> None:
    exp._live = None  # what the flusher wrote last is forgotten: write now
    exp.persist(time.time(), heartbeat=False)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    points=st.lists(
        st.tuples(NAMES, st.floats(allow_nan=True, allow_infinity=True)), min_size=1, max_size=30
    ),
    total=st.one_of(st.none(), st.integers(1, 2**40)),
)
def test_what_the_flusher_writes_reads_back(
    tmp_path_factory: pytest.TempPathFactory, points: list[tuple[str, float]], total: int | None
) -> None:
    exp = _run(tmp_path_factory.mktemp("r"))
    try:
        if total is not None:
            exp.progress(total)
        for name, value in points:
            exp.track(name, value)
        _persist(exp)
        state = runs.read_run(exp.path)
        assert state.status == "running"
        assert state.total == total
        latest: dict[str, float] = {}
        for name, value in points:
            latest[name] = value
        main = "loss" if "loss" in latest else points[0][0]
        assert next(iter(state.values)) == main
        assert len(state.values) == min(len(latest), 6)
        for name, value in state.values.items():
            assert value == latest[name] or (math.isnan(value) and math.isnan(latest[name]))
        counts = {n: sum(1 for p in points if p[0] == n) for n in latest}
        assert state.step == counts[main]
    finally:
        exp.finish({"status": "completed"})
    assert not (exp.path / layout.LIVE).exists()  # summary.json is the truth now
    assert runs.read_run(exp.path).status == "completed"


def test_the_step_is_the_largest_step_or_the_point_count(tmp_path: Path) -> None:
    exp = _run(tmp_path)
    try:
        for epoch in range(5):
            exp.track("loss", 1.0, step=epoch * 100)
        _persist(exp)
        assert runs.read_run(exp.path).step == 400
    finally:
        exp.finish({"status": "completed"})


def test_the_marker_s_steps_parameter_is_the_total(tmp_path: Path) -> None:
    exp = _run(tmp_path, steps="EPOCHS", params={"EPOCHS": 12})
    try:
        exp.track("loss", 0.5)
        _persist(exp)
        assert runs.read_run(exp.path).total == 12
    finally:
        exp.finish({"status": "completed"})


@pytest.mark.parametrize("bad", [0, -3, 2.5, "10", True, None])
def test_progress_and_track_total_refuse_what_is_no_positive_int(tmp_path: Path, bad: Any) -> None:
    exp = _run(tmp_path)
    try:
        with pytest.raises((ValueError, TypeError), match="positive int"):
            exp.progress(bad)
        if bad is not None:  # track(total=None) is the default
            with pytest.raises(ValueError, match=r"track\('loss', total=...\).*positive int"):
                exp.track("loss", 1.0, total=bad)
        exp.track("loss", 1.0, total=7)
        _persist(exp)
        assert runs.read_run(exp.path).total == 7
    finally:
        exp.finish({"status": "completed"})


def _running_folder(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    summary = {"status": "running", "heartbeat": time.time(), "started_unix": time.time()}
    (folder / layout.SUMMARY).write_text(json.dumps({**summary, **this_process()}))
    return folder


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
LIVE_SHAPED = st.fixed_dictionaries(
    {},
    optional={
        "step": JSON,
        "total": JSON,
        "values": st.dictionaries(st.text(max_size=70), JSON, max_size=10) | JSON,
        "started": JSON,
        "updated": JSON,
    },
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.one_of(JSON, LIVE_SHAPED))
def test_a_hostile_live_json_never_raises_and_reads_unknown_or_running(
    tmp_path: Path, data: Any
) -> None:
    folder = _running_folder(tmp_path / "run")
    (folder / layout.LIVE).write_text(json.dumps(data))
    state = runs.read_run(folder)
    assert state.status in ("running", "unknown")
    if state.status == "running":
        assert state.step is None or (isinstance(state.step, int) and state.step >= 0)
        assert all(isinstance(v, (int, float)) for v in state.values.values())
    text.lines([runs.SweepState("e", tmp_path, [state], False)])  # renders too


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=st.binary(max_size=200))
def test_damaged_files_read_unknown(tmp_path: Path, raw: bytes) -> None:
    folder = _running_folder(tmp_path / "run")
    (folder / layout.LIVE).write_bytes(raw)
    assert runs.read_run(folder).status in ("running", "unknown")
    (folder / layout.SUMMARY).write_bytes(raw)
    assert runs.read_run(folder).status in ("unknown", *runs.FINAL)


def test_a_running_summary_of_a_dead_process_reads_crashed_at_once(tmp_path: Path) -> None:
    folder = _running_folder(tmp_path / "run")
    summary = json.loads((folder / layout.SUMMARY).read_text())
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    summary.update(pid=pid, pid_start=1)
    (folder / layout.SUMMARY).write_text(json.dumps(summary))
    (folder / layout.LIVE).write_text(json.dumps({"step": 3, "total": 10, "values": {}}))
    state = runs.read_run(folder)
    assert state.status == "crashed", state
    assert f"process {pid}" in (state.reason or "")


def test_the_sweep_eta_gives_waiting_runs_to_the_first_worker_free() -> None:
    from pytest_expharness.live.text import sweep_eta

    flight = [(1.0, 2.0), (3.0, 7.0)]  # (elapsed, ETA) of two runs in flight
    assert sweep_eta(flight, 0, 10.0) == 7.0  # nothing waits: the longest in flight
    assert sweep_eta(flight, 1, 10.0) == 12.0  # starts at 2 s, ends at 12 s
    assert sweep_eta(flight, 2, 10.0) == 17.0  # and the next one at 7 s
    assert sweep_eta(flight, 1, None) == 8.5  # no run finished: their projected mean, 6.5 s
    assert sweep_eta([], 3, 10.0) is None


def test_a_session_s_slurm_job_folder_is_no_sweep(tmp_path: Path) -> None:
    from pytest_expharness.live.runs import session_folders

    stamp = "2026-01-01_00-00-00_abcd"
    for folder in ("_slurm", ".cache", "train", "_testing/train"):
        (tmp_path / folder / stamp / "logs").mkdir(parents=True)
    assert session_folders(tmp_path, stamp) == {
        tmp_path / "train" / stamp,
        tmp_path / "_testing" / "train" / stamp,
    }  # _slurm's logs and tasks folders once made `expharness watch` wait for ever
