"""Runs mirrored to MLflow, read back with MLflow's own API from a local sqlite store."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matplotlib.figure  # noqa: F401  (see tests/conftest.py)
import mlflow  # loaded before any pytester session, which would drop it after (tests/conftest.py)
import mlflow.entities
import mlflow.store.tracking.sqlalchemy_store
import pytest
from mlflow.tracking import MlflowClient

from pytest_expharness.cli import main as cli
from pytest_expharness.mirror.keys import Keys, metric_name
from pytest_expharness.mirror.mlflow import param_text

from conftest import XDIST_MODES, Archive

SWEEP = """
    import time

    import numpy as np
    import pytest

    EPOCHS = 4
    LAYERS = {"sizes": [8, 4], "act": "relu"}

    @pytest.mark.parametrize("x", [1, 2, 3])
    def test_fit(exp, x):
        for step in range(exp.EPOCHS):
            exp.track("loss", x / (step + 1), step=10 * step)
            exp.track("acc.top1", 0.1 * step)
        exp.track("frame", np.full((4, 6, 3), 40 * x, dtype=np.uint8))
        exp.commit_json("result.json", {"x": x})
        time.sleep(0.3)  # long enough for a few sys/ samples
        assert x < 3, "x=3 fails"
"""
SESSION_END = """
import json, sys

def pytest_unconfigure(config):
    who = getattr(config, "workerinput", {}).get("workerid", "controller")
    heavy = sorted(m for m in ("mlflow", "tensorboard") if m in sys.modules)
    with open(f"loaded-{who}.json", "w") as out:
        json.dump(heavy, out)
"""


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def committed(pytester: pytest.Pytester) -> Path:
    """pytester's folder as a git repository with the sweep and the conftest committed."""
    pytester.makepyfile(test_exp=SWEEP)
    pytester.makeconftest(SESSION_END)
    (pytester.path / ".gitignore").write_text("results/\nloaded-*.json\n*.db\nmlartifacts/\n")
    _git(pytester.path, "init", "-q")
    _git(pytester.path, "add", "-A")
    _git(pytester.path, "commit", "-q", "-m", "sweep")
    return pytester.path


@pytest.fixture
def store(pytester: pytest.Pytester) -> Iterator[str]:
    """A local sqlite tracking URI; mlflow's global tracking URI points at it meanwhile."""
    uri = f"sqlite:///{pytester.path / 'mlflow.db'}"
    before = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        yield uri
    finally:
        mlflow.set_tracking_uri(before)


def mirrors(experiment: str = "fit") -> list[Any]:
    found = mlflow.search_runs(experiment_names=[experiment], output_format="list")
    return sorted(found, key=lambda r: r.data.tags["expharness.run_id"])


