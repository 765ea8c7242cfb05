"""Looking back over many runs as a user does (issue 13, points 5, 6 and 7 for list).

One rule for every name on the command line: a filter's NAME that no selected
run knows, or an option's value that no run could have, is a usage error
naming what there is (exit 2); a query that could match but matches nothing
exits 1. Results are found by their short name; `compare --session` of a
session with several experiments prints one table per experiment, best first;
`summary` says per experiment what ran, when last, and which run is best.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.figure  # noqa: F401  (see tests/conftest.py)
import pytest

from pytest_expharness.cli import main as cli

from conftest import Archive

EXPERIMENTS = """
    import pytest

    LR = 0.01

    @pytest.mark.experiment(metric="loss")
    @pytest.mark.parametrize("latent", ["none", "vq"])
    def test_fit(exp, latent):
        exp.track("loss", 0.5 if latent == "vq" else 0.7)
        exp.track("score", 1.0)
        exp["results/score"] = 100.0
        exp["results/elbo"] = -1.0 if latent == "vq" else 2.0
        exp["results/val/acc"] = 0.9

    @pytest.mark.experiment(metric="acc", mode="max")
    @pytest.mark.parametrize("k", [1, 2, 3])
    def test_other(exp, k):
        exp["results/acc"] = k / 10
        exp["results/train/elbo"] = 1.0
        exp["results/val/elbo"] = 2.0
        if k == 3:
            raise RuntimeError("boom")
"""
NO_XDIST = ("-p", "no:xdist")


@pytest.fixture
def root(pytester: pytest.Pytester, archive: Archive) -> str:
    """One session: fit (2 completed runs) and other (2 completed, k=3 failed)."""
    pytester.makepyfile(test_exp=EXPERIMENTS)
    pytester.runpytest(*NO_XDIST, "--exp-tag", "grid").assert_outcomes(passed=4, failed=1)
    return str(archive.root)


def run(capsys: pytest.CaptureFixture[str], root: str, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.main(["--root", root, *argv])
    out, err = capsys.readouterr()
    return code, out, err


def usage_error(capsys: pytest.CaptureFixture[str], root: str, *argv: str) -> str:
    """Run a command that must be a usage error: exit 2, nothing on stdout, one line on stderr."""
    code, out, err = run(capsys, root, *argv)
    assert (code, out) == (2, ""), (argv, code, out, err)
    assert err.startswith("expharness: ") and len(err.strip().splitlines()) == 1, err
    return err.strip().removeprefix("expharness: ")


def listed(capsys: pytest.CaptureFixture[str], root: str, *argv: str) -> list[str]:
    """The run ids `list --json` finds (none when it exits 1)."""
    code, out, err = run(capsys, root, "list", "--json", *argv)
    assert code in (0, 1) and err == "", err
    found = [str(r["run_id"]) for r in json.loads(out)]
    assert (code == 0) == bool(found)
    return sorted(found)


def session_of(root: str, experiment: str | None = None) -> str:
    from pytest_expharness import Archive as Runs

    return str(Runs(root).runs(experiment=experiment).rows[0]["session"])


def ids_of(lines: list[str]) -> list[str]:
    """The run ids of compare's table rows (after the best mark, when there is one)."""
    return [line.split()[1] if line.startswith("*") else line.split()[0] for line in lines]


# -- point 5: filters ---------------------------------------------------------------


def test_an_unknown_key_is_a_usage_error_naming_the_known_keys(
    root: str, capsys: pytest.CaptureFixture[str]
) -> None:
    message = usage_error(capsys, root, "list", "nosuchparam=3")
    assert message.startswith(
        "filter 'nosuchparam=3': no parameter, metric or result 'nosuchparam' in the 5 runs "
        "selected; known: "
    )
    known = message.split("; known: ")[1].split(", ")
    assert known == sorted(known, key=str.lower), "sorted"
    assert {"k", "latent", "LR", "loss", "results/acc", "results/val/elbo"} <= set(known)
    assert "did you mean latent?" in usage_error(capsys, root, "list", "latnet=vq")


