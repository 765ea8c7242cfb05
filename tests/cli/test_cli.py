"""The expharness command, as a user runs it after a session."""

from __future__ import annotations

import json
import subprocess
import sys

import matplotlib.figure  # noqa: F401  (see tests/conftest.py)
import pytest

from pytest_expharness.cli import main as cli

from conftest import Archive

SWEEP = """
    import pytest

    @pytest.mark.parametrize("latent", ["none", "vq"])
    @pytest.mark.parametrize("lr", [0.1, 0.001])
    def test_fit(exp, latent, lr):
        exp.track("loss", lr * (2 if latent == "vq" else 1))
        with exp.component("prior") as c:
            c.data["k"] = 2
        exp.component("tau").disable("off", hint="set TAU")
"""


@pytest.fixture
def root(pytester: pytest.Pytester, archive: Archive) -> str:
    pytester.makepyfile(test_exp=SWEEP)
    pytester.runpytest("-p", "no:xdist", "--exp-tag", "grid").assert_outcomes(passed=4)
    return str(archive.root)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()  # what earlier steps printed is not this command's output
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_filters_by_parameter_and_metric(
    root: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "--root", root, "list", "lr<0.01", "latent=vq")
    assert code == 0
    lines = [line for line in out.splitlines() if "fit" in line]
    assert len(lines) == 1 and "latent=vq,lr=0.001" in lines[0]
    code, out, _ = run(capsys, "--root", root, "list", "loss>=0.1", "--json")
    assert code == 0
    assert sorted(r["run_id"] for r in json.loads(out)) == [
        "latent=none,lr=0.1",
        "latent=vq,lr=0.1",
    ]
    code, out, _ = run(capsys, "--root", root, "list", "--tag", "grid", "--status", "completed")
    assert code == 0 and sum("fit" in line for line in out.splitlines()) == 4


def test_nothing_matched_is_exit_1(root: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "--root", root, "list", "lr>1")[0] == 1
    assert run(capsys, "--root", root, "list", "--experiment", "fit", "--status", "failed")[0] == 1
    code, _, err = run(capsys, "--root", root, "list", "--experiment", "other")
    assert code == 2 and "fit" in err, "an experiment the archive does not have is named"
    code, _, err = run(capsys, "--root", root, "show", "nope")
    assert code == 1 and err.strip() == f"expharness: no run matches 'nope' under {root}"


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("lr<<2", "filter 'lr<<2': one comparison, e.g. lr<2"),
        ("=3", "filter '=3': expected NAME<op>VALUE"),
        ("lr", "filter 'lr': expected NAME<op>VALUE"),
        ("lr<[1", "filter 'lr<[1': the value is not valid YAML"),
    ],
)
def test_malformed_filters_are_usage_errors(
    root: str, capsys: pytest.CaptureFixture[str], expression: str, message: str
) -> None:
    code, out, err = run(capsys, "--root", root, "list", expression)
    assert code == 2 and out == ""
    assert err.startswith(f"expharness: {message}") and len(err.strip().splitlines()) == 1


def test_show_prints_config_status_metrics_and_components(
    root: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "--root", root, "show", "latent=vq,lr=0.1")
    assert code == 0
    assert "fit / latent=vq,lr=0.1" in out and "status: completed" in out
    assert "loss" in out and "0.2" in out
    assert "tau" in out and "disabled" in out and "set TAU" in out
    code, out, _ = run(capsys, "--root", root, "show", "latent=vq,lr=0.1", "--json")
    assert json.loads(out)["config"]["parameters"] == {"latent": "vq", "lr": 0.1}


def test_reindex_rebuilds_a_deleted_index(root: str, capsys: pytest.CaptureFixture[str]) -> None:
    from pathlib import Path

    for path in Path(root).glob("index.sqlite*"):
        path.unlink()
    code, out, _ = run(capsys, "--root", root, "reindex")
    assert code == 0 and out.strip() == f"indexed 4 new or changed of 4 run folders under {root}"
    assert run(capsys, "--root", root, "list", "lr=0.1")[0] == 0


