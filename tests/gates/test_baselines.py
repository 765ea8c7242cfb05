"""Baselines: --exp-baseline-update writes them, --exp-baseline fails a regression of a point."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import XDIST_MODES, Archive

TRAIN = """
import pytest

STEPS = 4
SCALE = {scale}

@pytest.mark.experiment(metric="loss", testing={{"STEPS": 2}}, tolerance={{"results/acc": 0.01}})
@pytest.mark.parametrize("lr", [0.1, 0.3])
def test_train(exp, lr):
    for step in range(exp.STEPS):
        exp.track("loss", SCALE * lr / (step + 1))
    exp["results/acc"] = 0.8
"""


def _train(pytester: pytest.Pytester, scale: float) -> None:
    pytester.makepyfile(test_train=TRAIN.format(scale=scale))


def _rows(sweep: Path) -> dict[str, dict[str, str]]:
    with open(sweep / "comparison.csv", newline="") as handle:
        return {row["run"]: row for row in csv.DictReader(handle)}


def _newest(archive: Archive, experiment: str = "train") -> Path:
    """The sweep folder of the latest session (stamps of one second sort by their suffix)."""
    runs = archive.runs(experiment)
    return max(runs, key=lambda r: archive.summary(r)["started_unix"]).parent


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_update_then_compare_unchanged_worse_and_better(
    pytester: pytest.Pytester, archive: Archive, mode: list[str]
) -> None:
    _train(pytester, 1.0)
    result = pytester.runpytest(*mode, "-p", "no:randomly", "--exp-baseline-update")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["baseline: wrote baselines/train.json (2 of 2 points)"])
    saved = json.loads((pytester.path / "baselines" / "train.json").read_text())
    assert saved["main_metric"] == {"name": "loss", "mode": "min"} and not saved["testing"]
    assert saved["points"]["lr=0.1"] == {
        "axes": {"lr": 0.1},
        "runs": 1,
        "values": {"loss": 0.025, "results/acc": 0.8},
    }

    result = pytester.runpytest(*mode, "-p", "no:randomly", "--exp-baseline")  # unchanged
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["baseline (baselines/train.json): 2 points compared (2 within*"])
    assert {r["Δ baseline"] for r in _rows(_newest(archive)).values()} == {"+0.0%"}

    _train(pytester, 1.2)  # the main metric 20% worse
    result = pytester.runpytest(*mode, "-p", "no:randomly", "--exp-baseline")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*baseline regressed: loss = 0.03, baseline 0.025 (+0.005, +20.0%), "
            "tolerance 5% (allowed 0.00125, min) [[]baselines/train.json[]]*"
        ]
    )
    sweep = _newest(archive)
    rows = _rows(sweep)
    assert rows["lr=0.1"]["status"] == "completed"
    assert rows["lr=0.1"]["Δ baseline"] == "+20.0% regressed"
    found = archive.summary(sweep / "lr=0.1")["baseline"]
    assert found["verdict"] == "regressed" and found["point"] == "lr=0.1"
    assert [m["metric"] for m in found["metrics"]] == ["loss", "results/acc"]
    assert "gate-failed" in (sweep / "report.html").read_text()

    _train(pytester, 0.8)  # 20% better: passes, and is said
    result = pytester.runpytest(*mode, "-p", "no:randomly", "--exp-baseline")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        ["improved: lr=0.1 loss 0.025 -> 0.02 (-0.005, -20.0%), beyond tolerance 5%"]
    )
    assert _rows(_newest(archive))["lr=0.3"]["Δ baseline"] == "-20.0% improved"


def test_a_tolerance_metric_fails_on_its_own_tolerance(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    _train(pytester, 1.0)
    pytester.runpytest("-p", "no:xdist", "--exp-baseline-update").assert_outcomes(passed=2)
    text = (pytester.path / "test_train.py").read_text()
    (pytester.path / "test_train.py").write_text(text.replace("= 0.8", "= 0.78"))
    result = pytester.runpytest("-p", "no:xdist", "--exp-baseline")
    result.assert_outcomes(failed=2)  # acc moved 0.02 > 0.01, and no direction is known
    result.stdout.fnmatch_lines(["*baseline changed: results/acc = 0.78, baseline 0.8*"])


def test_testing_baselines_are_kept_apart(pytester: pytest.Pytester, archive: Archive) -> None:
    _train(pytester, 1.0)
    pytester.runpytest("-p", "no:xdist", "--exp-baseline-update").assert_outcomes(passed=2)
    result = pytester.runpytest("-p", "no:xdist", "--exp-testing", "--exp-baseline-update")
    result.stdout.fnmatch_lines(["baseline: wrote baselines/train.testing.json (2 of 2 points)"])
    full = json.loads((pytester.path / "baselines" / "train.json").read_text())
    smoke = json.loads((pytester.path / "baselines" / "train.testing.json").read_text())
    assert full["points"]["lr=0.1"]["values"]["loss"] == 0.025  # 4 steps
    assert smoke["points"]["lr=0.1"]["values"]["loss"] == 0.05 and smoke["testing"]  # 2 steps
    result = pytester.runpytest("-p", "no:xdist", "--exp-testing", "--exp-baseline")
    result.assert_outcomes(passed=2)  # each mode against its own file


def test_a_missing_baseline_is_reported_and_fails_only_when_strict(
    pytester: pytest.Pytester,
) -> None:
    _train(pytester, 1.0)
    pytester.runpytest("-p", "no:xdist", "-k", "0.1", "--exp-baseline-update")
    result = pytester.runpytest("-p", "no:xdist", "--exp-baseline")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "baseline (baselines/train.json): 1 points compared (1 within tolerance); "
            "1 without a baseline",
            "no baseline: lr=0.3 (baselines/train.json has no entry for it)",
        ]
    )
    result = pytester.runpytest("-p", "no:xdist", "--exp-baseline", "--exp-baseline-strict")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*no baseline: lr=0.3 (*) (--exp-baseline-strict)*"])


REPEATED = """
import pytest

