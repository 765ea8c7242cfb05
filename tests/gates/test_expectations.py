"""Expectations on final values fail the test, leave the run completed, and show in the table."""

from __future__ import annotations

import csv

import pytest

from conftest import XDIST_MODES, Archive

QUICK = """
import pytest

@pytest.mark.experiment(
    metric="loss",
    expect={"loss": "< 0.25", "accuracy": ">= 0.9"},
    testing_expect={"accuracy": ">= 0.3"},
)
@pytest.mark.parametrize("quality", [0.95, 0.40])
def test_quick(exp, quality):
    for step in range(3):
        exp.track("loss", round((1 - quality) / (step + 1), 6))
    exp["results/accuracy"] = quality
"""


def _rows(sweep) -> list[dict[str, str]]:
    with open(sweep / "comparison.csv", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_a_failed_expectation_fails_the_test_and_the_run_stays_completed(
    pytester: pytest.Pytester, archive: Archive, mode: list[str]
) -> None:
    pytester.makepyfile(test_quick=QUICK)
    result = pytester.runpytest(*mode, "-p", "no:randomly")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*expectation failed: accuracy = 0.4, expected >= 0.9*"])
    assert "Traceback" not in result.stdout.str()  # the message says all
    by_quality = {archive.config(r)["parameters"]["quality"]: r for r in archive.runs("quick")}
    bad, good = archive.summary(by_quality[0.4]), archive.summary(by_quality[0.95])
    assert bad["status"] == good["status"] == "completed"
    assert bad["expectations"] == [
        {"metric": "loss", "expected": "< 0.25", "value": 0.2, "ok": True, "source": "marker"},
        {"metric": "accuracy", "expected": ">= 0.9", "value": 0.4, "ok": False, "source": "marker"},
    ]
    assert all(one["ok"] for one in good["expectations"])
    rows = {r["quality"]: r for r in _rows(by_quality[0.4].parent)}
    assert rows["0.4"]["expect"] == "failed: accuracy" and rows["0.95"]["expect"] == "ok"
    assert rows["0.4"]["status"] == "completed"
    assert "expectation failed: accuracy" in rows["0.4"]["reason"]
    result.stdout.fnmatch_lines(["expectations: 1 of 2 runs met all"])
    page = (by_quality[0.4].parent / "report.html").read_text()
    assert "gate-failed" in page and "Expectations and baselines" in page


def test_testing_mode_checks_testing_expect_instead(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(test_quick=QUICK)
    result = pytester.runpytest("-p", "no:xdist", "--exp-testing")
    result.assert_outcomes(passed=2)  # 0.40 >= 0.3; loss < 0.25 is not asked in testing mode
    for run in archive.runs("quick"):
        assert [e["expected"] for e in archive.summary(run)["expectations"]] == [">= 0.3"]


def test_exp_expect_in_code_and_a_metric_never_tracked(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(
        test_code="""
        def test_code(exp):
            exp.track("loss", 0.5)
            exp.expect("loss", "<=", 0.5)
            exp.expect("f1", ">", 0.1)
        """
    )
    result = pytester.runpytest("-p", "no:xdist")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*expectation f1 > 0.1: f1 was never tracked*"])
    found = archive.summary(archive.run("code"))["expectations"]
    assert [(e["metric"], e["ok"], e["source"]) for e in found] == [
        ("loss", True, "code"),
        ("f1", False, "code"),
    ]


def test_exp_expect_refuses_an_unknown_operator(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_op="def test_op(exp):\n    exp.expect('loss', '=<', 1)\n")
    result = pytester.runpytest("-p", "no:xdist")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*exp.expect('loss'): operator '=<'; use one of <=, >=, ==, <, >*"]
    )


@pytest.mark.parametrize("mode", XDIST_MODES)
@pytest.mark.parametrize(
    ("marker", "said"),
    [
        ('expect={"loss": "about 3"}', "*'about 3' is no bound*"),
        ('testing_expect={"loss": "<"}', "*testing_expect={'loss': ...}*'<' is no bound*"),
        ('expect=["loss < 3"]', "*expect=...): give a dict of metric name to bound*"),
        ('tolerance={"loss": "-2%"}', "*'-2%' is no tolerance*"),
        ('tolerance={"loss": ("2%", "up")}', "*mode 'up'; use 'min' or 'max'*"),
    ],
)
def test_a_bad_marker_is_a_usage_error_before_any_run(
    pytester: pytest.Pytester, mode: list[str], marker: str, said: str
) -> None:
    pytester.makepyfile(
        test_bad=f"import pytest\n\n@pytest.mark.experiment({marker})\n"
        "def test_bad(exp):\n    exp.track('loss', 1.0)\n"
    )
    result = pytester.runpytest(*mode)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([said])
    assert not list((pytester.path / "results").rglob("summary.json"))


def test_junitxml_carries_each_expectation(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_quick=QUICK)
    pytester.runpytest("-p", "no:xdist", "-k", "0.4", "--junitxml=out.xml")
    text = (pytester.path / "out.xml").read_text()
    assert 'name="expectation:accuracy" value="failed: 0.4 &gt;= 0.9"' in text
    assert 'name="expectation:loss" value="ok: 0.2 &lt; 0.25"' in text
