"""The run folder: where it goes, what it holds, and its provenance header."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_expharness.archive import layout

from conftest import XDIST_MODES, Archive

SWEEP = """
    '''A module docstring.'''
    import pytest

    EPOCHS = 2

    @pytest.mark.experiment(tags=["grid"])
    @pytest.mark.parametrize("latent", ["none", "vq"])
    @pytest.mark.parametrize("beta", [0, 1.5])
    def test_compare_latent(exp, latent, beta):
        '''Compare latent spaces.'''
        exp.track("loss", beta)
        exp["results/final"] = beta
"""

RUN_FILES = {"config.yaml", "summary.json", "data.json", "metrics.csv", "run.log", "REPORT.md"}


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_one_folder_per_run_one_stamp_per_session(
    pytester: pytest.Pytester, archive: Archive, mode: list[str]
) -> None:
    pytester.makepyfile(test_exp=SWEEP)
    pytester.runpytest(*mode).assert_outcomes(passed=4)
    runs = archive.runs()
    assert len(runs) == 4
    sessions = {run.parent for run in runs}
    assert len(sessions) == 1, "every run of a session, on every worker, shares one stamp"
    (session,) = sessions
    assert session.parent == archive.root / "compare_latent"
    assert sorted(r.name for r in runs) == [
        "latent=none,beta=0",
        "latent=none,beta=1.5",
        "latent=vq,beta=0",
        "latent=vq,beta=1.5",
    ]
    for run in runs:
        names = {p.name for p in run.iterdir()}
        assert names >= RUN_FILES
        assert (run / "artifacts").is_dir()
        assert not (run / "plots").exists(), "one point per series: nothing to plot, no folder"
        assert "metrics.journal" not in names, "a finished run keeps metrics.csv, not the journal"
        summary = archive.summary(run)
        assert summary["status"] == "completed"
        assert summary["session"] == session.name
        assert summary["run_id"] == run.name
        assert summary["duration"] >= 0
        assert summary["plots"] == []


def test_config_header(pytester: pytest.Pytester, archive: Archive) -> None:
    pytester.makepyfile(test_exp=SWEEP)
    pytester.runpytest("--exp-tag", "ablation", "-k", "vq and 1.5").assert_outcomes(
        passed=1, deselected=3
    )
    config = archive.config(archive.run())
    header = config["experiment"]
    assert header["name"] == "compare_latent"
    assert header["description"] == "Compare latent spaces."
    assert header["tags"] == ["grid", "ablation"]
    assert header["label"] == "exploratory"
    assert header["run_id"] == "latent=vq,beta=1.5"
    assert header["node_id"] == "test_exp.py::test_compare_latent[1.5-vq]"
    assert header["git_commit"] is None and header["git_dirty"] is None, "not a git repository"
    assert header["host"] and header["python"] == sys.version.split()[0]
    assert header["packages"]["pytest"] == pytest.__version__
    assert header["command"][:1] == ["pytest"] and "ablation" in header["command"]
    assert header["testing"] is False
    for key in ("session", "timestamp", "user", "platform", "base_config", "cli_overrides"):
        assert key in header
    assert config["parameters"] == {"EPOCHS": 2, "latent": "vq", "beta": 1.5}


def test_git_provenance(pytester: pytest.Pytester, archive: Archive) -> None:
    pytester.makepyfile(test_exp=SWEEP)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    for args in (["init", "-q", "-b", "main"], ["add", "test_exp.py"], ["commit", "-qm", "x"]):
        subprocess.run([*git, *args], cwd=pytester.path, check=True)
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=pytester.path, capture_output=True, text=True
    ).stdout.strip()
    pytester.runpytest("-k", "none and 0").assert_outcomes(passed=1, deselected=3)
    header = archive.config(archive.run())["experiment"]
    assert (header["git_commit"], header["git_branch"], header["git_dirty"]) == (
        commit,
        "main",
        False,
    )
    with open(pytester.path / "test_exp.py", "a") as handle:
        handle.write("\n# edited\n")
    pytester.runpytest("-k", "none and 0").assert_outcomes(passed=1, deselected=3)
    dirty = [archive.config(r)["experiment"]["git_dirty"] for r in archive.runs()]
    assert sorted(dirty) == [False, True]


def test_description_falls_back_to_module_docstring(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(
        test_exp='''
        """Module says what."""
        import pytest

        @pytest.mark.experiment(name="custom")
        def test_a(exp):
            pass
        '''
    )
    pytester.runpytest().assert_outcomes(passed=1)
    header = archive.config(archive.run())["experiment"]
    assert (header["name"], header["description"]) == ("custom", "Module says what.")
    assert archive.run().parent.parent.name == "custom"


def test_exp_root_option_and_ini(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_exp="def test_a(exp):\n    pass\n")
    pytester.runpytest("--exp-root", "elsewhere").assert_outcomes(passed=1)
    assert len(list((pytester.path / "elsewhere" / "a").glob("*/run/summary.json"))) == 1
    pytester.makeini("[pytest]\nexp_root = from_ini\nexp_tags =\n    nightly\n")
    pytester.runpytest().assert_outcomes(passed=1)
    (summary,) = (pytester.path / "from_ini" / "a").glob("*/run/summary.json")
    config = Archive.config(summary.parent)
    assert config["experiment"]["tags"] == ["nightly"]
    assert not (pytester.path / "results").exists()


def test_plain_tests_create_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain="def test_a():\n    pass\n")
    pytester.runpytest().assert_outcomes(passed=1)
    assert not (pytester.path / "results").exists()


def test_debug_mode_replaces_the_previous_debug_session(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(test_exp=SWEEP)
    pytester.runpytest("--exp-debug", "-n", "2").assert_outcomes(passed=4)
    debug = archive.root / "compare_latent" / "debug"
    first = {
        p.name: json.loads((p / "summary.json").read_text())["session"]
        for p in debug.iterdir()
        if p.is_dir()
    }
    assert len(first) == 4 and len(set(first.values())) == 1
    pytester.runpytest("--exp-debug", "-k", "vq and 0").assert_outcomes(passed=1, deselected=3)
    second = [p.name for p in debug.iterdir() if p.is_dir()]
    assert second == ["latent=vq,beta=0"], "the earlier debug session's runs are gone"
    assert [p.name for p in (archive.root / "compare_latent").iterdir() if p.is_dir()] == ["debug"]


def test_run_ids_unique_under_concurrent_starts(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from pytest_expharness.archive.layout import make_run_dir\n"
        "for _ in range(20):\n"
        "    print(make_run_dir(Path(sys.argv[1]), 'lr=0.1')[1])\n"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(6)
    ]
    ids = [line for proc in procs for line in proc.communicate()[0].split()]
    assert len(ids) == 120
    assert len(set(ids)) == 120, "every process got its own folder"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(ids)


def test_run_id_is_filesystem_safe() -> None:
    assert layout.run_id_for({}) == "run"
    assert layout.run_id_for({"path": "a/b c", "lr": 1e-3}) == "path=a_b_c,lr=0.001"
    long = layout.run_id_for({"name": "x" * 300})
    assert len(long) <= layout.MAX_ID and "/" not in long
    assert layout.run_id_for({"name": "x" * 300}) == long, "stable for the same parameters"
    assert layout.run_id_for({"name": "x" * 299 + "y"}) != long


def test_a_new_root_inside_git_gets_a_gitignore(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(
        test_exp="""
        def test_a(exp):
            exp.track("loss", 1.0)
            exp.track("loss", 0.5)
            exp.commit_raw("big.bin", b"x" * 1000)
        """
    )
    subprocess.run(["git", "init", "-q"], cwd=pytester.path, check=True)
    pytester.runpytest("-p", "no:xdist").assert_outcomes(passed=1)
    run = archive.run()
    ignored = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all", "results"],
        cwd=pytester.path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    shown = {line[3:] for line in ignored.splitlines()}
    base = run.relative_to(pytester.path).as_posix()
    for kept in ("config.yaml", "summary.json", "metrics.csv", "REPORT.md", "run.log"):
        assert f"{base}/{kept}" in shown
    assert f"{run.parent.relative_to(pytester.path).as_posix()}/comparison.csv" in shown
    assert not any("artifacts/" in p or "plots/" in p or "index.sqlite" in p for p in shown)


def test_a_root_outside_git_gets_no_gitignore(pytester: pytest.Pytester, archive: Archive) -> None:
    pytester.makepyfile(test_exp="def test_a(exp):\n    pass\n")
    pytester.runpytest("-p", "no:xdist").assert_outcomes(passed=1)
    assert not (archive.root / ".gitignore").exists()
