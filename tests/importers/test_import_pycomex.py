"""expharness import-pycomex against archives the real PyComex writes in the test."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pytest_expharness.cli import main as cli

pytest.importorskip("pycomex", reason="pycomex is in the test extra: pip install -e .[test]")

EXPERIMENT = '''
"""A tiny PyComex experiment: a decaying loss."""
import os
from pycomex import Experiment

LEARNING_RATE: float = 0.1
EPOCHS: int = 5
__DEBUG__ = False

@Experiment(base_path=os.path.join(os.getcwd(), "results"), namespace="descent", glob=globals())
def experiment(e: Experiment):
    loss = 1.0
    for epoch in range(e.EPOCHS):
        loss *= 1 - e.LEARNING_RATE
        e.track("loss", loss)
        e.track("val/loss", loss + 0.1)
    e["results/final_loss"] = loss
    e.commit_json("model.json", {"weights": [1, 2, 3]})
    if e.LEARNING_RATE > 0.4:
        raise ValueError("diverged")

experiment.run_if_main()
'''

KILLED = '''
"""Killed mid-way: PyComex leaves it running."""
import os
from pycomex import Experiment

STEPS: int = 3

@Experiment(base_path=os.path.join(os.getcwd(), "results"), namespace="killed", glob=globals())
def experiment(e):
    for i in range(e.STEPS):
        e.track("x", float(i))
    os._exit(9)

experiment.run_if_main()
'''


def _pycomex(folder: Path, script: str, *args: str) -> None:
    subprocess.run(
        [sys.executable, script, *args], cwd=folder, capture_output=True, timeout=120, check=False
    )


def _age(folder: Path, seconds: float = 600.0) -> None:
    """Make a run's files old, as a run killed long ago has them."""
    past = time.time() - seconds
    for path in folder.rglob("*"):
        os.utime(path, (past, past), follow_symlinks=False)


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PyComex results folder: two runs, a failed one, a debug one and a killed one."""
    folder = tmp_path_factory.mktemp("pycomex")
    (folder / "results").mkdir()
    (folder / "descent.py").write_text(textwrap.dedent(EXPERIMENT))
    (folder / "killed.py").write_text(textwrap.dedent(KILLED))
    (folder / "debugged.py").write_text(
        textwrap.dedent(EXPERIMENT).replace("__DEBUG__ = False", "__DEBUG__ = True")
    )
    _pycomex(folder, "descent.py", "--LEARNING_RATE=0.1")
    _pycomex(folder, "descent.py", "--LEARNING_RATE=0.3")
    _pycomex(folder, "descent.py", "--LEARNING_RATE=0.5")
    _pycomex(folder, "debugged.py")
    _pycomex(folder, "killed.py")
    _age(folder / "results" / "killed")
    runs = sorted(p.parent for p in (folder / "results").rglob("experiment_meta.json"))
    assert len(runs) == 5, runs
    return folder / "results"


@pytest.fixture
def source(made: Path, tmp_path: Path) -> Path:
    """A copy of the PyComex results a test may change."""
    copy = tmp_path / "pycomex-results"
    shutil.copytree(made, copy, symlinks=True)
    return copy


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def listed_session(listed: dict[str, dict[str, str]], experiment: str) -> str:
    return next(r["session"] for r in listed.values() if r["experiment"] == experiment)


def _run_folders(root: Path) -> list[Path]:
    return sorted(
        p.parent for p in root.rglob("summary.json") if (p.parent / "config.yaml").exists()
    )


def test_a_pycomex_archive_becomes_runs_list_show_and_compare_read(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "archive"
    code, out, err = run(capsys, "--root", str(root), "import-pycomex", str(source))
    assert code == 0, err
    assert "imported: 5" in out
    assert "PyComex kept only the last of 5 values of 'val/loss'" in out  # said, not hidden
    assert "descent: 3 runs (2 completed, 1 failed), main metric loss (min)" in out

    code, out, _ = run(capsys, "--root", str(root), "list", "--json")
    listed = {r["run_id"]: r for r in json.loads(out)}
    assert code == 0
    assert {r["status"] for r in listed.values()} == {"completed", "failed", "crashed"}
    assert listed["LEARNING_RATE=0.5"]["status"] == "failed"
    assert len(listed) == 4  # the debug run is in <experiment>/debug/, as native ones are
    (debug,) = [p for p in (root / "debugged" / "debug").iterdir() if p.is_dir()]
    assert json.loads((debug / "summary.json").read_text())["status"] == "completed"

    code, out, _ = run(capsys, "--root", str(root), "show", "descent/LEARNING_RATE=0.3")
    assert code == 0
    assert re.search(r"^LEARNING_RATE\s+0.3$", out, re.MULTILINE) and "tags: pycomex" in out
    loss = next(line.split() for line in out.splitlines() if line.startswith("loss "))
    assert loss[1:] == ["0.16807", "0.16807", "0.7", "5"]  # final, min, max, count
    val = next(line.split() for line in out.splitlines() if line.startswith("val/loss"))
    assert val[-1] == "1"  # the one value PyComex kept
    assert "model.json" in out and "results/final_loss" in out

    session = listed["LEARNING_RATE=0.3"]["session"]
    code, out, _ = run(capsys, "--root", str(root), "compare", "--session", session)
    assert code == 0
    rows = {
        name: line
        for line in out.splitlines()
        for name in line.split()
        if name.startswith("LEARNING_RATE=")
    }
    assert rows["LEARNING_RATE=0.3"].startswith("*")  # the best by loss
    assert "failed" in rows["LEARNING_RATE=0.5"] and "crashed" in out
    assert "ValueError: diverged" in (root / "descent" / session / "comparison.md").read_text()
    killed = (root / "killed" / listed_session(listed, "killed") / "comparison.md").read_text()
    assert "PyComex left it running" in killed  # the killed run, imported as crashed

    code, out, _ = run(capsys, "--root", str(root), "report", "--session", session)
    assert code == 0
    html = (root / "descent" / session / "report.html").read_text()
    assert "LEARNING_RATE=0.3" in html and "LEARNING_RATE=0.5" in html
    table = json.loads((root / "descent" / session / "comparison.json").read_text())
    assert table["axes"] == ["LEARNING_RATE"] and table["best"] == "LEARNING_RATE=0.3"

    config = (root / "descent" / session / "LEARNING_RATE=0.1" / "config.yaml").read_text()
    assert "imported_from: {tool: pycomex" in config and str(source) in config
    code, out, _ = run(capsys, "--root", str(root), "check")
    assert code == 0 and "0 damaged" in out


def test_importing_twice_adds_nothing(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "archive"
    assert run(capsys, "--root", str(root), "import-pycomex", str(source))[0] == 0
    before = _run_folders(root)
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.name != "index.sqlite")
    code, out, _ = run(capsys, "--root", str(root), "import-pycomex", str(source / "descent"))
    assert code == 0
    assert "already imported (skipped): 4" in out and "imported:" not in out  # 3 + debug
    assert _run_folders(root) == before
    after = sorted(p for p in root.rglob("*") if p.is_file() and p.name != "index.sqlite")
    assert after == files
    code, out, _ = run(capsys, "--root", str(root), "list", "--json")
    assert len(json.loads(out)) == 4


def test_one_run_folder_can_be_imported_alone(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "archive"
    one = next(p for p in sorted((source / "descent").iterdir()) if p.name != "debug")
    code, out, _ = run(capsys, "--root", str(root), "import-pycomex", str(one))
    assert code == 0 and "imported: 1" in out
    assert len(_run_folders(root)) == 1


def test_a_corrupt_meta_is_named_and_the_rest_imported(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "archive"
    broken = sorted((source / "descent").glob("*/experiment_meta.json"))[0]
    broken.write_text('{"status": "done", "parameters": ')
    code, out, _ = run(capsys, "--root", str(root), "import-pycomex", str(source))
    assert code == 1
    assert "could not read: 1" in out
    assert f"{broken.parent}: experiment_meta.json: " in out
    assert "imported: 4" in out
    assert not list(root.glob(".import-*"))  # no staging folder left behind
    sources = [(p / "config.yaml").read_text() for p in _run_folders(root)]
    assert not any(str(broken.parent) in text for text in sources)


def test_links_out_of_the_folder_are_not_followed(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("not yours")
    runs = sorted(p for p in (source / "descent").iterdir() if p.name != "debug")
    (runs[0] / "leak.txt").symlink_to(secret)
    (runs[0] / "inside.json").symlink_to(runs[0] / "model.json")  # stays inside: read
    meta = runs[1] / "experiment_meta.json"
    outside_meta = tmp_path / "meta.json"
    shutil.move(meta, outside_meta)
    meta.symlink_to(outside_meta)
    root = tmp_path / "archive"
    code, out, _ = run(capsys, "--root", str(root), "import-pycomex", str(source))
    assert code == 1
    assert f"{runs[0] / 'leak.txt'} -> {secret}: points outside" in out
    assert f"{runs[1]}: experiment_meta.json: not a file inside" in out
    copied = [p.name for p in root.rglob("*") if p.is_file()]
    assert "leak.txt" not in copied and "inside.json" in copied
    assert "not yours" not in "".join(
        p.read_text(errors="replace")
        for p in root.rglob("*")
        if p.is_file() and p.suffix != ".sqlite"
    )


def test_a_folder_without_pycomex_runs_is_refused_and_nothing_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    root = tmp_path / "archive"
    code, out, err = run(capsys, "--root", str(root), "import-pycomex", str(tmp_path / "empty"))
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "no PyComex run folder here" in err
    assert not root.exists()
    code, _, err = run(capsys, "--root", str(root), "import-pycomex", str(tmp_path / "nope"))
    assert code == 2 and "no such folder" in err and not root.exists()


def test_a_run_left_running_with_fresh_files_waits(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    killed = next((source / "killed").iterdir())
    (killed / "experiment_meta.json").touch()  # as if its process still wrote to it
    root = tmp_path / "archive"
    code, out, _ = run(capsys, "--root", str(root), "import-pycomex", str(source / "killed"))
    assert code == 0 and "it may be alive" in out and not root.exists()
    _age(killed)
    code, out, _ = run(capsys, "--root", str(root), "import-pycomex", str(source / "killed"))
    assert code == 0 and "(crashed)" in out
