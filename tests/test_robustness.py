"""Robustness: what the issue-2 review found, each as a user would notice it."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import matplotlib.backends.backend_agg  # runs import these to plot; see conftest.py
import matplotlib.figure  # noqa: F401
import numpy
import pytest

from pytest_expharness.catalog.reading import read_run
from pytest_expharness.run import flusher
from pytest_expharness.run.tracking import image_png

from conftest import XDIST_MODES, Archive

NO_XDIST = ["-p", "no:xdist", "-p", "no:randomly"]


def _no_internal_error(result: pytest.RunResult) -> None:
    everything = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in everything, everything
    assert "Traceback" not in result.stderr.str(), result.stderr.str()


def _files(root: Path) -> set[str]:
    """Every path under root, bytecode caches left out."""
    skip = ("__pycache__", ".pytest_cache")
    return {
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if not any(part in skip for part in p.relative_to(root).parts)
    }


# -- 1. an empty, cut or foreign journal of a crashed run -----------------------

CRASH_AT_ONCE = """
    import os

    def test_train(exp):
        for i in range(5):
            exp.track("loss", 1.0 / (i + 1))
        os._exit(1)
"""

JOURNALS = {
    "empty": b"",
    "part-of-magic": b"EXPJ",
    "foreign": b"this is not a metrics journal at all\n",
}


@pytest.mark.parametrize("kind", list(JOURNALS))
def test_crashed_run_with_an_empty_or_foreign_journal_reads_crashed(
    pytester: pytest.Pytester, archive: Archive, kind: str
) -> None:
    pytester.makepyfile(test_crash=CRASH_AT_ONCE)
    result = pytester.runpytest_subprocess(*NO_XDIST)
    assert result.ret != 0
    run = archive.run("train")
    assert archive.summary(run)["status"] == "running"  # nobody was left to say otherwise
    journal = run / "metrics.journal"
    journal.write_bytes(JOURNALS[kind])  # as if the process died before the first flush

    summary = read_run(run)
    assert summary["status"] == "crashed"
    assert "is gone" in summary["crash"]["reason"]
    assert summary["crash"]["last_point"] is None
    assert summary["metrics"] == {}
    assert summary["duration"] is None
    assert summary["plots"] == []
    assert summary["artifacts"] == []
    assert summary["results"] == {}
    assert archive.summary(run) == summary  # recorded on disk, not only returned
    assert archive.metrics(run) == []  # metrics.csv: the header only
    assert "- status: **crashed**" in (run / "REPORT.md").read_text()

    log = archive.log(run)
    if kind == "foreign":
        assert journal.read_bytes() == JOURNALS[kind], "a foreign file is left as it was"
        warnings = [line for line in log.splitlines() if "WARNING" in line]
        assert len(warnings) == 1, log
        assert "metrics.journal is not a metrics journal" in warnings[0]
    else:
        assert "WARNING" not in log, log

    again = read_run(run)  # reading again changes nothing and still works
    assert again["status"] == "crashed"
    assert again["metrics"] == {}
    assert archive.log(run).count("WARNING") == (1 if kind == "foreign" else 0)


# -- 2. a bad marker argument or testing override, also under xdist ---------------

BAD_SPECS = {
    "marker-argument": (
        """
        import pytest

        @pytest.mark.experiment(tag=["x"])
        def test_a(exp):
            exp.track("loss", 1.0)
        """,
        [],
        "unknown argument 'tag' (did you mean tags?)",
    ),
    "testing-override": (
        """
        import pytest

        EPOCHS = 100

        @pytest.mark.experiment(testing={"EPOCS": 1})
        def test_a(exp):
            exp.track("loss", 1.0)
        """,
        ["--exp-testing"],
        "testing override 'EPOCS' is not a parameter (did you mean EPOCHS?)",
    ),
}


@pytest.mark.parametrize("mode", XDIST_MODES)
@pytest.mark.parametrize("case", list(BAD_SPECS))
def test_bad_marker_or_testing_override_is_a_clean_usage_error(
    pytester: pytest.Pytester, case: str, mode: list[str]
) -> None:
    source, args, message = BAD_SPECS[case]
    pytester.makepyfile(test_exp=source)
    result = pytester.runpytest(*mode, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str() + result.stderr.str()
    assert message in result.stderr.str()
    _no_internal_error(result)
    assert not (pytester.path / "results").exists()


# -- 3. a stored value that later contains itself ---------------------------------

SELF_CONTAINING = """
    def test_loop(exp):
        lst = [1]
        exp["a"] = lst
        lst.append(lst)
        exp["b"] = 2
        shared = [5]
        exp["shared"] = [shared, shared]  # met twice, but never inside itself
        with exp.component("model") as c:
            c.data["k"] = 3
        for i in range(4):
            exp.track("loss", 1.0 / (i + 1))
