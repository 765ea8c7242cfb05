"""Where the archive is, what is an archive, and what provenance records (issue 12: 1, 8, 15)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import xdist

from pytest_expharness.archive import layout
from pytest_expharness.session import provenance

from conftest import Archive

NO_XDIST = ["-p", "no:xdist", "-p", "no:randomly"]
needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")

EXPERIMENT = """
def test_a(exp):
    exp.track("loss", 1.0)
"""


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def _commit_all(folder: Path) -> None:
    """Make folder a git repository with everything in it committed."""
    (folder / ".gitignore").write_text("__pycache__/\n")
    _git(folder, "init", "-q")
    _git(folder, "add", "-A")
    _git(folder, "commit", "-q", "-m", "project")


def _mark(folder: Path) -> Path:
    """Make folder an archive root the way a session leaves one."""
    layout.create_root(folder)
    return folder


def _header(run: Path) -> dict[str, object]:
    return Archive.config(run)["experiment"]


# -- 1. a results/ folder is collected unless it is an archive --------------------------


@pytest.mark.parametrize(
    "plugin",
    [
        pytest.param([], id="with-plugin"),
        pytest.param(["-p", "no:expharness"], id="without-plugin"),
    ],
)
def test_a_results_folder_of_plain_tests_is_collected(
    pytester: pytest.Pytester, plugin: list[str]
) -> None:
    pytester.makepyfile(test_top="def test_top():\n    pass\n")
    (pytester.path / "results").mkdir()
    (pytester.path / "results" / "test_results.py").write_text("def test_r():\n    pass\n")
    pytester.runpytest(*NO_XDIST, *plugin).assert_outcomes(passed=2)


@pytest.mark.parametrize(
    "folder",
    [
        "results",
        pytest.param("old_archive"),
    ],
)
@pytest.mark.parametrize("kind", ["marker", "index-only"])
def test_an_archive_root_is_never_collected(
    pytester: pytest.Pytester, folder: str, kind: str
) -> None:
    pytester.makepyfile(test_top="def test_top():\n    pass\n")
    root = pytester.path / folder
    if kind == "marker":
        _mark(root)
    else:  # an archive from before the marker: its index says what it is
        root.mkdir()
        (root / layout.INDEX).write_bytes(b"")
    (root / "test_copied.py").write_text("def test_copied():\n    pass\n")
    result = pytester.runpytest(*NO_XDIST, "-v")
    result.assert_outcomes(passed=1)
    assert "test_copied" not in result.stdout.str()


def test_the_marker_is_no_run_and_travels_nowhere(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(test_exp=EXPERIMENT)
    pytester.runpytest(*NO_XDIST).assert_outcomes(passed=1)
    marker = archive.root / layout.MARKER
    assert json.loads(marker.read_text()) == {"format": 1}
    assert layout.is_archive_root(archive.root)
    assert layout.iter_run_folders(archive.root) == archive.runs()


def test_an_unmarked_archive_gets_the_marker_when_a_session_writes_to_it(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(test_exp=EXPERIMENT)
    pytester.runpytest(*NO_XDIST).assert_outcomes(passed=1)
    (archive.root / layout.MARKER).unlink()  # as an archive written before markers existed
    assert layout.is_archive_root(archive.root), "its index.sqlite says it is an archive"
    pytester.runpytest(*NO_XDIST).assert_outcomes(passed=1)
    assert (archive.root / layout.MARKER).is_file()
    assert len(archive.runs()) == 2


# -- 15. the default root is results/ at the project's root ------------------------------


@needs_git
def test_a_subdirectory_of_a_git_project_without_config_archives_at_the_top(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    experiments = pytester.mkdir("experiments")
    (experiments / "test_x.py").write_text(EXPERIMENT)
    _commit_all(pytester.path)
    monkeypatch.chdir(experiments)
    for _ in range(2):  # the second session sees the first one's archive
        pytester.runpytest(*NO_XDIST, "test_x.py").assert_outcomes(passed=1)
    assert not (experiments / "results").exists(), "no second archive in the subdirectory"
    runs = Archive(pytester.path / "results").runs()
    assert len(runs) == 2
    assert [_header(run)["git_dirty"] for run in runs] == [False, False]


def test_a_pytest_ini_at_the_top_puts_the_archive_there(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeini("[pytest]\n")
    experiments = pytester.mkdir("experiments")
    (experiments / "test_x.py").write_text(EXPERIMENT)
    monkeypatch.chdir(experiments)
    pytester.runpytest(*NO_XDIST, "test_x.py").assert_outcomes(passed=1)
    assert not (experiments / "results").exists()
    assert len(Archive(pytester.path / "results").runs()) == 1


@needs_git
def test_a_slurm_task_pinned_without_config_finds_the_same_root(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A task runs with --rootdir and `-c /dev/null`: no config file, so the git top still rules."""
    experiments = pytester.mkdir("experiments")
    (experiments / "test_x.py").write_text(EXPERIMENT)
    _commit_all(pytester.path)
    monkeypatch.chdir(experiments)
    pinned = [f"--rootdir={experiments}", "--config-file=/dev/null"]
    pytester.runpytest(*NO_XDIST, *pinned, "test_x.py").assert_outcomes(passed=1)
    assert not (experiments / "results").exists()
    assert len(Archive(pytester.path / "results").runs()) == 1


