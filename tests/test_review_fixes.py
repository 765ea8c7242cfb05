"""Regression tests for the review fixes of 8f823b1, each one as a user would meet the bug."""

from __future__ import annotations

import json
import re
import socket
import time
from pathlib import Path
from typing import Any

import matplotlib.figure  # noqa: F401  (see tests/conftest.py)
import pytest

from pytest_expharness.cli import main as cli

from conftest import Archive, rendered

NO_XDIST = ("-p", "no:xdist")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()  # what earlier steps printed is not this command's output
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# 1. code/ and the source hash are of the module as collected

SELF_EDITING = """
    import pathlib
    import pytest

    MARK = "original-marker"

    @pytest.mark.parametrize("x", [1, 2])
    def test_edit(exp, x):
        exp["results/mark"] = MARK
        if x == 1:  # an edit while the sweep runs: the second point still runs the old code
            path = pathlib.Path(__file__)
            text = path.read_text().replace("original" + "-marker", "edited-mid-sweep-marker")
            path.write_text(text)
"""


def test_an_edit_mid_sweep_changes_neither_code_nor_source_hash(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    module = pytester.makepyfile(test_edit=SELF_EDITING)
    collected = module.read_bytes()
    pytester.runpytest(*NO_XDIST).assert_outcomes(passed=2)
    assert b"edited-mid-sweep-marker" in module.read_bytes(), "the first point did edit it"
    first, second = archive.runs()
    assert archive.data(second)["results"]["mark"] == "original-marker"
    for folder in (first, second):
        assert (folder / "code" / "test_edit.py").read_bytes() == collected, folder.name
    hashes = [archive.config(f)["experiment"]["source_hash"] for f in (first, second)]
    assert hashes[0] is not None and hashes[0] == hashes[1]


# 2. a failing analysis never fails a run or a session, even when warnings are errors

ANALYSED = """
    from pytest_expharness import analysis

    def test_fit(exp):
        exp.track("loss", 1.0)

    @analysis
    def analyse(run):
        raise RuntimeError("analysis broke")
"""
SWEEP_ANALYSED = """
    import pytest
    from pytest_expharness import sweep_analysis

    @pytest.mark.parametrize("x", [1, 2])
    def test_fit(exp, x):
        exp.track("loss", float(x))

    @sweep_analysis
    def pick(sweep):
        raise RuntimeError("sweep analysis broke")
"""


@pytest.mark.parametrize("errors", ["-W error", "ini"])
def test_a_failing_analysis_under_warnings_as_errors_keeps_the_run(
    pytester: pytest.Pytester, archive: Archive, errors: str
) -> None:
    pytester.makepyfile(test_exp=ANALYSED)
    if errors == "ini":
        pytester.makeini("[pytest]\nfilterwarnings =\n    error\n")
        result = pytester.runpytest(*NO_XDIST)
    else:
        result = pytester.runpytest(*NO_XDIST, "-W", "error")
    result.assert_outcomes(passed=1)
    assert result.ret == 0
    folder = archive.run()
    assert archive.summary(folder)["status"] == "completed"
    outcome = archive.summary(folder)["analysis"]
    assert outcome["status"] == "failed" and "RuntimeError: analysis broke" in outcome["error"]


@pytest.mark.parametrize(
    ("given", "shown"),
    [([], True), (["-W", "error::pytest.PytestWarning"], True),
     (["-W", "ignore::pytest.PytestWarning"], False)],
    ids=["default", "error", "ignore"],
)  # fmt: skip
def test_a_failing_analysis_warning_follows_the_users_filters(
    pytester: pytest.Pytester, archive: Archive, given: list[str], shown: bool
) -> None:
    pytester.makepyfile(test_exp=ANALYSED)
    result = pytester.runpytest(*NO_XDIST, *given)
    result.assert_outcomes(passed=1)
    assert ("AnalysisWarning" in result.stdout.str()) is shown, result.stdout.str()
    assert archive.summary(archive.run())["analysis"]["status"] == "failed"


def test_a_failing_sweep_analysis_under_w_error_still_writes_tables_report_and_index(
    pytester: pytest.Pytester, archive: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    pytester.makepyfile(test_exp=SWEEP_ANALYSED)
    result = pytester.runpytest(*NO_XDIST, "-W", "error")
    result.assert_outcomes(passed=2)
    assert result.ret == 0
    session = archive.runs()[0].parent
    for name in ("comparison.csv", "report.html"):
        assert (session / name).is_file(), name
    table = json.loads((session / "comparison.json").read_text())
    assert table["analysis"]["status"] == "failed"
    code, out, _ = run(capsys, "--root", str(archive.root), "list", "--json")
    assert code == 0 and sorted(r["run_id"] for r in json.loads(out)) == ["x=1", "x=2"]


# 3. the cache: testing runs apart, json and npz misses return what a hit will

CACHED = """
    import pathlib

    CALLS = pathlib.Path(__file__).parent / "calls.txt"

    def test_cached(exp):
        @exp.cache.cached("feat", scope="dataset")
        def features(n):
            with open(CALLS, "a") as f:
                f.write(f"{n}\\n")
            return n * n

        assert features(3) == 9
"""


def calls(pytester: pytest.Pytester) -> list[str]:
    path = pytester.path / "calls.txt"
    return path.read_text().split() if path.exists() else []


def test_a_testing_run_never_fills_the_cache_of_real_runs(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(test_exp=CACHED)
    pytester.runpytest(*NO_XDIST, "--exp-testing").assert_outcomes(passed=1)
    assert calls(pytester) == ["3"]
    assert len(list((archive.root / "_testing" / ".cache" / "dataset").glob("feat-*"))) == 1
    assert not (archive.root / ".cache").exists()
    pytester.runpytest(*NO_XDIST).assert_outcomes(passed=1)
    assert calls(pytester) == ["3", "3"], "the real run computes"
    (real,) = [p for p in archive.runs() if "_testing" not in p.parts]
    assert archive.summary(real)["cache"]["misses"] == ["feat"]
    assert len(list((archive.root / ".cache" / "dataset").glob("feat-*"))) == 1


BACKENDS = """
    import numpy as np

    def test_backends(exp):
        @exp.cache.cached("pair", backend="json")
        def pair(n):
            return (n, n + 1)

        @exp.cache.cached("vector", backend="npz")
        def vector(n):
            return [float(i) for i in range(n)]

        got, arr = pair(1), vector(3)
        exp["results/json"] = [type(got).__name__, got]
        exp["results/npz"] = [type(arr).__module__ + "." + type(arr).__name__, list(arr)]
"""


def test_json_and_npz_misses_return_what_hits_return(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(test_exp=BACKENDS)
    found = []
    for _ in range(2):  # two sessions: a miss, then a hit
        pytester.runpytest(*NO_XDIST).assert_outcomes(passed=1)
        found += [p for p in archive.runs() if p not in found]
    miss, hit = found
    assert archive.summary(miss)["cache"]["misses"] == ["pair", "vector"]
    assert archive.summary(hit)["cache"]["hits"] == ["pair", "vector"]
    for folder in (miss, hit):
        results = archive.data(folder)["results"]
        assert results["json"] == ["list", [1, 2]], folder
        assert results["npz"] == ["numpy.ndarray", [0.0, 1.0, 2.0]], folder


# 4. gc: a dry run writes nothing; runs alive on another host are spared

GC_SWEEP = """
    import pytest

    @pytest.mark.parametrize("x", [1, 2, 3])
    def test_fit(exp, x):
        exp.track("loss", float(x))
"""


def make_running(folder: Path, host: str, pid: int, heartbeat: float) -> None:
    """Make a completed run look as if its process still ran (or died without a word)."""
    summary = Archive.summary(folder)
    summary.update(status="running", host=host, pid=pid, heartbeat=heartbeat)
    (folder / "summary.json").write_text(json.dumps(summary))


def snapshot(root: Path) -> dict[str, tuple[int, bytes]]:
    return {
        p.relative_to(root).as_posix(): (p.stat().st_mtime_ns, p.read_bytes())
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def gc_runs(pytester: pytest.Pytester, archive: Archive) -> list[Path]:
    pytester.makepyfile(test_exp=GC_SWEEP)
    pytester.runpytest(*NO_XDIST).assert_outcomes(passed=3)
    return archive.runs()


def test_gc_dry_run_writes_nothing_even_for_a_dead_run(
    gc_runs: list[Path], archive: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    dead = gc_runs[0]
    # no such pid; the heartbeat is two hours old, since gc waits an hour after the last one
    make_running(dead, socket.gethostname(), 2_000_000_000, time.time() - 7200)
    time.sleep(0.05)  # any write after this has a later mtime
    before = snapshot(archive.root)
    code, out, _ = run(
        capsys, "--root", str(archive.root), "gc", "--status", "crashed", "--dry-run"
    )
    assert code == 0 and "dry run: would delete 1 run" in out
    assert snapshot(archive.root) == before, "a dry run changes no file"
    assert Archive.summary(dead)["status"] == "running"


def test_gc_spares_a_run_on_another_host_until_its_heartbeat_is_old(
    gc_runs: list[Path], archive: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    _, recent, stale = gc_runs
    make_running(recent, "gpu-node-17", 4242, time.time() - 90)
    make_running(stale, "gpu-node-17", 4242, time.time() - 7200)
    code, out, _ = run(capsys, "--root", str(archive.root), "gc", "--status", "crashed")
    assert code == 0 and "deleted 1 run" in out
    path = recent.relative_to(archive.root).as_posix()
    assert re.search(rf"kept {re.escape(path)}: may still be running on gpu-node-17", out), out
    assert recent.is_dir() and not stale.exists()
    assert Archive.summary(recent)["status"] == "running", "a spared run is left as it is"


# 5. label refuses a run outside --root


def test_label_refuses_a_run_of_another_root(
    pytester: pytest.Pytester, archive: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    pytester.makepyfile(test_exp="def test_one(exp):\n    exp.track('loss', 1.0)\n")
    pytester.runpytest(*NO_XDIST).assert_outcomes(passed=1)
    folder = archive.run()
    config = (folder / "config.yaml").read_bytes()
    other = pytester.path / "other"  # another archive root (A); the run is in results/ (B)
    other.mkdir()
    code, out, err = run(capsys, "--root", str(other), "label", str(folder), "keep")
    assert (code, out) == (2, "")
    assert err.startswith("expharness: ") and len(err.strip().splitlines()) == 1, err
    assert (folder / "config.yaml").read_bytes() == config


# 6. imported classes: deselected only where the session collects them where defined

BASE = """
    class TestBase:
        WIDTH = 4

        def test_train(self, exp):
            exp["results/width"] = exp.WIDTH
"""
CHILD = """
    from {base} import TestBase

    class TestWide(TestBase):
        WIDTH = 16
"""


def test_an_imported_base_runs_unless_its_own_module_is_collected(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(base_module=BASE, test_child=CHILD.format(base="base_module"))
    result = pytester.runpytest(*NO_XDIST)
    result.assert_outcomes(passed=2)
    assert "deselected" not in result.stdout.str()
    assert archive.data(archive.run("Base.train"))["results"]["width"] == 4
    assert archive.data(archive.run("Wide.train"))["results"]["width"] == 16
    first = set(archive.runs())
    pytester.path.joinpath("base_module.py").rename(pytester.path / "test_base.py")
    pytester.makepyfile(test_child=CHILD.format(base="test_base"))
    result = pytester.runpytest(*NO_XDIST)
    result.assert_outcomes(passed=2)
    assert "2 passed, 1 deselected" in result.stdout.str(), "the imported copy is deselected"
    new = [p for p in archive.runs() if p not in first]
    assert sorted(archive.config(p)["experiment"]["name"] for p in new) == [
        "Base.train",
        "Wide.train",
    ]


# 7. a report over two experiments of one session names runs apart

TWO = """
    import pytest

    @pytest.mark.parametrize("x", [1, 2])
    def test_a(exp, x):
        exp.track("loss", float(x))

    @pytest.mark.parametrize("x", [1, 2])
    def test_b(exp, x):
        exp.track("loss", float(-x))
"""


@pytest.fixture
def two_experiments_report(
    pytester: pytest.Pytester, archive: Archive, capsys: pytest.CaptureFixture[str], browser: Any
) -> str:
    pytester.makepyfile(test_two=TWO)
    pytester.runpytest(*NO_XDIST).assert_outcomes(passed=4)
    target = pytester.path / "f.html"
    runs = [str(p) for p in archive.runs()]
    code, out, _ = run(capsys, "--root", str(archive.root), "report", *runs, "--to", str(target))
    assert code == 0 and "4 runs" in out
    return rendered(browser, target)  # the page's script builds the run sections


def test_report_over_two_experiments_names_runs_experiment_slash_run_id(
    two_experiments_report: str,
) -> None:
    page = two_experiments_report
    headings = re.findall(r'<section class="run" id="[^"]*"><h3>([^<]*?) <span', page)
    assert sorted(headings) == ["a/x=1", "a/x=2", "b/x=1", "b/x=2"]
    links = re.findall(r'<a href="#[^"]*">([^<]*)</a>', page)
    assert sorted(links) == ["a/x=1", "a/x=2", "b/x=1", "b/x=2"], "comparison rows"


def test_report_over_two_experiments_has_distinct_anchors(two_experiments_report: str) -> None:
    page = two_experiments_report
    ids = re.findall(r'<section class="run" id="([^"]*)">', page)
    targets = re.findall(r'<a href="#([^"]*)">', page)
    assert len(ids) == 4 and len(set(ids)) == 4, ids
    assert sorted(targets) == sorted(ids), "each row links to its own run"
