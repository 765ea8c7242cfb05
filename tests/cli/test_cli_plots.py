"""`expharness plots`: a finished run's plots made again, PNG with matplotlib only when asked."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import matplotlib.figure  # noqa: F401  (see tests/conftest.py)
import pytest

from pytest_expharness.cli import main as cli
from pytest_expharness.report import seriesplots

from conftest import Archive

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

EXPERIMENT = """
    import pytest

    @pytest.mark.parametrize("seed", [1, 2])
    def test_fit(exp, seed):
        for step in range(5):
            exp.track("loss", 1.0 / (step + seed))
            exp.track("val/acc", step / 5)
        exp.track("once", 1.0)
"""
SVGS = ["plots/loss.svg", "plots/val/acc.svg"]
PNGS = ["plots/loss.png", "plots/val/acc.png"]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def runs(
    pytester: pytest.Pytester, archive: Archive, monkeypatch: pytest.MonkeyPatch
) -> list[Path]:
    monkeypatch.delenv("EXPHARNESS_ROOT", raising=False)  # the archive is found from here
    pytester.makeini("[pytest]\n")
    pytester.makepyfile(test_exp=EXPERIMENT)
    pytester.runpytest("-p", "no:xdist").assert_outcomes(passed=2)
    return archive.runs("fit")


def test_png_adds_pngs_beside_the_svgs_and_the_report_links_them(
    runs: list[Path], archive: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = runs
    assert archive.summary(first)["plots"] == SVGS and not list(first.rglob("*.png"))
    code, out, err = run(capsys, "plots", "fit/seed=1", "--png")
    assert (code, err) == (0, ""), err
    assert out.splitlines() == [f"{first.relative_to(Path.cwd())}: {', '.join(SVGS + PNGS)}"]
    for png in PNGS:
        assert (first / png).read_bytes().startswith(PNG_MAGIC)
    assert archive.summary(first)["plots"] == SVGS + PNGS
    report = (first / "REPORT.md").read_text().split("## Plots\n\n", 1)[1].splitlines()
    assert report == [
        "![plots/loss.svg](plots/loss.svg) ([PNG](plots/loss.png))",
        "![plots/val/acc.svg](plots/val/acc.svg) ([PNG](plots/val/acc.png))",
    ]
    assert not list(second.rglob("*.png")), "only the run named"
    assert archive.summary(second)["plots"] == SVGS


def test_remaking_svgs_keeps_the_pngs_made_before(
    runs: list[Path], archive: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = runs
    assert run(capsys, "plots", "fit/seed=1", "--png")[0] == 0
    for svg in SVGS:
        (first / svg).unlink()
    (first / "plots" / "val" / "acc.png").unlink()  # a file gone is no longer listed
    code, out, _ = run(capsys, "plots", "fit/seed=1", "fit/seed=2")
    assert code == 0 and len(out.splitlines()) == 2
    assert archive.summary(first)["plots"] == [*SVGS, "plots/loss.png"]
    assert all((first / svg).read_text().startswith("<svg ") for svg in SVGS)
    assert archive.summary(second)["plots"] == SVGS


def test_a_png_that_cannot_be_drawn_is_said_and_the_svgs_stay(
    runs: list[Path],
    archive: Archive,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(seriesplots, "_FIGURE", None)  # drawn by this process before
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # as if not installed
    code, out, err = run(capsys, "plots", "fit/seed=2", "--png")
    assert code == 1
    where = runs[1].relative_to(Path.cwd())
    assert out.splitlines() == [f"{where}: {', '.join(SVGS)}"]
    assert err.splitlines() == [
        f"expharness: {where}: PNG plots could not be made: ModuleNotFoundError: "
        "import of matplotlib.figure halted; None in sys.modules",
        "expharness: plots of 1 run incomplete",
    ]
    assert archive.summary(runs[1])["plots"] == SVGS and not list(runs[1].rglob("*.png"))


def test_a_run_still_running_is_refused_before_anything_is_made(
    runs: list[Path], archive: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    live = runs[1]
    summary = archive.summary(live)
    summary.update(status="running", host="another-host", pid=4242, heartbeat=time.time())
    (live / "summary.json").write_text(json.dumps(summary))
    for svg in SVGS:
        (runs[0] / svg).unlink()
    code, out, err = run(capsys, "plots", "fit/seed=1", "fit/seed=2", "--png")
    assert (code, out) == (2, "")
    assert err == (
        f"expharness: {live.relative_to(Path.cwd())} is running: a run makes its own plots "
        "when it ends; nothing changed\n"
    )
    assert not any((runs[0] / svg).exists() for svg in SVGS), "not even the finished run's"
    assert archive.summary(live) == summary


def test_an_unknown_run_changes_nothing(
    runs: list[Path], archive: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    (runs[0] / SVGS[0]).unlink()
    code, out, err = run(capsys, "plots", "fit/seed=1", "fit/nosuchrun")
    assert code == 1 and out == "" and "nosuchrun" in err
    assert not (runs[0] / SVGS[0]).exists(), "the run named first was left alone"