def test_without_git_or_config_the_rootdir_holds_the_archive(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    experiments = pytester.mkdir("experiments")
    (experiments / "test_x.py").write_text(EXPERIMENT)
    monkeypatch.chdir(experiments)
    pytester.runpytest(*NO_XDIST, "test_x.py").assert_outcomes(passed=1)
    assert len(Archive(experiments / "results").runs()) == 1


# -- git_dirty ignores every archive in the repository -----------------------------------


@needs_git
def test_git_dirty_ignores_other_archives_in_the_repository(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(test_exp=EXPERIMENT)
    committed = _mark(pytester.path / "kept")  # an archive committed with the code
    (committed / "notes.yaml").write_text("a: 1\n")
    _commit_all(pytester.path)
    (committed / "notes.yaml").write_text("a: 2\n")  # a tracked change inside an archive
    _mark(pytester.path / "experiments" / "results")  # an untracked archive of an old session
    (pytester.path / "out" / "deep").mkdir(parents=True)  # untracked folders around one
    (pytester.path / "out" / "deep" / "archive").mkdir()
    (pytester.path / "out" / "deep" / "archive" / layout.INDEX).write_bytes(b"")
    pytester.runpytest(*NO_XDIST).assert_outcomes(passed=1)
    assert _header(archive.run())["git_dirty"] is False
    (pytester.path / "out" / "notes.txt").write_text("not committed\n")  # beside an archive
    pytester.runpytest(*NO_XDIST).assert_outcomes(passed=1)
    assert sorted(_header(run)["git_dirty"] for run in archive.runs()) == [False, True]


@needs_git
def test_git_dirty_still_sees_a_change_beside_the_archives(tmp_path: Path) -> None:
    (tmp_path / "code.py").write_text("x = 1\n")
    _commit_all(tmp_path)
    _mark(tmp_path / "results")
    assert provenance.git_state(tmp_path)["git_dirty"] is False
    (tmp_path / "code.py").write_text("x = 2\n")
    assert provenance.git_state(tmp_path)["git_dirty"] is True


# -- find_root: the `expharness` command finds the same archive from anywhere ------------


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    (project / "src" / "deep").mkdir(parents=True)
    (project / ".git").mkdir()  # a checkout's top, as far as finding it goes
    _mark(project / "results")
    (project / "results" / "exp" / "session").mkdir(parents=True)
    return project


def test_find_root_from_a_nested_folder(tmp_path: Path) -> None:
    project = _project(tmp_path)
    assert layout.find_root(project / "src" / "deep", {}) == project / "results"


def test_find_root_from_inside_the_archive(tmp_path: Path) -> None:
    project = _project(tmp_path)
    assert layout.find_root(project / "results" / "exp" / "session", {}) == project / "results"


def test_find_root_honours_expharness_root(tmp_path: Path) -> None:
    project = _project(tmp_path)
    elsewhere = tmp_path / "scratch" / "archive"
    assert layout.find_root(project / "src", {"EXPHARNESS_ROOT": str(elsewhere)}) == elsewhere
    relative = {"EXPHARNESS_ROOT": "mine"}
    assert layout.find_root(project / "src", relative) == project / "src" / "mine"


def test_find_root_stops_at_the_project_top(tmp_path: Path) -> None:
    _mark(tmp_path / "results")  # an archive above the project is someone else's
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "pyproject.toml").write_text("[tool.pytest.ini_options]\naddopts = ''\n")
    assert layout.find_root(project / "src", {}) == project / "results", "where one would go"


def test_find_root_finds_an_archive_from_before_the_marker(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "tox.ini").write_text("[pytest]\n")
    (project / "results").mkdir()
    (project / "results" / layout.INDEX).write_bytes(b"")
    assert layout.find_root(project / "src", {}) == project / "results"


# -- 8. provenance names the pytest plugins and pytest-randomly's seed -------------------


def test_provenance_lists_pytest_plugins_with_versions(pytester: pytest.Pytester) -> None:
    config = pytester.parseconfigure("-p", "no:randomly")
    found = provenance.collect(pytester.path, ["pytest"], None, config)
    assert found["pytest_plugins"]["pytest-xdist"] == xdist.__version__
    assert "pytest-expharness" in found["pytest_plugins"]
    assert "randomly_seed" not in found


def test_a_run_records_the_pytest_plugins(pytester: pytest.Pytester, archive: Archive) -> None:
    pytester.makepyfile(test_exp=EXPERIMENT)
    pytester.runpytest("-p", "no:randomly", "-n", "2").assert_outcomes(passed=1)
    assert _header(archive.run())["pytest_plugins"]["pytest-xdist"] == xdist.__version__


@pytest.mark.with_randomly
def test_a_run_records_pytest_randomlys_seed(pytester: pytest.Pytester, archive: Archive) -> None:
    pytest.importorskip(
        "pytest_randomly",
        reason="pytest-randomly is not installed (its seed is recorded only when it is active)",
    )
    pytester.makepyfile(test_exp=EXPERIMENT)
    pytester.runpytest("-p", "no:xdist", "--randomly-seed=1234").assert_outcomes(passed=1)
    header = _header(archive.run())
    assert header["randomly_seed"] == 1234
    assert "pytest-randomly" in header["pytest_plugins"]  # type: ignore[operator]
