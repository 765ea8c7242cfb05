"""The embedded index, load_run and Archive, as a user meets them after a session."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import warnings

import matplotlib.figure  # noqa: F401  (see tests/conftest.py)
import numpy as np
import pytest

from pytest_expharness import Archive as RunArchive
from pytest_expharness import load_run
from pytest_expharness.catalog.indexrows import IndexWarning
from pytest_expharness.catalog.runnames import RunNotFound

from conftest import XDIST_MODES, Archive

SWEEP = """
    import pytest

    EPOCHS = 3

    @pytest.mark.experiment(tags=["grid"])
    @pytest.mark.parametrize("lr", [0.1, 0.01])
    def test_fit(exp, lr):
        for step in range(exp.EPOCHS):
            exp.track("loss", lr * (step + 1))
        exp["results/final"] = lr
        exp.commit_raw("notes.txt", f"lr={lr}")
        with exp.component("prior") as c:
            c.data["k"] = 2
"""


def rows(root) -> list[tuple[str, str]]:
    conn = sqlite3.connect(root / "index.sqlite")
    try:
        return sorted(conn.execute("SELECT run_id, status FROM runs").fetchall())
    finally:
        conn.close()


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_session_indexes_its_runs_and_load_run_reads_them(
    pytester: pytest.Pytester, archive: Archive, mode: list[str]
) -> None:
    pytester.makepyfile(test_exp=SWEEP)
    pytester.runpytest(*mode, "--exp-tag", "nightly").assert_outcomes(passed=2)
    assert rows(archive.root) == [("lr=0.01", "completed"), ("lr=0.1", "completed")]
    run = load_run("lr=0.1", root=archive.root)
    assert (run.path.name, run.path.parent.parent.name) == ("lr=0.1", "fit")
    assert run.params == {"EPOCHS": 3, "lr": 0.1}
    assert run.status == "completed"
    assert run.data == {"results": {"final": 0.1}}
    np.testing.assert_allclose(run.metrics["loss"], [0.1, 0.2, 0.3])
    assert run.metrics["loss"].steps.tolist() == [0, 1, 2]
    assert run.components["prior"] == {
        "status": "success",
        "reason": None,
        "data": {"k": 2},
        "hint": None,
    }
    assert [p.name for p in run.artifacts] == ["notes.txt"]
    assert run.artifacts[0].read_text() == "lr=0.1"
    assert run.config["experiment"]["tags"] == ["grid", "nightly"]
    session = run.config["experiment"]["session"]
    assert load_run(f"{session}/lr=0.01", root=archive.root).params["lr"] == 0.01
    assert load_run(run.path).run_id == "lr=0.1"
    assert load_run("lr=0.0", root=archive.root).run_id == "lr=0.01", "a unique prefix"


def test_ambiguous_and_unknown_runs_say_so(pytester: pytest.Pytester, archive: Archive) -> None:
    pytester.makepyfile(test_exp=SWEEP)
    pytester.runpytest("-p", "no:xdist").assert_outcomes(passed=2)
    pytester.runpytest("-p", "no:xdist").assert_outcomes(passed=2)
    with pytest.raises(RunNotFound, match=r"'lr=0.1' matches 2 runs under"):
        load_run("lr=0.1", root=archive.root)
    with pytest.raises(RunNotFound, match=r"no run matches 'nope' under"):
        load_run("nope", root=archive.root)


def test_archive_filters_and_latest(pytester: pytest.Pytester, archive: Archive) -> None:
    pytester.makepyfile(test_exp=SWEEP)
    pytester.runpytest("-p", "no:xdist").assert_outcomes(passed=2)
    pytester.runpytest("-p", "no:xdist", "--exp-tag", "second", "-k", "0.01").assert_outcomes(
        passed=1, deselected=1
    )
    runs = RunArchive(archive.root)
    assert len(runs.runs()) == 3
    assert len(runs.runs(experiment="fit", status="completed")) == 3
    assert [r["run_id"] for r in runs.runs(tag="second")] == ["lr=0.01"]
    assert [r["params"]["lr"] for r in runs.runs(where={"lr": 0.1})] == [0.1]
    assert len(runs.runs(experiment="other")) == 0
    newest = runs.runs()
    assert newest.rows[0]["started_unix"] >= newest.rows[-1]["started_unix"], "newest first"
    latest = runs.latest("fit")
    assert latest.run_id == "lr=0.01" and "second" in latest.config["experiment"]["tags"]
    with pytest.raises(RunNotFound):
        runs.latest("other")
    loaded = runs.runs(where={"lr": 0.01}).load()
    assert sorted(r.metrics["loss"][-1] for r in loaded) == [pytest.approx(0.03)] * 2


def test_missing_or_corrupt_index_is_rebuilt_with_a_warning(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(test_exp=SWEEP)
    pytester.runpytest("-p", "no:xdist").assert_outcomes(passed=2)
    for name in ("index.sqlite", "index.sqlite-wal", "index.sqlite-shm"):
        (archive.root / name).unlink(missing_ok=True)
    with pytest.warns(IndexWarning, match="was missing; rebuilt from 2 run folders"):
        assert len(RunArchive(archive.root).runs()) == 2
    (archive.root / "index.sqlite").write_bytes(b"this is not a database" * 100)
    with pytest.warns(IndexWarning, match="unreadable"):
        assert len(RunArchive(archive.root).runs()) == 2
    assert list(archive.root.glob("index.sqlite.corrupt-*")), "the broken file is kept aside"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(RunArchive(archive.root).runs()) == 2, "no warning once rebuilt"


def test_testing_runs_have_their_own_index(pytester: pytest.Pytester, archive: Archive) -> None:
    pytester.makepyfile(test_exp=SWEEP)
    pytester.runpytest("-p", "no:xdist", "--exp-testing").assert_outcomes(passed=2)
    pytester.runpytest("-p", "no:xdist", "-k", "0.1").assert_outcomes(passed=1, deselected=1)
    assert rows(archive.root) == [("lr=0.1", "completed")]
    assert len(rows(archive.root / "_testing")) == 2
    (archive.root / "index.sqlite").unlink()
    with pytest.warns(IndexWarning):
        assert len(RunArchive(archive.root).runs()) == 1, "a rebuild leaves testing runs out"


def test_a_crashed_worker_run_is_indexed_crashed(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(
        test_exp="""
        import os, pytest
        @pytest.mark.parametrize("x", [1, 2])
        def test_c(exp, x):
            exp.track("loss", float(x))
            if x == 2:
                os._exit(1)
        """
    )
    pytester.runpytest("-n", "2")
    assert rows(archive.root) == [("x=1", "completed"), ("x=2", "crashed")]


def test_two_sessions_at_once_lose_nothing(pytester: pytest.Pytester, archive: Archive) -> None:
    pytester.makepyfile(
        test_a="""
        import pytest
        @pytest.mark.parametrize("i", range(25))
        def test_a(exp, i):
            exp.track("loss", float(i))
        """,
        test_b="""
        import pytest
        @pytest.mark.parametrize("i", range(25))
        def test_b(exp, i):
            exp.track("loss", float(i))
        """,
    )
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist"]
    sessions = [
        subprocess.Popen([*command, name], cwd=pytester.path, stdout=subprocess.PIPE)
        for name in ("test_a.py", "test_b.py")
    ]
    for proc in sessions:
        proc.communicate(timeout=120)
        assert proc.returncode == 0
    conn = sqlite3.connect(archive.root / "index.sqlite")
    counts = dict(conn.execute("SELECT experiment, COUNT(*) FROM runs GROUP BY experiment"))
    assert counts == {"a": 25, "b": 25}


def test_to_dataframe_without_pandas_says_how_to_install(
    pytester: pytest.Pytester, archive: Archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_exp=SWEEP)
    pytester.runpytest("-p", "no:xdist").assert_outcomes(passed=2)
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"pip install 'pytest-expharness\[pandas\]'"):
        RunArchive(archive.root).runs().to_dataframe()