def cli_run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_mirrors_the_run(client: MlflowClient, mirror: Any, folder: Path) -> None:
    """Params, every point with its step and time, tags and artifacts, as the folder holds them."""
    config, summary = Archive.config(folder), Archive.summary(folder)
    header, tags = config["experiment"], mirror.data.tags
    keys = Keys(config["parameters"])
    assert mirror.data.params == {keys[k]: param_text(v) for k, v in config["parameters"].items()}
    assert json.loads(mirror.data.params["LAYERS"]) == {"sizes": [8, 4], "act": "relu"}
    assert tags["expharness.run_id"] == header["run_id"] == mirror.info.run_name
    assert tags["expharness.session"] == header["session"] == folder.parent.name
    assert tags["expharness.status"] == summary["status"]
    assert tags["expharness.label"] == header["label"]
    assert (
        tags["mlflow.source.git.commit"] == header["git_commit"] and len(header["git_commit"]) == 40
    )
    assert json.loads(tags["expharness.tags"]) == ["ablation"] and tags["ablation"] == "true"
    assert tags["expharness.mirrored"] == "complete"
    assert mirror.info.status == ("FINISHED" if summary["status"] == "completed" else "FAILED")
    points: dict[str, list[tuple[int, float, int]]] = {}
    for step, name, value, when in Archive.metrics(folder):
        points.setdefault(name, []).append((step, value, int(when * 1000)))
    assert {"loss", "acc.top1"} < set(points) and any(n.startswith("sys/") for n in points)
    names = Keys(metric_name(n) for n in points)
    assert set(mirror.data.metrics) == {names[metric_name(n)] for n in points}
    assert "system/cpu_percent" in mirror.data.metrics, "sys/ series: MLflow's system metrics"
    for name, expected in points.items():
        history = client.get_metric_history(mirror.info.run_id, names[metric_name(name)])
        got = sorted((m.step, m.value, m.timestamp) for m in history)
        assert got == sorted(expected), name
    assert [s for s, _, _ in points["loss"]] == [0, 10, 20, 30]
    listed = {f.path for f in client.list_artifacts(mirror.info.run_id)}
    assert {"config.yaml", "summary.json", "REPORT.md", "artifacts", "tracked"} <= listed
    inside = {f.path for f in client.list_artifacts(mirror.info.run_id, "artifacts")}
    assert inside == {"artifacts/result.json"}
    frames = {f.path for f in client.list_artifacts(mirror.info.run_id, "tracked/frame")}
    assert frames == {"tracked/frame/000000.png"}


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_exp_mlflow_mirrors_every_run_when_the_session_ends(
    committed: Path, store: str, archive: Archive, pytester: pytest.Pytester, mode: list[str]
) -> None:
    result = pytester.runpytest(
        *mode, "--exp-mlflow", store, "--exp-tag", "ablation", "--exp-sys-interval", "0.05"
    )
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [f"mirrored 3 runs to MLflow at {store} (3 new, 0 brought up to date)"]
    )
    found, folders = mirrors(), archive.runs()
    assert [m.data.tags["expharness.run_id"] for m in found] == ["x=1", "x=2", "x=3"]
    client = MlflowClient(store)
    for mirror, folder in zip(found, folders, strict=True):
        assert_mirrors_the_run(client, mirror, folder)
    loaded = {p.name: json.loads(p.read_text()) for p in pytester.path.glob("loaded-*.json")}
    assert "mlflow" in loaded.pop("loaded-controller.json")
    assert all(heavy == [] for heavy in loaded.values()), f"a worker imported MLflow: {loaded}"
    assert len(loaded) == (2 if "-n" in mode else 0)
    assert (pytester.path / "mlartifacts" / "fit").is_dir(), "artifacts beside the database"


