"""The gallery in experiments/ smoke-runs as CI would run it: --exp-testing -n 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXPERIMENTS = (
    "quickstart",
    "latent_spaces",
    "classifier_pipeline",
    "mixture_components",
    "search",
    "checkpoints",
    "Baseline.fit",
    "HighDegree.fit",
    "StrongRidge.fit",
    "LogInput.fit",
)


@pytest.mark.slow
def test_gallery_smoke_runs_with_xdist(tmp_path: Path) -> None:
    root = tmp_path / "results"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "experiments/", "--exp-testing", "-n", "2",
         "--exp-root", str(root), "-p", "no:cacheprovider", "-q"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    testing = root / "_testing"
    for name in EXPERIMENTS:
        (session,) = (testing / name).iterdir()
        table = json.loads((session / "comparison.json").read_text())
        assert table["testing"] and table["rows"], name
        assert all(row["status"] == "completed" for row in table["rows"]), (name, table["rows"])
        page = (session / "report.html").read_text()
        assert "<h2>Comparison</h2>" in page, name
        assert all(f">{row['run']}</a>" in page for row in table["rows"]), name
    quickstart = next((testing / "quickstart").iterdir())
    assert json.loads((quickstart / "comparison.json").read_text())["recommendations"]
    assert list(quickstart.glob("*/analysis/*.png")), "the quickstart's analysis ran"
    mixture = json.loads(
        next((testing / "mixture_components").glob("*/comparison.json")).read_text()
    )
    assert len(mixture["rows"]) == 3, "a smoke run does one repeat per point"
    latent = json.loads(next((testing / "latent_spaces").glob("*/comparison.json")).read_text())
    assert latent["pivot"]["rows"] == ["none", "linear", "vq"], "categories keep the grid's order"
    assert not (root / "quickstart").exists(), "testing runs stay under _testing/"
    search = json.loads(next((testing / "search").glob("*/comparison.json")).read_text())
    assert sorted(row["trial"] for row in search["rows"]) == [0, 1], "testing: two trials"