"""


def test_a_value_that_contains_itself_is_stored_as_its_repr(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(test_loop=SELF_CONTAINING)
    result = pytester.runpytest(*NO_XDIST)
    result.assert_outcomes(passed=1)
    run = archive.run("loop")
    summary = archive.summary(run)
    assert summary["status"] == "completed"
    assert summary["components"]["model"]["status"] == "success"
    assert summary["metrics"]["loss"]["count"] == 4
    assert summary["metrics"]["loss"]["final"] == 0.25
    assert summary["results"] == {"b": 2}
    assert archive.data(run) == {"a": [1, "[1, [...]]"], "b": 2, "shared": [[5], [5]]}
    warnings = [line for line in archive.log(run).splitlines() if " WARNING " in line]
    assert any("exp['a']" in line and "contains itself" in line for line in warnings), warnings
    assert len(summary["problems"]) == 1, summary["problems"]
    assert "exp['a']" in summary["problems"][0]
    assert "contains itself" in summary["problems"][0]
    assert [row[1:3] for row in archive.metrics(run)] == [
        ("loss", 1.0),
        ("loss", 0.5),
        ("loss", 1 / 3),
        ("loss", 0.25),
    ]
    assert "- status: **completed**" in (run / "REPORT.md").read_text()


# -- 4. pytest.exit() inside a run --------------------------------------------------

EXITING = """
    import pytest

    def test_stop(exp):
        for i in range(500):
            exp.track("loss", i / 500)
        exp.track("acc", 0.5, step=7)
        pytest.exit("stop now")
"""


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_pytest_exit_reads_interrupted_with_every_point(
    pytester: pytest.Pytester, archive: Archive, mode: list[str]
) -> None:
    pytester.makepyfile(test_stop=EXITING)
    result = pytester.runpytest(*mode)
    if "-n" not in mode:  # xdist reports a worker that exits as crashed; the run knows better
        assert result.ret == pytest.ExitCode.INTERRUPTED
    run = archive.run("stop")
    summary = archive.summary(run)
    assert summary["status"] == "interrupted"
    assert summary["reason"] == "pytest.exit: stop now"
    assert read_run(run)["status"] == "interrupted"
    points = [(name, step, value) for step, name, value, _ in archive.metrics(run)]
    assert points == [("loss", i, i / 500) for i in range(500)] + [("acc", 7, 0.5)]
    assert not (run / "metrics.journal").exists()
    assert "- status: **interrupted**" in (run / "REPORT.md").read_text()


# -- 5. an error in a later fixture's teardown ---------------------------------------

TEARDOWN_FAILS = """
    import pytest

    @pytest.fixture
    def cleanup(exp):
        yield
        raise RuntimeError("teardown boom")

    def test_fit(exp, cleanup):
        exp.track("loss", 0.5)
"""


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_error_in_a_fixture_teardown_reads_failed(
    pytester: pytest.Pytester, archive: Archive, mode: list[str]
) -> None:
    pytester.makepyfile(test_fit=TEARDOWN_FAILS)
    result = pytester.runpytest(*mode)
    result.assert_outcomes(passed=1, errors=1)
    run = archive.run("fit")
    summary = archive.summary(run)
    assert summary["status"] == "failed"
    assert summary["error"]["type"] == "RuntimeError"
    assert summary["error"]["message"] == "teardown boom"
    assert summary["metrics"]["loss"]["final"] == 0.5  # the rest of the run is kept
    assert read_run(run)["status"] == "failed"
    report = (run / "REPORT.md").read_text()
    assert "- status: **failed**" in report
    assert "RuntimeError: teardown boom" in report
    log = archive.log(run)
    assert 'raise RuntimeError("teardown boom")' in log
    assert "E       RuntimeError: teardown boom" in log
    out = result.stdout.str()
    assert re.search(r"=+ experiments =+", out), out
    section = re.split(r"=+ experiments =+", out)[1]
    assert re.search(r"^fit: 1 runs? \(1 failed\)", section, re.MULTILINE), section


# -- 6. run ids from parametrize ids -----------------------------------------------

RUN_IDS = """
    import pytest

    @pytest.mark.parametrize("layers", [[32, 32], [64, 64]], ids=["small", "big"])
    def test_wide(exp, layers):
        exp["layers"] = layers

    @pytest.mark.parametrize("beta", [0, 10])
    def test_scalar(exp, beta):
        exp["beta"] = beta
