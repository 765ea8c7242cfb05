"""expharness import-hydra against a 3x3 multirun the real Hydra makes in the test."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from pytest_expharness.cli import main as cli

pytest.importorskip("hydra", reason="hydra-core is in the test extra: pip install -e .[test]")

APP = """
import json
import logging
import os

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

log = logging.getLogger(__name__)


@hydra.main(version_base=None, config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float:
    out = HydraConfig.get().runtime.output_dir
    loss = 1.0 / (cfg.a + len(cfg.b))
    log.info("loss %s", loss)
    os.makedirs(os.path.join(out, "facts"), exist_ok=True)
    with open(os.path.join(out, "facts", "final.json"), "w") as f:
        json.dump({"loss": loss, "acc": 1 - loss}, f)
    with open(os.path.join(out, "curve.csv"), "w") as f:
        f.write("epoch,loss,acc\\n")
        for epoch in range(4):
            f.write(f"{epoch},{loss * (4 - epoch)},{1 - loss * (4 - epoch) / 4}\\n")
    return loss


if __name__ == "__main__":
    main()
"""

CONFIG = """
a: 1
b: x
model:
  depth: 2
  act: relu
"""

NATIVE = """
    import pytest

    @pytest.mark.experiment(metric="loss")
    @pytest.mark.parametrize("a", [1, 2, 3])
    @pytest.mark.parametrize("b", ["x", "yy", "zzz"])
    def test_app(exp, a, b):
        loss = 1.0 / (a + len(b))
        exp.track("loss", loss)
        exp.track("acc", 1 - loss)
"""


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The multirun folder of `python app.py -m a=1,2,3 b=x,yy,zzz` (Hydra's basic launcher)."""
    folder = tmp_path_factory.mktemp("hydra")
    (folder / "conf").mkdir()
    (folder / "conf" / "config.yaml").write_text(CONFIG)
    (folder / "app.py").write_text(textwrap.dedent(APP))
    env = {k: v for k, v in os.environ.items() if not k.startswith("HYDRA")}
    done = subprocess.run(
        [sys.executable, "app.py", "-m", "a=1,2,3", "b=x,yy,zzz"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    (multirun,) = (folder / "multirun").glob("*/*")
    assert len(list(multirun.glob("*/.hydra/config.yaml"))) == 9
    return multirun


@pytest.fixture
def source(made: Path, tmp_path: Path) -> Path:
    """A copy of the multirun, as multirun/DATE/TIME, that a test may change."""
    copy = tmp_path / "multirun" / made.parent.name / made.name
    shutil.copytree(made, copy, symlinks=True)
    return copy


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _table(root: Path) -> dict[str, Any]:
    (found,) = root.glob("app/*/comparison.json")
    return dict(json.loads(found.read_text()))


def test_a_multirun_becomes_a_session_with_axes_table_and_pivot(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "archive"
    code, out, err = run(
        capsys, "--root", str(root), "import-hydra", str(source), "--metrics", "facts/*.json"
    )
    assert code == 0, err
    assert "imported: 9" in out and "9 jobs, a (3 values), b (3 values)" in out
    assert "app: 9 runs (9 completed), main metric loss (min)" in out
    assert "loss (min): a down, b across" in out  # the pivot, printed as a session prints it

    table = _table(root)
    assert table["axes"] == ["a", "b"]
    assert table["best"] == "a=3,b=zzz"
    pivot = table["pivot"]
    assert isinstance(pivot, dict)
    assert pivot["rows"] == [1, 2, 3] and pivot["columns"] == ["x", "yy", "zzz"]
    assert pivot["values"][0] == pytest.approx([1 / 2, 1 / 3, 1 / 4])

    code, out, _ = run(capsys, "--root", str(root), "list", "--json")
    listed = json.loads(out)
    assert code == 0 and len(listed) == 9
    assert {r["run_id"] for r in listed} == {
        f"a={a},b={b}" for a in (1, 2, 3) for b in ("x", "yy", "zzz")
    }
    session = listed[0]["session"]
    assert session.startswith(f"{source.parent.name}_{source.name}_")

    code, out, _ = run(capsys, "--root", str(root), "show", "app/a=2,b=yy")
    assert code == 0 and "tags: hydra" in out
    assert "model.depth" in out and "model.act" in out  # the composed config, flattened
    assert "artifacts/hydra/overrides.yaml" in out and "artifacts/facts/final.json" in out

    code, out, _ = run(capsys, "--root", str(root), "compare", "--session", session)
    assert code == 0 and "best a=3,b=zzz" in out
    assert "same in every run: model.depth=2, model.act='relu'" in out
    code, out, _ = run(capsys, "--root", str(root), "report", "--session", session)
    assert code == 0 and (root / "app" / session / "report.html").is_file()
    log = (root / "app" / session / "a=1,b=x" / "run.log").read_text()
    assert "INFO __main__: loss 0.5" in log  # Hydra's log, in run.log's format


def test_the_imported_table_is_the_native_sweeps(
    source: Path,
    tmp_path: Path,
    pytester: pytest.Pytester,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pytester.makepyfile(test_app=NATIVE)
    pytester.runpytest("-p", "no:xdist").assert_outcomes(passed=9)
    (native_file,) = (pytester.path / "results").glob("app/*/comparison.json")
    native = json.loads(native_file.read_text())
    root = tmp_path / "archive"
    code, _, err = run(
        capsys, "--root", str(root), "import-hydra", str(source), "--metrics", "facts/*.json"
    )
    assert code == 0, err
    imported = _table(root)
    for key in ("axes", "best", "pivot", "main_metric"):
        assert imported[key] == native[key], key

    def cells(table: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
        return {r["run"]: (r["status"], r["a"], r["b"], r["loss"], r["acc"]) for r in table["rows"]}

    assert cells(imported) == cells(native)  # ties keep each tool's grid order
    assert set(imported["columns"]) == set(native["columns"])


def test_a_csv_of_epochs_gives_whole_series(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "archive"
    code, _, err = run(
        capsys, "--root", str(root), "import-hydra", str(source), "--metrics", "curve.csv"
    )
    assert code == 0, err
    (summary,) = root.glob("app/*/a=1,b=x/summary.json")
    metrics = json.loads(summary.read_text())["metrics"]
    assert metrics["loss"]["count"] == 4 and metrics["loss"]["last_step"] == 3
    assert metrics["loss"]["final"] == pytest.approx(0.5) and metrics["loss"]["max"] == 2.0
    assert (summary.parent / "plots" / "loss.svg").is_file()


def test_importing_twice_adds_nothing(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "archive"
    argv = ["--root", str(root), "import-hydra", str(source), "--metrics", "facts/*.json"]
    assert run(capsys, *argv)[0] == 0
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.name != "index.sqlite")
    code, out, _ = run(capsys, "--root", str(root), "import-hydra", str(source.parent.parent))
    assert code == 0 and "already imported (skipped): 9" in out and "imported:" not in out
    assert sorted(p for p in root.rglob("*") if p.is_file() and p.name != "index.sqlite") == files


def test_bad_metrics_files_are_named_and_the_jobs_kept(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (source / "4" / "facts" / "final.json").write_text('{"loss": ')
    (source / "5" / "facts" / "final.json").unlink()
    secret = tmp_path / "secret.json"
    secret.write_text('{"loss": -1}')
    (source / "6" / "facts" / "final.json").unlink()
    (source / "6" / "facts" / "final.json").symlink_to(secret)
    (source / "7" / ".hydra" / "config.yaml").write_text("a: [1,\n")
    root = tmp_path / "archive"
    code, out, _ = run(
        capsys, "--root", str(root), "import-hydra", str(source), "--metrics", "facts/*.json"
    )
    assert code == 1 and "imported: 8" in out
    assert f"{source / '7'}: {source / '7' / '.hydra' / 'config.yaml'}: not valid YAML" in out
    assert f"{source / '4' / 'facts' / 'final.json'}: final.json: not JSON" in out
    assert f"{source / '6' / 'facts' / 'final.json'} -> {secret}: points outside" in out
    rows = {r["run"]: r for r in _table(root)["rows"]}
    assert rows["a=2,b=zzz"]["status"] == "failed"  # job 5: no metrics file at all
    assert "no file matched --metrics facts/*.json" in rows["a=2,b=zzz"]["reason"]
    assert rows["a=3,b=x"].get("loss") is None  # the link out was not read


def test_refusals_write_nothing(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "archive"
    code, out, err = run(
        capsys, "--root", str(root), "import-hydra", str(source), "--metrics", "../x.json"
    )
    assert code == 2 and out == "" and "inside each job's folder" in err
    (tmp_path / "plain").mkdir()
    code, _, err = run(capsys, "--root", str(root), "import-hydra", str(tmp_path / "plain"))
    assert code == 2 and "no Hydra multirun here" in err
    assert len(err.strip().splitlines()) == 1
    code, _, err = run(capsys, "--root", str(source / "inner"), "import-hydra", str(source))
    assert code == 2 and "cannot be inside the folder imported" in err
    assert not root.exists() and not (source / "inner").exists()


def test_two_imports_at_once_import_each_job_once(source: Path, tmp_path: Path) -> None:
    root = tmp_path / "archive"
    root.mkdir()  # both find it; the lock on it makes them take turns
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    argv = [sys.executable, "-m", "pytest_expharness", "--root", str(root), "import-hydra"]
    started = [
        subprocess.Popen(
            [*argv, str(source), "--metrics", "facts/*.json"],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=120)[0] for p in started]
    assert [p.returncode for p in started] == [0, 0]
    assert sorted(
        ("imported: 9" in out, "already imported (skipped): 9" in out) for out in outs
    ) == [
        (False, True),
        (True, False),
    ]
    runs = sorted(p.parent.name for p in root.glob("app/*/*/summary.json"))
    assert len(runs) == 9 and len(set(runs)) == 9
    assert len(_table(root)["rows"]) == 9
