"""analysis.py in each finished run folder: runs months later, from anywhere, wherever it moved."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import matplotlib.figure  # noqa: F401  (see tests/conftest.py)
import pytest

import pytest_expharness
from pytest_expharness.cli import main as cli
from pytest_expharness.report.runscript import script_text

from conftest import XDIST_MODES, Archive

NO_XDIST = ("-p", "no:xdist")
PNG = b"\x89PNG\r\n\x1a\n"

TRAIN = """
    import pytest
    from pytest_expharness import analysis

    EPOCHS = 4

    @pytest.mark.parametrize("lr", [0.1])
    def test_train(exp, lr):
        for epoch in range(exp.EPOCHS):
            exp.track("loss", 1.0 / (epoch + 1), step=epoch)
            exp.track("val/acc", 0.5 + epoch / 10, step=epoch)
        exp["results/final_loss"] = 0.25

    def test_broken(exp):
        exp.track("loss", 3.0)
        raise RuntimeError("diverged")

    def test_nothing_tracked(exp):
        exp["results/answer"] = 42

    @analysis
    def plot(run):
        run.commit_raw("note.txt", "from @analysis")
"""


def run_script(script: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python analysis.py` as a user runs it: a fresh interpreter, elsewhere, no display."""
    package_parent = str(Path(pytest_expharness.__file__).parent.parent)
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": package_parent}
    return subprocess.run(
        [sys.executable, str(script), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def cli_run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    capsys.readouterr()
    code = cli.main(list(argv))
    return code, capsys.readouterr().out


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_the_script_loads_the_run_prints_it_and_plots_its_series(
    pytester: pytest.Pytester, archive: Archive, mode: list[str], tmp_path: Path
) -> None:
    pytester.makepyfile(test_train=TRAIN)
    pytester.runpytest(*mode).assert_outcomes(passed=2, failed=1)
    run = archive.run("train")
    script = run / "analysis.py"
    text = script.read_text()
    assert "from pytest_expharness import load_run" in text
    assert str(run) not in text and str(archive.root) not in text, "no path: the folder may move"
    assert len(text.splitlines()) < 60, "short enough to read and edit"
    done = run_script(script, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"train {run.name}: completed"
    assert "  EPOCHS = 4" in lines and "  lr = 0.1" in lines
    assert "  results/final_loss = 0.25" in lines
    assert lines[-2:] == ["plot: analysis_plots/loss.png", "plot: analysis_plots/val/acc.png"]
    for name in ("loss.png", "val/acc.png"):
        assert (run / "analysis_plots" / name).read_bytes().startswith(PNG)
    assert not list(tmp_path.iterdir()), "nothing written where it was run from"
    # the @analysis folder is another thing: it holds only what the analysis committed
    assert sorted(p.name for p in (run / "analysis").iterdir()) == ["note.txt"]
    assert archive.summary(run)["analysis"]["files"] == ["note.txt"]


def test_failed_and_untracked_runs_get_one_too(
    pytester: pytest.Pytester, archive: Archive, tmp_path: Path
) -> None:
    pytester.makepyfile(test_train=TRAIN)
    pytester.runpytest(*NO_XDIST).assert_outcomes(passed=2, failed=1)
    broken = run_script(archive.run("broken") / "analysis.py", cwd=tmp_path)
    assert broken.returncode == 0, broken.stderr
    assert broken.stdout.splitlines()[0].endswith(": failed")
    assert "plot: analysis_plots/loss.png" in broken.stdout
    quiet = archive.run("nothing_tracked")
    done = run_script(quiet / "analysis.py", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "  results/answer = 42" in done.stdout.splitlines()
    assert not (quiet / "analysis_plots").exists(), "no series, no plots"


def test_a_run_that_never_started_has_no_folder_and_no_script(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(
        test_setup="""
        import pytest

        @pytest.fixture
        def data():
            raise OSError("no data")

        def test_setup(data, exp):
            pass
        """
    )
    pytester.runpytest(*NO_XDIST).assert_outcomes(errors=1)
    assert archive.runs() == []
    assert not list(archive.root.rglob("analysis.py"))


def test_the_script_still_works_after_the_folder_moved(
    pytester: pytest.Pytester, archive: Archive, tmp_path: Path
) -> None:
    pytester.makepyfile(test_train=TRAIN)
    pytester.runpytest(*NO_XDIST).assert_outcomes(passed=2, failed=1)
    moved = tmp_path / "months later" / "the run"
    moved.parent.mkdir()
    shutil.move(str(archive.run("train")), moved)
    done = run_script(moved / "analysis.py", cwd=pytester.path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].startswith("train lr=0.1")
    assert (moved / "analysis_plots" / "loss.png").read_bytes().startswith(PNG)


def test_export_carries_it_and_check_gc_and_analyze_treat_the_folder_as_before(
    pytester: pytest.Pytester,
    archive: Archive,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pytester.makepyfile(test_train=TRAIN)
    pytester.runpytest(*NO_XDIST).assert_outcomes(passed=2, failed=1)
    root = str(archive.root)
    run = archive.run("train")
    assert run_script(run / "analysis.py", cwd=tmp_path).returncode == 0  # analysis_plots/ too
    assert cli_run(capsys, "--root", root, "check")[0] == 0

    packed = tmp_path / "runs.tar.gz"
    assert (
        cli_run(
            capsys, "--root", root, "export", "--session", run.parent.name, "--to", str(packed)
        )[0]
        == 0
    )
    with tarfile.open(packed) as tar:
        names = tar.getnames()
    relative = run.relative_to(archive.root).as_posix()
    assert f"{relative}/analysis.py" in names
    other = tmp_path / "colleague"
    assert cli_run(capsys, "--root", str(other), "import", str(packed))[0] == 0
    done = run_script(other / relative / "analysis.py", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == f"train {run.name}: completed"

    code, out = cli_run(capsys, "--root", root, "analyze", str(run))
    assert code == 0 and "completed" in out
    assert sorted(p.name for p in (run / "analysis").iterdir()) == ["note.txt"]
    assert (run / "analysis.py").read_text() == script_text(archive.config(run)["experiment"])

    assert cli_run(capsys, "--root", root, "gc", "--status", "completed")[0] == 0
    assert not run.exists(), "gc deletes the whole folder, script and plots with it"


def test_pytest_never_collects_the_scripts(pytester: pytest.Pytester, archive: Archive) -> None:
    pytester.makepyfile(test_train=TRAIN)
    pytester.runpytest(*NO_XDIST).assert_outcomes(passed=2, failed=1)
    assert len(list(archive.root.rglob("analysis.py"))) == 3
    again = pytester.runpytest(*NO_XDIST, "--doctest-modules", "-o", "python_files=*.py")
    again.assert_outcomes(passed=2, failed=1)  # the same three tests, nothing from results/


@pytest.mark.parametrize(
    "name",
    [
        "plain",
        'it\'s "quoted"',
        'three """ quotes',
        "new\nline",
        "back\\slash",
        "nul\x00",
        "é\udcff",
    ],
)
def test_any_name_leaves_a_script_that_compiles(name: str) -> None:
    text = script_text({"name": name, "session": "s", "run_id": "r\r\nx"})
    compile(text, "analysis.py", "exec")
    assert text.count("\n") == script_text({"name": "a", "session": "s", "run_id": "r"}).count("\n")
    text.encode("utf-8")