def test_usage_errors_and_the_module_entry_point(root: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest_expharness", "--root", root, "list", "lr=0.1"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and "latent=vq,lr=0.1" in done.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "pytest_expharness", "bogus"], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "invalid choice: 'bogus'" in bad.stderr
    missing = subprocess.run(
        [sys.executable, "-m", "pytest_expharness", "--root", root + "-nope", "list"],
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 1 and "no archive at" in missing.stderr


def test_label_and_tag_reach_config_and_index(
    root: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import yaml

    from pytest_expharness import load_run

    code, out, _ = run(
        capsys, "--root", root, "label", "latent=vq,lr=0.1", "baseline", "--note", "paper"
    )
    assert code == 0 and "label baseline (paper)" in out
    assert run(capsys, "--root", root, "tag", "latent=vq,lr=0.1", "ablation")[0] == 0
    assert run(capsys, "--root", root, "tag", "latent=vq,lr=0.1", "ablation")[0] == 0
    loaded = load_run("latent=vq,lr=0.1", root=root)
    header = yaml.safe_load((loaded.path / "config.yaml").read_text())["experiment"]
    assert header["label"] == "baseline" and [n["note"] for n in header["notes"]] == ["paper"]
    assert header["tags"] == ["grid", "ablation"], "a tag is added once"
    assert loaded.params == {"latent": "vq", "lr": 0.1}, "the rest of the config is kept"
    code, out, _ = run(capsys, "--root", root, "list", "--label", "baseline", "--tag", "ablation")
    assert code == 0 and "latent=vq,lr=0.1" in out
    code, _, err = run(capsys, "--root", root, "label", "latent=vq,lr=0.1", "great")
    assert code == 2 and "invalid choice: 'great'" in err


def test_compare_shows_differing_parameters_and_metrics(
    root: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys, "--root", root, "compare", "latent=vq,lr=0.1", "latent=none,lr=0.1", "--json"
    )
    assert code == 0
    rows = json.loads(out)
    assert [(r["run"], r["latent"], r["loss"]) for r in rows] == [
        ("latent=vq,lr=0.1", "vq", 0.2),
        ("latent=none,lr=0.1", "none", 0.1),
    ]
    assert "lr" not in rows[0], "a parameter that is the same everywhere is not a column"
    code, out, _ = run(capsys, "--root", root, "compare", "latent=vq,lr=0.1", "latent=none,lr=0.1")
    assert "same in every run: lr=0.1" in out
    session = load_session(root)
    code, out, _ = run(capsys, "--root", root, "compare", "--session", session, "--json")
    assert code == 0 and len(json.loads(out)) == 4
    code, _, err = run(capsys, "--root", root, "compare", "latent=vq,lr=0.1")
    assert code == 2 and "compare needs two runs or more" in err


def test_diff_shows_parameters_and_provenance(
    root: str, pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys, "--root", root, "diff", "latent=vq,lr=0.1", "latent=vq,lr=0.001", "--json"
    )
    assert code == 0
    assert json.loads(out) == [{"kind": "parameter", "name": "lr", "first": 0.1, "second": 0.001}]
    pytester.runpytest_subprocess("-p", "no:xdist", "-k", "vq and 0.1", "--exp-tag", "again")
    newest = load_session(root)
    code, out, _ = run(
        capsys, "--root", root, "diff", "latent=vq,lr=0.001", f"{newest}/latent=vq,lr=0.1", "--json"
    )
    assert code == 0
    names = {(d["kind"], d["name"]) for d in json.loads(out)}
    assert ("parameter", "lr") in names and ("provenance", "command") in names


def load_session(root: str) -> str:
    from pytest_expharness import Archive as RunArchive

    return RunArchive(root).runs().rows[0]["session"]