SHIFT = {shift}

@pytest.mark.experiment(metric="loss", repeats=3)
@pytest.mark.parametrize("lr", [0.1])
def test_noisy(exp, lr):
    exp.track("loss", 1.0 + SHIFT + 0.01 * exp.repeat)
"""


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_repeats_compare_their_mean_within_standard_errors(
    pytester: pytest.Pytester, archive: Archive, mode: list[str]
) -> None:
    pytester.makepyfile(test_noisy=REPEATED.format(shift=0.0))
    pytester.runpytest(*mode, "--exp-baseline-update").assert_outcomes(passed=3)
    point = json.loads((pytester.path / "baselines" / "noisy.json").read_text())["points"]["lr=0.1"]
    assert point["runs"] == 3 and point["values"]["loss"] == pytest.approx(1.01)
    assert point["std"]["loss"] == pytest.approx(0.01)
    # the margin is the larger of 5% of 1.01 (0.0505) and 2 standard errors (0.0163)
    pytester.makepyfile(test_noisy=REPEATED.format(shift=0.04))
    result = pytester.runpytest(*mode, "--exp-baseline")
    result.assert_outcomes(passed=3)
    pytester.makepyfile(test_noisy=REPEATED.format(shift=0.08))
    result = pytester.runpytest(*mode, "--exp-baseline")
    result.assert_outcomes(passed=2, failed=1)  # the point fails once, in its last repeat
    result.stdout.fnmatch_lines(["*baseline regressed: loss (means) = 1.09, baseline 1.01*"])
    sweep = _newest(archive, "noisy")
    cells = sorted(r["Δ baseline"] for r in _rows(sweep).values())
    assert cells == ["in the mean", "in the mean", "mean +7.9% regressed"]


def test_repeats_with_a_tight_tolerance_pass_within_two_standard_errors(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_noisy=REPEATED.format(shift=0.0))
    pytester.runpytest("-p", "no:xdist", "--exp-baseline-update").assert_outcomes(passed=3)
    pytester.makepyfile(test_noisy=REPEATED.format(shift=0.015))
    # tolerance 0: only noise may explain the change; 2 SE = 2*sqrt(2*0.01**2/3) = 0.0163
    result = pytester.runpytest("-p", "no:xdist", "--exp-baseline", "--exp-tolerance", "0")
    result.assert_outcomes(passed=3)
    pytester.makepyfile(test_noisy=REPEATED.format(shift=0.02))
    result = pytester.runpytest("-p", "no:xdist", "--exp-baseline", "--exp-tolerance", "0")
    result.assert_outcomes(passed=2, failed=1)


def test_labelled_runs_of_the_archive_are_a_baseline(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    _train(pytester, 1.0)
    pytester.runpytest("-p", "no:xdist").assert_outcomes(passed=2)
    first = archive.runs("train")
    for run in first:
        done = subprocess.run(
            [sys.executable, "-m", "pytest_expharness", "--root", str(archive.root), "label",
             str(run), "baseline"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    _train(pytester, 1.2)
    result = pytester.runpytest("-p", "no:xdist", "--exp-baseline=label:baseline")
    result.assert_outcomes(failed=2)
    session = first[0].parent.name
    result.stdout.fnmatch_lines(
        [
            "*baseline regressed: loss = 0.03, baseline 0.025 *"
            f"runs labelled 'baseline' of session {session}*"
        ]
    )
    result = pytester.runpytest("-p", "no:xdist", "--exp-baseline=label:golden")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["no baseline: lr=0.1, lr=0.3 (no completed run of it is*"])


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--exp-baseline=gold"], "*--exp-baseline=gold: compare with the baseline files*"),
        (["--exp-baseline", "--exp-baseline-update"], "*--exp-baseline-update writes the*"),
        (["--exp-baseline", "--exp-tolerance", "lots"], "*--exp-tolerance: 'lots' is no tol*"),
    ],
)
def test_bad_options_are_usage_errors(
    pytester: pytest.Pytester, args: list[str], said: str
) -> None:
    _train(pytester, 1.0)
    result = pytester.runpytest("-p", "no:xdist", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([said])
    assert not (pytester.path / "results").exists()


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_an_unreadable_baseline_file_stops_the_session_before_any_run(
    pytester: pytest.Pytester, mode: list[str]
) -> None:
    _train(pytester, 1.0)
    (pytester.path / "baselines").mkdir()
    (pytester.path / "baselines" / "train.json").write_text('{"points": [1, 2]}')
    result = pytester.runpytest(*mode, "--exp-baseline")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--exp-baseline: baseline *train.json: no 'points' of the form*"])
    assert not list((pytester.path / "results").rglob("summary.json"))


def test_ini_exp_baseline_and_the_update_keeps_points_not_run(
    pytester: pytest.Pytester,
) -> None:
    _train(pytester, 1.0)
    pytester.makeini("[pytest]\nexp_baseline = true\n")
    result = pytester.runpytest("-p", "no:xdist", "--exp-baseline-update")  # update wins
    result.assert_outcomes(passed=2)
    _train(pytester, 1.2)
    result = pytester.runpytest("-p", "no:xdist", "-k", "0.3", "--exp-baseline-update")
    result.stdout.fnmatch_lines(["baseline: wrote baselines/train.json (1 of 2 points)"])
    points = json.loads((pytester.path / "baselines" / "train.json").read_text())["points"]
    assert points["lr=0.1"]["values"]["loss"] == 0.025  # kept from the first update
    assert points["lr=0.3"]["values"]["loss"] == pytest.approx(0.09)
    result = pytester.runpytest("-p", "no:xdist")  # the ini compares
    result.assert_outcomes(passed=1, failed=1)


def test_junitxml_carries_the_comparison(pytester: pytest.Pytester) -> None:
    _train(pytester, 1.0)
    pytester.runpytest("-p", "no:xdist", "--exp-baseline-update")
    _train(pytester, 1.2)
    pytester.runpytest("-p", "no:xdist", "-k", "0.1", "--exp-baseline", "--junitxml=out.xml")
    text = (pytester.path / "out.xml").read_text()
    assert 'name="baseline:loss" value="regressed: now 0.03, baseline 0.025 (+0.005, +20.0%)"' in (
        text
    )