def test_a_key_is_known_among_the_runs_selected_not_the_archive(
    root: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert listed(capsys, root, "k>=2") == ["k=2", "k=3"], "absent in fit's runs: no error"
    message = usage_error(capsys, root, "list", "--experiment", "fit", "k>=2")
    assert "'k' in the 2 runs selected" in message and "results/acc" not in message
    assert listed(capsys, root, "k>5") == [], "known, nothing matched: exit 1"


def test_results_are_found_by_their_short_name(
    root: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert listed(capsys, root, "elbo<0") == ["latent=vq"], "elbo finds results/elbo"
    assert listed(capsys, root, "results/elbo<0") == ["latent=vq"], "and the full name still"
    assert listed(capsys, root, "val/acc>0.5") == ["latent=none", "latent=vq"]
    assert listed(capsys, root, "acc>0.15") == ["k=2", "k=3"], "results/acc, not results/val/acc"
    assert listed(capsys, root, "--experiment", "fit", "acc>0.5") == [
        "latent=none",
        "latent=vq",
    ], "the end of one result's name: results/val/acc"
    assert listed(capsys, root, "lr=0.01") == ["k=1", "k=2", "k=3", "latent=none", "latent=vq"]
    code, out, _ = run(capsys, root, "list", "elbo<0")
    assert code == 0 and "elbo" in out.splitlines()[0] and "-1" in out, "a column as typed"


def test_a_metric_wins_over_a_result_of_the_same_short_name(
    root: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert listed(capsys, root, "score=1") == ["latent=none", "latent=vq"], "the series"
    assert listed(capsys, root, "score>50") == []
    assert listed(capsys, root, "results/score>50") == ["latent=none", "latent=vq"]


def test_an_ambiguous_short_name_is_an_error_naming_both(
    root: str, capsys: pytest.CaptureFixture[str]
) -> None:
    message = usage_error(capsys, root, "list", "--experiment", "other", "elbo>0")
    assert message == (
        "filter 'elbo>0': 'elbo' could be results/train/elbo or results/val/elbo; "
        "write the one meant"
    )
    assert listed(capsys, root, "--experiment", "other", "val/elbo>0") == ["k=1", "k=2", "k=3"]
    assert listed(capsys, root, "elbo>0") == ["latent=none"], "fit's results/elbo is the reading"


def test_an_option_value_no_run_could_have_is_a_usage_error(
    root: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert usage_error(capsys, root, "list", "--experiment", "nope") == (
        f"--experiment 'nope': no such experiment under {root}; known: fit, other"
    )
    assert "(did you mean other?)" in usage_error(capsys, root, "list", "--experiment", "othr")
    message = usage_error(capsys, root, "list", "--status", "complete")
    assert message.startswith("--status 'complete': not a run status (did you mean completed?)")
    assert "crashed" in message and "stale" in message
    assert "known: baseline, exploratory, failed, keep" in usage_error(
        capsys, root, "list", "--label", "great"
    )
    assert "known: grid" in usage_error(capsys, root, "list", "--tag", "nope")
    # values that could match: nothing matched is exit 1, as is a filter on no run
    assert listed(capsys, root, "--status", "crashed") == []
    assert listed(capsys, root, "--label", "keep") == []
    assert listed(capsys, root, "--experiment", "fit", "--status", "failed") == []
    assert listed(capsys, root, "--status", "crashed", "nosuchparam=3") == []
    assert listed(capsys, root, "--tag", "grid", "--status", "failed") == ["k=3"]


def test_an_empty_archive_has_nothing_to_name(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = pytester.path / "empty"
    empty.mkdir()
    assert run(capsys, str(empty), "list", "--experiment", "fit")[0] == 1
    assert run(capsys, str(empty), "summary")[0] == 1


# -- point 5: compare --session ---------------------------------------------------


def test_a_multi_experiment_session_compares_one_table_per_experiment_best_first(
    root: str, capsys: pytest.CaptureFixture[str]
) -> None:
    session = session_of(root)
    code, out, err = run(capsys, root, "compare", "--session", session)
    assert (code, err) == (0, ""), err
    fit, other = out.split("\n\nother: ")
    lines = fit.splitlines()
    assert lines[0] == "fit: 2 runs (2 completed), main metric loss (min), best latent=vq"
    assert ids_of(lines[3:5]) == ["latent=vq", "latent=none"] and lines[3].startswith("*")
    assert "same in every run: LR=0.01" in fit
    lines = other.splitlines()
    assert lines[0] == "3 runs (2 completed, 1 failed), main metric acc (max), best k=2"
    assert ids_of(lines[3:6]) == ["k=2", "k=1", "k=3"], "a failed run is never best: last"
    assert "experiment" not in lines[1], "the heading names it: no experiment column"

    code, out, _ = run(capsys, root, "compare", "--session", session, "--json")
    shape = json.loads(out)
    assert shape["session"] == session
    assert [(g["experiment"], g["main_metric"], g["best"]) for g in shape["experiments"]] == [
        ("fit", {"name": "loss", "mode": "min"}, "latent=vq"),
        ("other", {"name": "acc", "mode": "max"}, "k=2"),
    ]
    assert [r["run"] for r in shape["experiments"][1]["runs"]] == ["k=2", "k=1", "k=3"]
    assert shape["experiments"][1]["runs"][0]["results/acc"] == 0.2


def test_compare_session_takes_experiment(
    root: str, pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    session = session_of(root)
    code, out, _ = run(capsys, root, "compare", "--session", session, "--experiment", "other")
    assert code == 0 and out.startswith("other: 3 runs") and "fit" not in out
    code, out, _ = run(
        capsys, root, "compare", "--session", session, "--experiment", "fit", "--json"
    )
    rows = json.loads(out)
    assert [(r["best"], r["run"], r["loss"]) for r in rows] == [
        ("*", "latent=vq", 0.5),
        ("", "latent=none", 0.7),
    ], "one experiment: its rows as a list, as before"
    assert "no such experiment" in usage_error(
        capsys, root, "compare", "--session", session, "--experiment", "nope"
    )
    pytester.runpytest(*NO_XDIST, "-k", "fit").assert_outcomes(passed=2)
    newer = session_of(root, "fit")
    assert newer != session
    code, out, err = run(capsys, root, "compare", "--session", newer, "--experiment", "other")
    assert code == 1 and out == ""
    assert err.strip() == (
        f"expharness: no run of experiment 'other' in session '{newer}' (its experiments: fit)"
    )
    message = usage_error(
        capsys, root, "compare", "latent=none", "latent=vq", "--experiment", "fit"
    )
    assert message.startswith("compare: --experiment narrows --session S")


def test_named_runs_keep_their_order(root: str, capsys: pytest.CaptureFixture[str]) -> None:
    session = session_of(root)
    code, out, _ = run(
        capsys, root, "compare", f"{session}/latent=none", f"{session}/latent=vq", "--json"
    )
    assert code == 0 and [r["run"] for r in json.loads(out)] == ["latent=none", "latent=vq"]
    assert [r["best"] for r in json.loads(out)] == ["", "*"], "the best still marked"


# -- point 6: summary ---------------------------------------------------------------


def test_summary_per_experiment_counts_newest_session_and_best_run(
    root: str,
    pytester: pytest.Pytester,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pytest_expharness.catalog import damage

    first = session_of(root)
    pytester.runpytest(*NO_XDIST, "-k", "fit").assert_outcomes(passed=2)
    newer = session_of(root, "fit")
    reads: list[Path] = []
    real = damage.read_config

    def counted(folder: Path) -> object:
        reads.append(folder)
        return real(folder)

    monkeypatch.setattr(damage, "read_config", counted)
    code, out, err = run(capsys, root, "summary", "--json")
    assert (code, err) == (0, "")
    assert len(reads) == 2, "one config.yaml per experiment, never every run folder"
    assert json.loads(out) == [
        {
            "experiment": "fit",
            "runs": 4,
            "statuses": {"completed": 4},
            "newest_session": newer,
            "main_metric": {"name": "loss", "mode": "min"},
            "best": {
                "run_id": "latent=vq",
                "session": newer,
                "value": 0.5,
                "path": f"fit/{newer}/latent=vq",
            },
        },
        {
            "experiment": "other",
            "runs": 3,
            "statuses": {"completed": 2, "failed": 1},
            "newest_session": first,
            "main_metric": {"name": "acc", "mode": "max"},
            "best": {"run_id": "k=2", "session": first, "value": 0.2, "path": f"other/{first}/k=2"},
        },
    ]
    code, out, _ = run(capsys, root, "summary")
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == [
        "experiment", "runs", "completed", "failed", "newest", "session", "main", "metric",
        "best", "value",
    ]  # fmt: skip
    assert lines[2].split() == [
        "fit",
        "4",
        "4",
        newer,
        "loss",
        "(min)",
        f"{newer}/latent=vq",
        "0.5",
    ]
    assert lines[3].split() == [
        "other", "3", "2", "1", first, "acc", "(max)", f"{first}/k=2", "0.2",
    ]  # fmt: skip
    assert lines[-1] == "7 runs of 2 experiments"
    best = lines[2].split()[-2]
    assert run(capsys, root, "show", best)[0] == 0, "the best run as show takes it"

    code, out, _ = run(capsys, root, "summary", "--experiment", "other", "--json")
    assert code == 0 and [e["experiment"] for e in json.loads(out)] == ["other"]
    assert "known: fit, other" in usage_error(capsys, root, "summary", "--experiment", "nope")


def test_summary_without_a_main_metric_names_no_best(
    pytester: pytest.Pytester, archive: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    pytester.makepyfile(
        test_exp="""
        def test_plain(exp):
            exp.track("loss", 1.0)
        """
    )
    pytester.runpytest(*NO_XDIST).assert_outcomes(passed=1)
    code, out, _ = run(capsys, str(archive.root), "summary", "--json")
    (entry,) = json.loads(out)
    assert code == 0 and (entry["main_metric"], entry["best"]) == (None, None)


# -- point 7: list's paths can be pasted ---------------------------------------------


def test_list_prints_paths_to_paste(
    root: str,
    pytester: pytest.Pytester,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    def paths() -> list[str]:
        code, out, _ = run(capsys, root, "list", "--experiment", "fit")
        assert code == 0
        return [line.split()[-1] for line in out.splitlines()[2:]]

    here = paths()  # pytester's folder: the archive is its results/
    assert all(p.startswith("results/fit/") for p in here), here
    assert all(Path(p, "config.yaml").is_file() for p in here), "pasteable from here"
    monkeypatch.chdir(Path(root) / "fit")
    assert all(Path(p).is_absolute() and Path(p).is_dir() for p in paths()), "above: absolute"
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    assert all(Path(p).is_absolute() and Path(p).is_dir() for p in paths())
    code, out, _ = run(capsys, root, "list", "--experiment", "fit", "--json")
    assert code == 0 and all(r["path"].startswith("fit/") for r in json.loads(out)), (
        "--json: as indexed"
    )
