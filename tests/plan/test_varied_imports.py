"""A module that star-imports a test class and sets its constants is refused, with what works."""

from __future__ import annotations

import pytest

from conftest import XDIST_MODES, Archive

BASE = """
LEARNING_RATE = 0.1

class TestBase:
    def test_train(self, exp):
        exp["results/lr"] = exp.LEARNING_RATE
"""


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_a_star_imported_class_with_new_constants_is_refused(
    pytester: pytest.Pytester, archive: Archive, mode: list[str]
) -> None:
    pytester.makepyfile(
        test_base=BASE, test_high_lr="from test_base import *\nLEARNING_RATE = 0.5\n"
    )
    result = pytester.runpytest(*mode)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    text = result.stderr.str()
    assert "test_high_lr imports TestBase from test_base and sets LEARNING_RATE" in text
    assert "class TestBaseVariant(TestBase): LEARNING_RATE = 0.5" in text
    assert archive.runs() == [], "nothing ran"


def test_the_subclass_way_runs_with_the_new_value(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(
        test_base=BASE,
        test_high_lr="from test_base import TestBase\n\n"
        "class TestHighLR(TestBase):\n    LEARNING_RATE = 0.5\n",
    )
    pytester.runpytest("-p", "no:xdist").assert_outcomes(passed=2)
    values = {
        archive.config(r)["experiment"]["name"]: archive.data(r)["results"]["lr"]
        for r in archive.runs()
    }
    assert values == {"Base.train": 0.1, "HighLR.train": 0.5}


def test_a_module_importing_a_class_with_its_own_unrelated_constants_runs(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(
        test_base=BASE,
        test_other="from test_base import TestBase\n\nWIDTH = 3\n\n"
        "def test_width(exp):\n    exp['results/w'] = exp.WIDTH\n",
    )
    pytester.runpytest("-p", "no:xdist").assert_outcomes(passed=2)