"""


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_run_ids_follow_parametrize_ids(
    pytester: pytest.Pytester, archive: Archive, mode: list[str]
) -> None:
    pytester.makepyfile(test_ids=RUN_IDS)
    for session in range(2):  # the same names every time, whichever worker ran them
        shutil.rmtree(pytester.path / "results", ignore_errors=True)
        pytester.runpytest(*mode).assert_outcomes(passed=4)
        wide = {run.name: archive.data(run)["layers"] for run in archive.runs("wide")}
        assert wide == {"small": [32, 32], "big": [64, 64]}, session
        assert [run.name for run in archive.runs("scalar")] == ["beta=0", "beta=10"], session
        for run in archive.runs("wide"):
            assert archive.config(run)["experiment"]["run_id"] == run.name


# -- 7. two frames at the same step ------------------------------------------------

TWO_FRAMES = """
    import numpy as np

    def test_frames(exp):
        first = np.arange(16, dtype=np.uint8).reshape(4, 4)
        exp.track("img", first, step=3)
        exp.track("img", first[::-1].copy(), step=3)
"""


def test_two_frames_at_one_step_are_both_kept(pytester: pytest.Pytester, archive: Archive) -> None:
    pytester.makepyfile(test_frames=TWO_FRAMES)
    pytester.runpytest(*NO_XDIST).assert_outcomes(passed=1)
    run = archive.run("frames")
    folder = run / "tracked" / "img"
    assert sorted(p.name for p in folder.iterdir()) == ["000003-1.png", "000003.png"]
    first = numpy.arange(16, dtype=numpy.uint8).reshape(4, 4)
    assert (folder / "000003.png").read_bytes() == image_png(first)
    assert (folder / "000003-1.png").read_bytes() == image_png(first[::-1].copy())
    assert archive.summary(run)["frames"] == {"img": 2}


# -- 8. foreign dtypes and huge ints raise TypeError ---------------------------------

FOREIGN_VALUES = """
    class Odd:
        dtype = object()
        shape = ()

        def tolist(self):
            return []

    def raised(call):
        try:
            call()
        except Exception as error:
            return type(error).__name__
        return None

    def test_odd(exp):
        exp["seen"] = {
            "track": raised(lambda: exp.track("x", Odd())),
            "store": raised(lambda: exp.__setitem__("k", Odd())),
            "huge": raised(lambda: exp.track("x", 10**400)),
            "huge_store_ok": raised(lambda: exp.__setitem__("big", 10**400)),
        }
"""


def test_foreign_dtype_and_huge_int_raise_type_error(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(test_odd=FOREIGN_VALUES)
    pytester.runpytest(*NO_XDIST).assert_outcomes(passed=1)
    run = archive.run("odd")
    data = archive.data(run)
    assert data["seen"] == {
        "track": "TypeError",
        "store": "TypeError",
        "huge": "TypeError",
        "huge_store_ok": None,
    }
    assert "k" not in data
    summary = archive.summary(run)
    assert summary["status"] == "completed"
    assert summary["metrics"] == {} and summary["frames"] == {}


# -- 9. an unannotated Path constant ------------------------------------------------

PATH_CONSTANT = """
    from pathlib import Path

    DATA_DIR = Path("data")

    def test_paths(exp):
        exp["seen"] = {
            "is_path": isinstance(exp.DATA_DIR, Path),
            "module_is_path": isinstance(DATA_DIR, Path),
            "value": str(exp.DATA_DIR),
        }
"""


def test_unannotated_path_constant_is_overridden_as_a_path(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(test_paths=PATH_CONSTANT)
    elsewhere = pytester.path / "elsewhere"
    pytester.runpytest(*NO_XDIST, "--exp-set", f"DATA_DIR={elsewhere}").assert_outcomes(passed=1)
    seen = archive.data(archive.run("paths"))["seen"]
    assert seen == {"is_path": True, "module_is_path": True, "value": str(elsewhere)}

    shutil.rmtree(pytester.path / "results")  # a Path takes the text as typed, digits too
    pytester.runpytest(*NO_XDIST, "--exp-set", "DATA_DIR=5").assert_outcomes(passed=1)
    seen = archive.data(archive.run("paths"))["seen"]
    assert seen == {"is_path": True, "module_is_path": True, "value": "5"}


# -- 10. --exp-set X=inf, and a lowercase name ---------------------------------------------

FLOAT_CONSTANT = """
    LR = 0.1
    EPOCHS = 10

    def test_rate(exp):
        exp["seen"] = {"lr": repr(exp.LR), "type": type(exp.LR).__name__}