def test_export_again_adds_no_run_and_brings_label_and_tags_up_to_date(
    committed: Path,
    store: str,
    archive: Archive,
    pytester: pytest.Pytester,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pytester.runpytest("-p", "no:xdist", "--exp-tag", "ablation").assert_outcomes(
        passed=2, failed=1
    )
    root, session = str(archive.root), archive.runs()[0].parent.name
    code, out, err = cli_run(
        capsys, "--root", root, "export", "--session", session, "--mlflow", store
    )
    assert code == 0, err
    assert out.strip() == f"mirrored 3 runs to MLflow at {store} (3 new, 0 brought up to date)"
    assert cli_run(capsys, "--root", root, "label", "x=1", "keep", "--note", "best")[0] == 0
    assert cli_run(capsys, "--root", root, "untag", "x=2", "ablation")[0] == 0
    assert cli_run(capsys, "--root", root, "tag", "x=2", "second-look")[0] == 0
    code, out, err = cli_run(
        capsys, "--root", root, "export", "--session", session, "--mlflow", store
    )
    assert code == 0, err
    assert out.strip() == f"mirrored 3 runs to MLflow at {store} (0 new, 3 brought up to date)"
    code, out, _ = cli_run(capsys, "--root", root, "export", "x=3", "--mlflow", store)
    assert code == 0
    assert out.strip() == f"mirrored 1 run to MLflow at {store} (0 new, 1 brought up to date)"
    found = mirrors()
    assert [m.data.tags["expharness.run_id"] for m in found] == ["x=1", "x=2", "x=3"]
    one, two, _ = found
    assert one.data.tags["expharness.label"] == "keep"
    assert json.loads(one.data.tags["expharness.notes"])[0]["note"] == "best"
    assert "ablation" not in two.data.tags and two.data.tags["second-look"] == "true"
    assert json.loads(two.data.tags["expharness.tags"]) == ["second-look"]
    history = MlflowClient(store).get_metric_history(one.info.run_id, "loss")
    assert [m.step for m in history] == [0, 10, 20, 30], "no point logged twice"


def test_a_mirror_cut_short_is_made_again_and_the_archive_never_changes(
    committed: Path,
    store: str,
    archive: Archive,
    pytester: pytest.Pytester,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pytester.runpytest("-p", "no:xdist").assert_outcomes(passed=2, failed=1)
    root, session = str(archive.root), archive.runs()[0].parent.name
    before = _fingerprint(archive.root)
    assert (
        cli_run(capsys, "--root", root, "export", "--session", session, "--mlflow", store)[0] == 0
    )
    client = MlflowClient(store)
    cut = mirrors()[1]
    client.delete_tag(cut.info.run_id, "expharness.mirrored")  # as an export stopped mid-way
    code, out, err = cli_run(
        capsys, "--root", root, "export", "--session", session, "--mlflow", store
    )
    assert code == 0, err
    assert out.strip() == f"mirrored 3 runs to MLflow at {store} (1 new, 2 brought up to date)"
    found = mirrors()
    assert [m.data.tags["expharness.run_id"] for m in found] == ["x=1", "x=2", "x=3"]
    assert found[1].info.run_id != cut.info.run_id
    assert client.get_run(cut.info.run_id).info.lifecycle_stage == "deleted"
    assert [m.step for m in client.get_metric_history(found[1].info.run_id, "loss")] == [
        0, 10, 20, 30,
    ]  # fmt: skip
    assert _fingerprint(archive.root) == before, "a mirror only reads the archive"


def _fingerprint(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith("index.sqlite")
    }


def test_a_failed_mirror_is_one_warning_line_and_the_session_keeps_everything(
    committed: Path, archive: Archive, pytester: pytest.Pytester
) -> None:
    blocker = pytester.path / "not-a-folder"
    blocker.write_text("a file where the store's folder would be\n")
    uri = f"sqlite:///{blocker / 'mlflow.db'}"
    result = pytester.runpytest_subprocess("-p", "no:xdist", "--exp-mlflow", uri)
    result.assert_outcomes(passed=2, failed=1)
    assert result.ret == 1, "the outcome is the tests', not the mirror's"
    output = result.stdout.str() + result.stderr.str()
    warnings = [line for line in output.splitlines() if "not mirrored" in line]
    assert len(warnings) == 1 and warnings[0].startswith(
        "expharness: warning: runs not mirrored to MLflow"
    ), output
    assert "Traceback" not in output
    assert [Archive.summary(f)["status"] for f in archive.runs()] == [
        "completed", "completed", "failed",
    ]  # fmt: skip
    assert (archive.runs()[0].parent / "comparison.md").is_file()


def test_without_the_mlflow_extra_exp_mlflow_is_a_usage_error_before_any_run(
    committed: Path, archive: Archive, pytester: pytest.Pytester
) -> None:
    code = (
        "import sys; sys.modules['mlflow'] = None\n"
        "import pytest\n"
        "sys.exit(pytest.main(['-p', 'no:xdist', '--exp-mlflow', 'sqlite:///m.db']))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=pytester.path, capture_output=True, text=True
    )
    assert done.returncode == 4, done.stdout + done.stderr
    assert "--exp-mlflow needs the 'mlflow' extra: pip install 'pytest-expharness[mlflow]'" in (
        done.stderr
    )
    assert not archive.runs(), "no run started"


@pytest.mark.parametrize(
    ("module", "flag"), [("mlflow", "--mlflow"), ("tensorboard", "--tensorboard")]
)
def test_without_an_extra_export_says_which_to_install(
    pytester: pytest.Pytester, archive: Archive, module: str, flag: str
) -> None:
    pytester.makepyfile(test_exp="def test_a(exp):\n    exp.track('loss', 1.0)\n")
    pytester.runpytest("-p", "no:xdist").assert_outcomes(passed=1)
    code = (
        f"import sys; sys.modules[{module!r}] = None\n"
        "from pytest_expharness.cli import main\n"
        f"sys.exit(main.main(['--root', 'results', 'export', 'latest', {flag!r}, 'out']))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=pytester.path, capture_output=True, text=True
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"pip install 'pytest-expharness[{module}]'" in lines[0], lines
    assert not (pytester.path / "out").exists() and not (pytester.path / "mlruns").exists()


def test_a_session_without_exp_mlflow_loads_neither_extra(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_exp="def test_a(exp):\n    exp.track('loss', 1.0)\n")
    pytester.makeconftest(SESSION_END)
    pytester.runpytest_subprocess("-p", "no:xdist").assert_outcomes(passed=1)
    assert json.loads((pytester.path / "loaded-controller.json").read_text()) == []


def test_export_takes_exactly_one_target(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    pytester.makepyfile(test_exp="def test_a(exp):\n    exp.track('loss', 1.0)\n")
    pytester.runpytest("-p", "no:xdist").assert_outcomes(passed=1)
    for targets in ([], ["--to", "a.tar.gz", "--mlflow", "sqlite:///m.db"]):
        code, _, err = cli_run(capsys, "--root", "results", "export", "latest", *targets)
        assert code == 2 and err.strip() == (
            "expharness: export needs one of --to FILE.tar.gz, --mlflow URI, --tensorboard DIR"
        )
