"""Optuna searches as a user runs them: trials as runs, the objective found, pruning, resume."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from pytest_expharness.cli import main as cli
from tests.conftest import XDIST_MODES, Archive

optuna = pytest.importorskip("optuna")

QUADRATIC = """
    import pytest

    X = 0.0

    @pytest.mark.experiment(metric="loss", mode="min", search={"X": "uniform(-5, 5)"})
    def test_quad(exp):
        exp.track("loss", (exp.X - 2) ** 2)
"""


def _sweep(archive: Archive, experiment: str) -> list[Path]:
    return sorted(p for p in (archive.root / experiment).iterdir() if p.is_dir())


def _trials(study_file: Path, name: str = "search") -> list[Any]:
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = JournalStorage(JournalFileBackend(str(study_file)))
    return optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_thirty_tpe_trials_find_the_minimum_of_a_known_objective(
    pytester: pytest.Pytester, archive: Archive, mode: list[str]
) -> None:
    pytester.makepyfile(test_quad=QUADRATIC)
    result = pytester.runpytest(*mode, "--exp-trials", "30", "--exp-seed", "6")
    result.assert_outcomes(passed=30)
    runs = archive.runs("quad")
    assert len(runs) == 30
    headers = [archive.config(run)["experiment"] for run in runs]
    assert sorted(h["trial"] for h in headers) == list(range(30))
    assert {h["study"] for h in headers} == {"search"}
    assert headers[0]["search"] == {"X": "uniform(-5.0, 5.0)"}
    for run, header in zip(runs, headers, strict=True):
        assert run.name == f"trial={header['trial']}"
        x = archive.config(run)["parameters"]["X"]
        assert archive.summary(run)["metrics"]["loss"]["final"] == pytest.approx((x - 2) ** 2)
    (session,) = _sweep(archive, "quad")
    table = json.loads((session / "comparison.json").read_text())
    losses = [row["loss"] for row in table["rows"]]
    assert losses == sorted(losses)  # sorted by the objective
    assert losses[0] < 0.01
    best = table["rows"][0]
    assert abs(best["X"] - 2.0) < 0.1 and best["best"] == "*"
    assert "pivot" not in table or not table["pivot"]  # trial x X is no grid
    trials = _trials(session / "study.journal")
    assert sorted(t.number for t in trials) == list(range(30))
    assert min(t.value for t in trials) == pytest.approx(losses[0])
    assert "quad: 30 runs (30 completed), main metric loss (min)" in result.stdout.str()


REPEATED = """
    import pytest

    X = 0.0

    @pytest.mark.experiment(metric="loss", mode="min", repeats=3,
                            search={"X": "uniform(-5, 5)"})
    def test_noisy(exp):
        for step in range(4):
            exp.track("loss", (exp.X - 2) ** 2 + exp.seed + step)
"""


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_a_trial_with_repeats_is_told_the_mean_of_its_repeats(
    pytester: pytest.Pytester, archive: Archive, mode: list[str]
) -> None:
    pytester.makepyfile(test_noisy=REPEATED)
    result = pytester.runpytest(*mode, "--exp-trials", "4", "--exp-seed", "3")
    result.assert_outcomes(passed=12)
    runs = archive.runs("noisy")
    assert sorted(r.name for r in runs) == sorted(
        f"trial={k},rep={r}" for k in range(4) for r in range(3)
    )
    by_trial: dict[int, list[float]] = {}
    for run in runs:
        header = archive.config(run)["experiment"]
        assert header["pruner"] == "none" and header["sampler"] == "tpe"
        x = archive.config(run)["parameters"]["X"]
        by_trial.setdefault(header["trial"], []).append(x)
        final = archive.summary(run)["metrics"]["loss"]["final"]
        assert final == pytest.approx((x - 2) ** 2 + header["seed"] + 3)
    assert all(len(set(xs)) == 1 for xs in by_trial.values())  # one trial, one X
    (session,) = _sweep(archive, "noisy")
    trials = _trials(session / "study.journal")
    assert len(trials) == 4 and all(t.state.name == "COMPLETE" for t in trials)
    for trial in trials:
        (x,) = set(by_trial[trial.number])
        assert trial.value == pytest.approx((x - 2) ** 2 + 1 + 3)  # seeds 0, 1, 2: mean 1
    table = json.loads((session / "comparison.json").read_text())
    means = [row["loss mean"] for row in table["aggregate"]]
    assert means == sorted(means) and len(means) == 4


PRUNING = """
    import pytest

    X = 0.0
    STEPS = 10

    @pytest.mark.experiment(metric="loss", mode="min", search={"X": "uniform(-1, 1)"})
    def test_descent(exp):
        for step in range(STEPS):
            # X < 0 is hopeless: its loss stays high; X > 0 descends towards 0
            exp.track("loss", 10.0 if exp.X < 0 else 1.0 / (step + 1))
