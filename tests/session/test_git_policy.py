"""Git and the archive (issue 13, points 16, 17 and 20).

- 16: the archive's .gitignore left `.cache/`, `_testing/` and every `code/` copy
  trackable; an archive that has the old .gitignore gets the new one, unless
  someone edited it.
- 17: a repository without commits was recorded as "not a git repository".
- 20: a session on a dirty tree warns once, naming up to five changed paths;
  `--exp-require-clean` (ini `exp_require_clean`) refuses to start.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from pytest_expharness.archive import layout
from pytest_expharness.session import gitpolicy, provenance

from conftest import XDIST_MODES, Archive

NO_XDIST = ("-p", "no:xdist")
EXPERIMENT = """
    def test_fit(exp):
        exp.track("loss", 1.0)

    def test_plain():
        pass
"""
PLAIN = "def test_plain():\n    pass\n"


def git(folder: Path, *args: str) -> str:
    command = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"]
    return subprocess.run(
        [*command, *args], cwd=folder, check=True, capture_output=True, text=True
    ).stdout


def committed(folder: Path) -> str:
    """Make folder a repository holding everything in it; return the commit."""
    git(folder, "init", "-q")
    (folder / ".gitignore").write_text("__pycache__/\n")
    git(folder, "add", "-A")
    git(folder, "commit", "-qm", "start")
    return git(folder, "rev-parse", "HEAD").strip()


# -- 17: the note of a run without a commit ----------------------------------------------


def test_the_header_says_why_there_is_no_commit(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(test_exp=EXPERIMENT)
    pytester.runpytest(*NO_XDIST).assert_outcomes(passed=2)
    head = archive.config(archive.run())["experiment"]
    assert (head["git_commit"], head["git_note"]) == (None, "not a git repository")

    git(pytester.path, "init", "-q")
    pytester.runpytest(*NO_XDIST).assert_outcomes(passed=2)
    notes = sorted(archive.config(run)["experiment"]["git_note"] for run in archive.runs())
    assert notes == ["no commits yet", "not a git repository"]

    git(pytester.path, "add", "test_exp.py")
    git(pytester.path, "commit", "-qm", "first")
    pytester.runpytest(*NO_XDIST).assert_outcomes(passed=2)
    heads = [archive.config(run)["experiment"] for run in archive.runs()]
    (with_commit,) = [head for head in heads if head["git_commit"]]
    assert with_commit["git_note"] is None
    assert sorted(str(head["git_note"]) for head in heads) == [
        "None",
        "no commits yet",
        "not a git repository",
    ]


def test_git_state_notes(tmp_path: Path) -> None:
    assert provenance.git_state(tmp_path)["git_note"] == provenance.NOT_A_REPOSITORY
    git(tmp_path, "init", "-q")
    (tmp_path / "a.txt").write_text("a")
    state = provenance.git_state(tmp_path)
    assert state == {
        "git_commit": None,
        "git_branch": None,
        "git_dirty": None,
        "git_note": provenance.NO_COMMITS,
    }
    git(tmp_path, "add", "a.txt")
    git(tmp_path, "commit", "-qm", "x")
    assert provenance.git_state(tmp_path)["git_note"] is None


# -- 20: warn about uncommitted changes once --------------------------------------------


def _dirty(pytester: pytest.Pytester, files: int) -> list[str]:
    pytester.makepyfile(test_exp=EXPERIMENT)
    committed(pytester.path)
    names = [f"notes/n{i}.txt" for i in range(files)]
    (pytester.path / "notes").mkdir()
    for name in names:
        (pytester.path / name).write_text("x")
    git(pytester.path, "add", "notes")  # tracked, so git names each file
    return names


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_a_dirty_tree_warns_once_naming_five_changes(
    pytester: pytest.Pytester, archive: Archive, mode: list[str]
) -> None:
    names = _dirty(pytester, 7)
    result = pytester.runpytest(*mode)
    result.assert_outcomes(passed=2, warnings=1)
    out = result.stdout.str()
    assert out.count("DirtyTreeWarning") == 1, "one warning, in the summary"
    assert out.count("WARNING: the git work tree") == 1, "and printed once as collection ends"
    assert f"{', '.join(names[:5])} and 2 more" in out
    assert out.index("WARNING: the git work tree") < out.index("passed"), "before the runs"
    assert "--exp-require-clean" in out
    assert archive.config(archive.run())["experiment"]["git_dirty"] is True


def test_the_archive_never_counts_as_a_change(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_exp=EXPERIMENT)
    committed(pytester.path)
    pytester.runpytest(*NO_XDIST).assert_outcomes(passed=2)  # makes results/ (untracked)
    (pytester.path / "scratch").mkdir()
    pytester.runpytest(*NO_XDIST, "--exp-root", "scratch/other").assert_outcomes(passed=2)
    result = pytester.runpytest(*NO_XDIST)
    result.assert_outcomes(passed=2)
    assert "DirtyTreeWarning" not in result.stdout.str()


def test_a_few_changes_are_all_named(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_exp=EXPERIMENT)
    committed(pytester.path)
    with open(pytester.path / "test_exp.py", "a") as handle:
        handle.write("# edited\n")
    (pytester.path / "new folder").mkdir()
    (pytester.path / "new folder" / "x.txt").write_text("x")
    result = pytester.runpytest(*NO_XDIST)
    result.stdout.fnmatch_lines(["WARNING: *uncommitted changes: test_exp.py, new folder/ (runs *"])


@pytest.mark.parametrize(
    "args",
    [
        ["-W", "ignore::pytest_expharness.session.gitpolicy.DirtyTreeWarning"],
        ["--exp-debug"],
        ["--exp-testing"],
        ["--collect-only"],
        ["-n", "2", "-W", "ignore::pytest_expharness.session.gitpolicy.DirtyTreeWarning"],
    ],
    ids=["filtered", "debug", "testing", "collect-only", "filtered-xdist"],
)
def test_sessions_that_do_not_warn(pytester: pytest.Pytester, args: list[str]) -> None:
    _dirty(pytester, 2)
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.OK
    assert "DirtyTreeWarning" not in result.stdout.str()
    assert "WARNING" not in result.stdout.str()


def test_an_error_filter_leaves_it_a_warning(pytester: pytest.Pytester) -> None:
    _dirty(pytester, 1)
    result = pytester.runpytest(*NO_XDIST, "-W", "error")
    result.assert_outcomes(passed=2, warnings=1)


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_a_session_without_experiments_says_nothing(
    pytester: pytest.Pytester, mode: list[str]
) -> None:
    _dirty(pytester, 2)
    (pytester.path / "test_exp.py").unlink()
    pytester.makepyfile(test_plain=PLAIN)
    for args in ([], ["--exp-require-clean"]):
        result = pytester.runpytest(*mode, *args)
        result.assert_outcomes(passed=1)
        assert "DirtyTreeWarning" not in result.stdout.str()
    assert not (pytester.path / "results").exists()


# -- 20: refuse with --exp-require-clean ------------------------------------------------


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_require_clean_refuses_a_dirty_tree_before_any_run(
    pytester: pytest.Pytester, mode: list[str]
) -> None:
    names = _dirty(pytester, 6)
    result = pytester.runpytest(*mode, "--exp-require-clean")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"*--exp-require-clean: *uncommitted changes: {', '.join(names[:5])} and 1 more*"]
    )
    assert not (pytester.path / "results").exists(), "no run started"


def test_the_ini_key_requires_a_clean_tree_too(pytester: pytest.Pytester, archive: Archive) -> None:
    pytester.makeini("[pytest]\nexp_require_clean = true\n")
    pytester.makepyfile(test_exp=EXPERIMENT)
    commit = committed(pytester.path)
    pytester.runpytest(*NO_XDIST).assert_outcomes(passed=2)  # clean: it runs
    assert archive.config(archive.run())["experiment"]["git_commit"] == commit
    (pytester.path / "later.txt").write_text("x")
    result = pytester.runpytest(*NO_XDIST)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*exp_require_clean in tox.ini: *later.txt*commit or stash*"])


def test_require_clean_refuses_outside_git_and_without_commits(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_exp=EXPERIMENT)
    result = pytester.runpytest(*NO_XDIST, "--exp-require-clean")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*is in no git work tree (not a git repository)*"])
    git(pytester.path, "init", "-q")
    result = pytester.runpytest(*NO_XDIST, "--exp-require-clean")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*has no commits yet*make a first commit*"])
    assert not (pytester.path / "results").exists()


def test_listed_names_five_and_counts_the_rest() -> None:
    assert gitpolicy.listed(["a"]) == "a"
    assert gitpolicy.listed(list("abcde")) == "a, b, c, d, e"
    assert gitpolicy.listed(list("abcdefgh")) == "a, b, c, d, e and 3 more"


# -- 16: what the archive's .gitignore leaves out ---------------------------------------

KEPT = [
    "fit/S/run/config.yaml",
    "fit/S/run/summary.json",
    "fit/S/run/data.json",
    "fit/S/run/metrics.csv",
    "fit/S/run/run.log",
    "fit/S/run/REPORT.md",
    "fit/S/run/analysis.py",
    "fit/S/comparison.csv",
    "fit/S/comparison.md",
    "fit/S/report.html",
    "fit/S/run/code/requirements.txt",
    "fit/S/run/code/uncommitted.patch",
    ".gitignore",
    ".expharness",
]
LEFT_OUT = [
    "fit/S/run/code/test_exp.py",
    "fit/S/run/code/experiments/test_exp.py",
    "fit/S/run/code/conftest.py",
    "fit/S/run/artifacts/model.pt",
    "fit/S/run/plots/loss.png",
    "fit/S/run/analysis_plots/loss.png",
    "fit/S/run/tracked/frames/0.png",
    "fit/S/run/metrics.journal",
    "fit/debug/run/config.yaml",
    ".cache/fit/features-0123.pkl",
    "_testing/fit/S/run/config.yaml",
    "_slurm/S/logs/task-0.out",
    "index.sqlite",
    "index.sqlite-wal",
    ".gc-run-a1b2c3/config.yaml",
    "fit/S/.gc-run-a1b2c3/config.yaml",
    ".import-x1y2/fit/S/run/config.yaml",
]


def _ignored(repo: Path, paths: list[str]) -> set[str]:
    done = subprocess.run(
        ["git", "check-ignore", "--no-index", "--stdin"],
        cwd=repo,
        input="\n".join(paths),
        capture_output=True,
        text=True,
        check=False,
    )
    return set(done.stdout.split())


def test_the_gitignore_keeps_results_and_leaves_out_the_rest(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    root = tmp_path / "results"
    layout.create_root(root)
    assert (root / ".gitignore").read_text() == layout.GITIGNORE
    ignored = _ignored(tmp_path, [f"results/{p}" for p in KEPT + LEFT_OUT])
    assert ignored == {f"results/{p}" for p in LEFT_OUT}


def test_a_session_inside_git_tracks_only_what_is_meant_to_be_committed(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(
        test_exp="""
        def test_fit(exp):
            exp.track("loss", 1.0)
            exp.track("loss", 0.5)

            @exp.cache.cached("one")
            def one():
                return 1

            assert one() == 1
        """
    )
    committed(pytester.path)
    pytester.runpytest(*NO_XDIST, "--exp-reproducible").assert_outcomes(passed=1)
    pytester.runpytest(*NO_XDIST, "--exp-testing").assert_outcomes(passed=1)
    listed = git(pytester.path, "status", "--porcelain", "--untracked-files=all", "results")
    shown = {line[3:] for line in listed.splitlines()}
    (kept,) = [run for run in archive.runs() if "_testing" not in run.parts]
    run = kept.relative_to(pytester.path).as_posix()
    assert f"{run}/config.yaml" in shown and f"{run}/code/requirements.txt" in shown
    assert not any("/code/test_exp.py" in p or "_testing" in p or ".cache" in p for p in shown)


OLD_GITIGNORE = """\
# Written by pytest-expharness when this archive was created inside a git repository.
# Meant to be committed: each run's config.yaml, summary.json, data.json, metrics.csv,
# run.log and REPORT.md, and each session's comparison tables and report.html.
# Left out: what is large or made again (artifacts, image frames, plots, the binary
# series/ copy of metrics.csv, what a run's analysis.py draws, the index, the cache),
# each run's copy of its code (git has it at the recorded commit; with
# --exp-reproducible, requirements.txt and uncommitted.patch are kept), testing runs,
# debug runs, SLURM job files, and folders being staged or deleted.
artifacts/
tracked/
plots/
analysis_plots/
metrics.journal
series/
.series-partial/
index.sqlite*
*.tmp
.debug.lock
.debug-old-*/
*/debug/
/.cache/
/_testing/
/_slurm/
/.import-*/
.gc-*/
/*/*/*/code/**
!/*/*/*/code/requirements.txt
!/*/*/*/code/uncommitted.patch
"""  # what the version before checkpoints/ wrote


def test_the_old_text_is_one_we_know() -> None:
    assert hashlib.sha256(OLD_GITIGNORE.encode()).hexdigest() in layout._OLD_GITIGNORES


def test_an_archive_with_our_old_gitignore_gets_the_new_one(tmp_path: Path) -> None:
    root = tmp_path / "results"
    root.mkdir()
    (root / layout.MARKER).write_text(layout.MARKER_TEXT)
    (root / ".gitignore").write_text(OLD_GITIGNORE)
    layout._CHECKED_GITIGNORE.clear()
    layout.create_root(root)
    assert (root / ".gitignore").read_text() == layout.GITIGNORE


@pytest.mark.parametrize(
    "text",
    [OLD_GITIGNORE + "my-notes/\n", OLD_GITIGNORE.replace("plots/\n", ""), "artifacts/\n"],
    ids=["added-to", "edited", "the-users-own"],
)
def test_a_gitignore_someone_edited_is_left_alone(tmp_path: Path, text: str) -> None:
    root = tmp_path / "results"
    root.mkdir()
    (root / layout.MARKER).write_text(layout.MARKER_TEXT)
    (root / ".gitignore").write_text(text)
    layout._CHECKED_GITIGNORE.clear()
    layout.create_root(root)
    assert (root / ".gitignore").read_text() == text
