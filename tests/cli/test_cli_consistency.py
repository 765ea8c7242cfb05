"""One rule across commands: a value the archive never had is a usage error naming what it has."""

from __future__ import annotations

import pytest

from pytest_expharness.cli import main as cli

from conftest import Archive

SWEEP = """
    import pytest

    @pytest.mark.parametrize("x", [1, 2])
    def test_fit(exp, x):
        exp.track("loss", 1.0 / x)
"""


@pytest.fixture
def root(pytester: pytest.Pytester, archive: Archive) -> str:
    pytester.makepyfile(test_exp=SWEEP)
    pytester.runpytest("-p", "no:xdist").assert_outcomes(passed=2)
    return str(archive.root)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    "argv",
    [
        ["compare", "--session", "2020-01-01_00-00-00_dead"],
        ["export", "--session", "2020-01-01_00-00-00_dead", "--to", "out.tar.gz"],
        ["report", "--session", "2020-01-01_00-00-00_dead"],
    ],
    ids=["compare", "export", "report"],
)
def test_an_unknown_session_names_the_newest_ones(
    root: str, archive: Archive, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    session = archive.runs()[0].parent.name
    code, out, err = run(capsys, "--root", root, *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "2020-01-01_00-00-00_dead" in err and session in err


def test_gc_refuses_an_unknown_experiment_or_status_and_deletes_nothing(
    root: str, archive: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    before = archive.runs()
    code, _, err = run(capsys, "--root", root, "gc", "--experiment", "nope", "--older-than", "0s")
    assert code == 2 and "fit" in err
    code, _, err = run(capsys, "--root", root, "gc", "--status", "complted")
    assert code == 2 and "completed" in err
    assert archive.runs() == before
    code, out, _ = run(capsys, "--root", root, "gc", "--status", "crashed", "--dry-run")
    assert code == 1 and "would delete 0 runs" in out, "a known status with no runs is exit 1"


def test_show_says_none_and_why_there_is_no_commit(
    pytester: pytest.Pytester, archive: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    pytester.makepyfile(
        test_exp="""
        PATIENCE = None

        def test_fit(exp):
            exp.track("loss", 1.0)
        """
    )
    pytester.runpytest("-p", "no:xdist").assert_outcomes(passed=1)
    code, out, _ = run(capsys, "--root", str(archive.root), "show", "latest")
    assert code == 0
    assert any(line.split() == ["PATIENCE", "None"] for line in out.splitlines()), out
    assert "git None" not in out and "git not a git repository" in out


def test_a_label_note_or_tag_shows_in_report_md_at_once(
    root: str, archive: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "--root", root, "label", "x=2", "keep", "--note", "for the paper")[0] == 0
    assert run(capsys, "--root", root, "tag", "x=2", "ablation")[0] == 0
    report = next(r for r in archive.runs() if r.name == "x=2") / "REPORT.md"
    text = report.read_text()
    assert "keep" in text and "for the paper" in text and "ablation" in text