"""


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_hopeless_trials_stop_early_as_pruned_and_keep_what_they_tracked(
    pytester: pytest.Pytester, archive: Archive, mode: list[str]
) -> None:
    pytester.makepyfile(test_descent=PRUNING)
    result = pytester.runpytest(
        *mode, "--exp-trials", "16", "--exp-sampler", "random", "--exp-seed", "3"
    )
    outcomes = result.parseoutcomes()
    runs = archive.runs("descent")
    assert len(runs) == 16
    by_status: dict[str, list[Path]] = {}
    for run in runs:
        by_status.setdefault(archive.summary(run)["status"], []).append(run)
    pruned, completed = by_status.get("pruned", []), by_status.get("completed", [])
    assert len(pruned) + len(completed) == 16, by_status
    assert pruned and completed
    assert outcomes.get("skipped", 0) == len(pruned)  # pytest shows a pruned trial skipped
    for run in pruned:
        summary = archive.summary(run)
        x = archive.config(run)["parameters"]["X"]
        assert x < 0, "only hopeless trials are pruned here"
        points = archive.metrics(run)
        assert 2 <= len(points) < 10  # stopped early; every point it tracked is kept
        assert summary["metrics"]["loss"]["count"] == len(points)
        assert summary["reason"].startswith("pruned at step ")
    for run in completed:
        assert len(archive.metrics(run)) == 10
    trials = _trials(_sweep(archive, "descent")[0] / "study.journal")
    states = sorted(t.state.name for t in trials)
    assert states.count("PRUNED") == len(pruned) and states.count("COMPLETE") == len(completed)


def test_list_status_pruned_lists_exactly_the_pruned_runs(
    pytester: pytest.Pytester, archive: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    pytester.makepyfile(test_descent=PRUNING)
    pytester.runpytest("-p", "no:xdist", "--exp-trials", "12", "--exp-sampler", "random",
                       "--exp-seed", "3")  # fmt: skip
    pruned = {
        run.name for run in archive.runs("descent") if archive.summary(run)["status"] == "pruned"
    }
    assert pruned
    capsys.readouterr()
    assert cli.main(["--root", str(archive.root), "list", "--status", "pruned"]) == 0
    out = capsys.readouterr().out
    assert {name for name in pruned if name in out} == pruned
    others = {run.name for run in archive.runs("descent")} - pruned
    assert not {name for name in others if f" {name} " in f" {out} "}


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_resume_continues_a_study_to_its_trials_in_all(
    pytester: pytest.Pytester, archive: Archive, mode: list[str]
) -> None:
    pytester.makepyfile(test_quad=QUADRATIC)
    pytester.runpytest(*mode, "--exp-trials", "10").assert_outcomes(passed=10)
    (first,) = _sweep(archive, "quad")
    before = _digest(first / "study.journal")
    result = pytester.runpytest(*mode, "--exp-trials", "15", "--exp-resume")
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed") == 5, result.stdout.str()
    (second,) = [p for p in _sweep(archive, "quad") if p != first]  # stamps of one second
    assert _digest(first / "study.journal") == before  # untouched
    new_runs = [p for p in second.iterdir() if (p / "config.yaml").exists()]
    assert len(new_runs) == 5
    numbers = sorted(archive.config(run)["experiment"]["trial"] for run in new_runs)
    assert numbers == list(range(10, 15))
    trials = _trials(second / "study.journal")
    assert len(trials) == 15 and all(t.state.name == "COMPLETE" for t in trials)
    again = pytester.runpytest(*mode, "--exp-trials", "15", "--exp-resume")
    assert again.parseoutcomes().get("passed", 0) == 0  # the study is complete: nothing new


def test_resume_after_a_killed_session_reruns_the_trial_it_left_running(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(
        test_killed="""
        import os
        from pathlib import Path

        import pytest

        X = 0.0

        @pytest.mark.experiment(metric="loss", search={"X": "uniform(-5, 5)"})
        def test_killed(exp):
            counter = Path("started.txt")
            count = int(counter.read_text()) if counter.exists() else 0
            counter.write_text(str(count + 1))
            if count == 2:
                os._exit(3)  # the session dies in the middle of its third trial
            exp.track("loss", (exp.X - 2) ** 2)
        """
    )
    pytester.runpytest_subprocess("-p", "no:xdist", "--exp-trials", "4")
    (first,) = _sweep(archive, "killed")
    assert [t.state.name for t in _trials(first / "study.journal")] == ["COMPLETE"] * 2 + [
        "RUNNING"
    ]
    result = pytester.runpytest("-p", "no:xdist", "--exp-trials", "4", "--exp-resume")
    assert result.parseoutcomes().get("passed") == 2, result.stdout.str()
    (second,) = [p for p in _sweep(archive, "killed") if p != first]
    trials = _trials(second / "study.journal")
    assert [t.state.name for t in trials] == ["COMPLETE"] * 2 + ["FAIL"] + ["COMPLETE"] * 2
    assert trials[2].user_attrs == {"interrupted": True}
    assert _trials(first / "study.journal")[2].state.name == "RUNNING"  # the old one as it was


def test_testing_mode_runs_two_trials(pytester: pytest.Pytester, archive: Archive) -> None:
    pytester.makepyfile(
        test_quad="""
        import pytest

        X = 0.0
        EPOCHS = 1000

        @pytest.mark.experiment(metric="loss", search={"X": "uniform(-5, 5)"},
                                testing={"EPOCHS": 2})
        def test_quad(exp):
            for _ in range(exp.EPOCHS):
                exp.track("loss", (exp.X - 2) ** 2)
        """
    )
    pytester.runpytest("--exp-testing").assert_outcomes(passed=2)
    runs = list((archive.root / "_testing" / "quad").glob("*/trial=*"))
    assert len(runs) == 2
    assert all(len(Archive.metrics(run)) == 2 for run in runs)


def test_command_line_search_turns_a_constant_into_a_searched_parameter(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(
        test_pick="""
        import pytest

        LAYERS = 1
        KIND = "a"
        LR = 0.1

        @pytest.mark.experiment(metric="score", mode="max")
        def test_pick(exp):
            assert isinstance(exp.LAYERS, int) and isinstance(exp.LR, float)
            exp["results/score"] = exp.LAYERS + (exp.KIND == "b") - exp.LR
        """
    )
    result = pytester.runpytest(
        "--exp-trials", "6", "--exp-search", "LAYERS=int(1, 4)",
        "--exp-search", "KIND=choice(a, b, none)", "--exp-search", "LR=loguniform(1e-4, 1e-1)",
    )  # fmt: skip
    result.assert_outcomes(passed=6)
    for run in archive.runs("pick"):
        params = archive.config(run)["parameters"]
        assert params["LAYERS"] in (1, 2, 3, 4) and params["KIND"] in ("a", "b", "none")
        assert 1e-4 <= params["LR"] <= 1e-1
    (session,) = _sweep(archive, "pick")
    rows = json.loads((session / "comparison.json").read_text())["rows"]
    scores = [row["results/score"] for row in rows]
    assert scores == sorted(scores, reverse=True)  # mode max: the best first


@pytest.mark.parametrize(
    ("marker", "args", "message"),
    [
        ('search={"X": "uniform(5, -5)"}', [], "LOW must be below HIGH"),
        ('search={"X": "normal(0, 1)"}', [], "is not a distribution"),
        ('search={"Y": "uniform(0, 1)"}', [], "'Y', which is not a parameter"),
        ('search={"N": "uniform(0, 1)"}', [], "a float range needs a float parameter"),
        ('search={"N": "int(0.5, 3)"}', [], "int() takes whole numbers"),
        ('search={"X": "loguniform(0, 1)"}', [], "a log range needs LOW above 0"),
        ('search={"X": "uniform(0, 1)"}', ["--exp-set", "X=1.0"], "X is searched"),
        ('metric=None, search={"X": "uniform(0, 1)"}', [], "needs the main metric"),
        ('search={"N": "choice(1, two)"}', [], "expected int, got str"),
        ("", ["--exp-search", "Z=uniform(0,1)"], "--exp-search Z: not a parameter"),
        ("", ["--exp-search", "x=uniform(0,1)"], "expected NAME=DIST"),
        ("", ["--exp-trials", "0", "--exp-search", "X=uniform(0,1)"], "--exp-trials 0"),
        ("", ["--exp-search", "X=uniform(0,1)", "--exp-sweep", "X=1,2"], "give one or the other"),
        (
            'search={"X": "uniform(0, 1)"}',
            ["--exp-repeats", "2", "--exp-pruner", "median"],
            "a pruner needs one curve per trial",
        ),
    ],
)
@pytest.mark.parametrize("mode", XDIST_MODES)
def test_a_bad_search_is_a_usage_error_before_any_run(
    pytester: pytest.Pytester, archive: Archive, marker: str, args: list[str], message: str,
    mode: list[str],
) -> None:  # fmt: skip
    metric = "" if "metric=" in marker else 'metric="loss", '
    pytester.makepyfile(
        test_bad=f"""
        import pytest

        X = 0.5
        N = 1

        @pytest.mark.experiment({metric}{marker})
        def test_bad(exp):
            exp.track("loss", exp.X)
        """
    )
    result = pytester.runpytest(*mode, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
    assert message in result.stderr.str(), result.stderr.str()
    assert not archive.runs()


def test_without_optuna_a_search_says_which_extra_to_install(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makeconftest("import sys\nsys.modules['optuna'] = None  # as if not installed\n")
    pytester.makepyfile(test_quad=QUADRATIC)
    result = pytester.runpytest("-p", "no:xdist")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "pip install 'pytest-expharness[search]'" in result.stderr.str()
    assert not archive.runs()


def test_grid_points_get_a_study_each(pytester: pytest.Pytester, archive: Archive) -> None:
    pytester.makepyfile(
        test_grid="""
        import pytest

        X = 0.0

        @pytest.mark.experiment(metric="loss", search={"X": "uniform(-5, 5)"})
        @pytest.mark.parametrize("shift", [1, 3])
        def test_grid(exp, shift):
            exp.track("loss", (exp.X - shift) ** 2)
        """
    )
    pytester.runpytest("-n", "2", "--exp-trials", "4").assert_outcomes(passed=8)
    names = sorted(run.name for run in archive.runs("grid"))
    assert names == sorted(f"trial={t},shift={s}" for s in (1, 3) for t in range(4))
    (session,) = _sweep(archive, "grid")
    for shift in (1, 3):
        assert len(_trials(session / "study.journal", f"shift={shift}")) == 4


def test_report_html_shows_the_optimisation_history_and_importances(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(
        test_two="""
        import pytest

        X = 0.0
        Y = 0.0

        @pytest.mark.experiment(metric="loss", search={"X": "uniform(-5, 5)", "Y": "int(0, 3)"})
        def test_two(exp):
            exp.track("loss", (exp.X - 2) ** 2 + exp.Y)
        """
    )
    pytester.runpytest("-n", "2", "--exp-trials", "12").assert_outcomes(passed=12)
    (session,) = _sweep(archive, "two")
    page = (session / "report.html").read_text()
    assert "<h2>Search</h2>" in page and "12 trials (12 complete)" in page
    assert "Optimisation history" in page and "Parameter importances (fANOVA)" in page
    rows = json.loads((session / "comparison.json").read_text())["rows"]
    assert f"Best: trial {rows[0]['trial']}, {rows[0]['loss']:.6g}" in page


def test_a_damaged_study_file_leaves_the_rest_of_the_report(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(test_quad=QUADRATIC)
    pytester.runpytest("--exp-trials", "3").assert_outcomes(passed=3)
    (session,) = _sweep(archive, "quad")
    (session / "study.journal").write_bytes(b"\x00garbage{not json\n" * 10)
    assert cli.main(["--root", str(archive.root), "report", "--session", session.name]) == 0
    page = (session / "report.html").read_text()
    assert "study.journal could not be read" in page and "trial=0" in page
