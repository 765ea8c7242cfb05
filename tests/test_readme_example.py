"""The README's example experiment runs as written, and its hints name parameters it declares."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import Archive

README = Path(__file__).resolve().parents[1] / "README.md"


def example() -> str:
    """The README's first Python block: the example experiment file."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks and blocks[0].startswith("# experiments/test_train.py")
    return blocks[0]


def test_every_exp_set_hint_names_a_declared_parameter() -> None:
    code = example()
    declared = set(re.findall(r"^([A-Z][A-Z0-9_]*)\s*:", code, flags=re.M))
    hinted = re.findall(r"--exp-set ([A-Z][A-Z0-9_]*)=", code)
    assert hinted, "the example shows an override hint"
    assert set(hinted) <= declared, f"hints {hinted} name parameters not in {sorted(declared)}"


def test_the_example_runs_and_its_hint_works(pytester: pytest.Pytester, archive: Archive) -> None:
    pytester.makepyfile(test_train=example())
    pytester.runpytest("-p", "no:xdist").assert_outcomes(passed=2)
    for run in archive.runs("train"):
        components = archive.summary(run)["components"]
        assert components["tau"]["status"] == "disabled"
        assert components["tau"]["hint"] == "--exp-set USE_TAU=true"
    first = set(archive.runs("train"))
    pytester.runpytest("-p", "no:xdist", "--exp-set", "USE_TAU=true").assert_outcomes(passed=2)
    newest = set(archive.runs("train")) - first  # stamps of one second differ only by a suffix
    assert len(newest) == 2
    assert all("tau" not in archive.summary(run)["components"] for run in newest)