"""


@pytest.mark.parametrize("text", ["inf", "-inf"])
def test_set_inf_is_a_float(pytester: pytest.Pytester, archive: Archive, text: str) -> None:
    pytester.makepyfile(test_rate=FLOAT_CONSTANT)
    pytester.runpytest(*NO_XDIST, "--exp-set", f"LR={text}").assert_outcomes(passed=1)
    seen = archive.data(archive.run("rate"))["seen"]
    assert seen == {"lr": repr(float(text)), "type": "float"}


def test_set_lowercase_name_suggests_the_parameter(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_rate=FLOAT_CONSTANT)
    result = pytester.runpytest(*NO_XDIST, "--exp-set", "epochs=3")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    stderr = result.stderr.str()
    assert "'epochs' is not a parameter name" in stderr
    assert "did you mean EPOCHS?" in stderr
    _no_internal_error(result)
    assert not (pytester.path / "results").exists()


# -- 11. --exp-root naming a file ---------------------------------------------------


@pytest.mark.parametrize("mode", XDIST_MODES)
@pytest.mark.parametrize(
    "below",
    [pytest.param("", id="the-file"), pytest.param("runs", id="under-it")],
)
def test_exp_root_that_is_a_file_is_a_usage_error(
    pytester: pytest.Pytester, mode: list[str], below: str
) -> None:
    pytester.makepyfile(
        test_exp="""
        def test_a(exp):
            exp.track("loss", 1.0)
        """
    )
    target = pytester.path / "notafolder.txt"
    target.write_text("keep me\n")
    root = target / below if below else target
    before = _files(pytester.path)
    result = pytester.runpytest(*mode, "--exp-root", str(root))
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str() + result.stderr.str()
    stderr = result.stderr.str()
    if below:
        assert f"--exp-root {root}" in stderr and "not a folder" in stderr, stderr
    else:
        assert f"--exp-root {root}: exists and is not a folder" in stderr
    _no_internal_error(result)
    assert target.read_text() == "keep me\n"
    assert _files(pytester.path) == before


# -- 12. git_dirty and untracked files -----------------------------------------------


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def _committed_experiment(pytester: pytest.Pytester) -> None:
    """Make pytester's folder a git repository with the experiment committed."""
    pytester.makepyfile(
        test_exp="""
        def test_a(exp):
            exp.track("loss", 1.0)
        """
    )
    pytester.makefile("", **{".gitignore": "__pycache__/\n"})
    _git(pytester.path, "init", "-q")
    _git(pytester.path, "add", "-A")
    _git(pytester.path, "commit", "-q", "-m", "experiments")


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_dirty_counts_untracked_files_outside_the_archive(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    _committed_experiment(pytester)

    def dirty_flags() -> list[object]:
        pytester.runpytest(*NO_XDIST).assert_outcomes(passed=1)
        return [archive.config(run)["experiment"]["git_dirty"] for run in archive.runs("a")]

    assert dirty_flags() == [False], "results/ itself is not a change"
    assert dirty_flags() == [False, False], "nor are earlier sessions' runs"
    (pytester.path / "notes.txt").write_text("not committed\n")
    flags = dirty_flags()
    assert sorted(flags, key=str) == [False, False, True]


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_dirty_ignores_an_archive_root_inside_a_new_folder(pytester: pytest.Pytester) -> None:
    _committed_experiment(pytester)
    archive = Archive(pytester.path / "out" / "archive")
    pytester.runpytest(*NO_XDIST, "--exp-root", "out/archive").assert_outcomes(passed=1)
    run = archive.run("a")
    assert archive.config(run)["experiment"]["git_dirty"] is False


# -- 13. values changed in place are saved while the run goes --------------------------

IN_PLACE = """
    import json
    import time

    def _wait_for(path, wanted, timeout=2.5):
        end = time.time() + timeout
        seen = None
        while time.time() < end:
            try:
                seen = json.loads(path.read_text())
            except (OSError, ValueError):
                seen = None
            if seen == wanted:
                break
            time.sleep(0.02)
        return seen

    def test_history(exp):
        h = []
        exp["h"] = h
        before = _wait_for(exp.path / "data.json", {"h": []})  # the assignment is saved
        h.append(1)
        after = _wait_for(exp.path / "data.json", {"h": [1]})  # and, later, the change
        exp["seen"] = {"before": before, "after": after}
"""


def test_values_changed_in_place_are_saved_at_the_heartbeat(
    pytester: pytest.Pytester, archive: Archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(flusher, "HEARTBEAT_INTERVAL", 0.2)
    pytester.makepyfile(test_history=IN_PLACE)
    pytester.runpytest(*NO_XDIST).assert_outcomes(passed=1)
    data = archive.data(archive.run("history"))
    assert data["seen"] == {"before": {"h": []}, "after": {"h": [1]}}
    assert data["h"] == [1]
