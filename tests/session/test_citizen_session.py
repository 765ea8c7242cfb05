"""Invisible without experiments, and at home in pytest's own features (issue 12: 4, 5, 10-12)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_expharness.catalog.indexrows import IndexWarning
from pytest_expharness.session.citizen import ExperimentWarning
from pytest_expharness.sweep import handoff
from pytest_expharness.sweep.analyses import AnalysisWarning

from conftest import XDIST_MODES, Archive

QUIET = ["-p", "no:randomly"]
needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")

SWEEP = """
import pytest

@pytest.mark.parametrize("lr", [0.1, 0.2])
def test_train(exp, lr):
    exp.track("loss/test", lr * 2)
    exp["results/accuracy"] = 0.5
"""

# the modules a session with experiments loads, and one without must not
RUN_MODULES = tuple(
    f"pytest_expharness.{name}"
    for name in (
        "session.state",
        "plan.spec",
        "plan.params",
        "session.provenance",
        "run.exp",
        "sweep.end",
        "catalog.records",
    )
)
HEAVY = ("numpy", "matplotlib", "yaml", "tabulate", "pandas")

SPY = """
import json, os, sys

def pytest_unconfigure(config):
    loaded = sorted(m for m in sys.modules if m.startswith("pytest_expharness."))
    loaded += sorted(m for m in {heavy!r} if m in sys.modules)
    with open(os.path.join({folder!r}, f"modules-{{os.getpid()}}.json"), "w") as out:
        json.dump(loaded, out)
"""


def _git_spy(folder: Path) -> Path:
    """Put a `git` first on PATH that logs each call, then runs the real git; return the log."""
    real = shutil.which("git")
    log = folder / "git-calls.log"
    shim = folder / "bin" / "git"
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\nexec "{real}" "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IEXEC)
    return log


def _commit_all(folder: Path) -> None:
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "project"]):
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
            cwd=folder,
            check=True,
            capture_output=True,
        )


# -- 4. a session without experiments: no git, no run machinery, with or without xdist ------


@needs_git
@pytest.mark.parametrize("mode", XDIST_MODES)
def test_session_without_experiments_calls_no_git_and_loads_no_run_module(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, mode: list[str]
) -> None:
    pytester.makepyfile(test_plain="def test_a():\n    pass\n\ndef test_b():\n    pass\n")
    _commit_all(pytester.path)
    spy = tmp_path / "spy"
    spy.mkdir()
    pytester.makeconftest(SPY.format(heavy=HEAVY, folder=str(spy)))
    log = _git_spy(tmp_path)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    # hydra-core's own pytest plugin (test extra, for import-hydra) imports yaml at load
    result = pytester.runpytest_subprocess(*mode, *QUIET, "-p", "no:hydra_pytest")
    result.assert_outcomes(passed=2)
    assert not log.exists(), f"git was called: {log.read_text()}"
    reports = [json.loads(p.read_text()) for p in spy.glob("modules-*.json")]
    assert len(reports) == (3 if "-n" in mode else 1)  # the controller and its two workers
    for loaded in reports:
        unwanted = [m for m in loaded if m in RUN_MODULES or m in HEAVY]
        assert unwanted == []
    assert not (pytester.path / "results").exists()


@needs_git
def test_workers_record_the_provenance_they_gather_themselves(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(test_sweep=SWEEP)
    (pytester.path / ".gitignore").write_text("results/\n__pycache__/\n")
    _commit_all(pytester.path)
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=pytester.path, capture_output=True, text=True
    ).stdout.strip()
    pytester.runpytest("-n", "2", *QUIET, "--exp-tag", "night").assert_outcomes(passed=2)
    for run in archive.runs():
        header = Archive.config(run)["experiment"]
        assert header["git_commit"] == commit and header["git_dirty"] is False
        command = header["command"]
        assert command[:3] == ["pytest", "-n", "2"] and "--exp-tag" in command  # the controller's
    assert len(list(archive.root.glob("train/*/comparison.csv"))) == 1


# -- 5. pytest's modes that only show tests or fixtures write nothing ---------------------


@pytest.mark.parametrize(
    "show",
    [
        pytest.param(["--collect-only"], id="collect-only"),
        pytest.param(["--setup-only"], id="setup-only"),
        pytest.param(["--setup-plan"], id="setup-plan"),
        pytest.param(["--setup-only", "-n", "2"], id="setup-only-xdist-2"),
    ],
)
def test_showing_tests_or_fixtures_writes_nothing(
    pytester: pytest.Pytester, show: list[str]
) -> None:
    pytester.makepyfile(test_sweep=SWEEP)
    result = pytester.runpytest(*show, *QUIET)
    assert result.ret == pytest.ExitCode.OK
    assert not (pytester.path / "results").exists()


# -- 10. --junitxml: the record as JSON, and a property per final metric and result ------


def _properties(xml: Path) -> dict[str, dict[str, str]]:
    found = {}
    for case in ET.parse(xml).getroot().iter("testcase"):
        props = {p.get("name", ""): p.get("value", "") for p in case.iter("property")}
        found[case.get("name", "")] = props
    return found


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_junitxml_has_the_record_as_json_and_each_final_value(
    pytester: pytest.Pytester, archive: Archive, mode: list[str]
) -> None:
    pytester.makepyfile(test_sweep=SWEEP)
    result = pytester.runpytest(*mode, *QUIET, "--junitxml=junit.xml")
    result.assert_outcomes(passed=2)
    found = _properties(pytester.path / "junit.xml")
    for lr in (0.1, 0.2):
        props = found[f"test_train[{lr}]"]
        record = json.loads(props[handoff.RECORD_PROPERTY])
        assert record["status"] == "completed" and record["params"]["lr"] == lr
        assert record["reason"] is None
        assert float(props["metric:loss/test"]) == pytest.approx(lr * 2)
        assert float(props["result:accuracy"]) == 0.5
    assert len(archive.runs()) == 2  # the controller still reads the records it is sent
    (table,) = archive.root.glob("train/*/comparison.json")
    assert len(json.loads(table.read_text())["rows"]) == 2


class _Report:
    def __init__(self) -> None:
        self.user_properties: list[tuple[str, object]] = []


INT32 = st.integers(-(2**31), 2**31 - 1)  # what execnet carries (see records.py)


@given(
    metrics=st.dictionaries(
        st.text(min_size=1),
        st.one_of(st.none(), st.booleans(), INT32, st.floats(allow_nan=False), st.text()),
        max_size=4,
    )
)
def test_the_sent_record_reads_back_and_values_show_as_junitxml_text(
    metrics: dict[str, object],
) -> None:
    record = {"path": None, "node_id": "t.py::t", "metrics": metrics, "results": {}}
    report = _Report()
    handoff.send(report, record)  # type: ignore[arg-type]
    sent = dict(report.user_properties)
    assert json.loads(str(sent[handoff.RECORD_PROPERTY])) == record
    for name, value in metrics.items():
        shown = sent[f"metric:{name}"]
        assert isinstance(shown, str)
        assert shown == value if isinstance(value, str) else json.loads(shown) == value


# -- 11. our warnings are pytest warnings: pytest's filters treat them as such -------------


def test_our_warnings_are_pytest_warnings() -> None:
    for category in (IndexWarning, AnalysisWarning, ExperimentWarning):
        assert issubclass(category, pytest.PytestWarning)


# -- 12. an experiment marker on a test without `exp` warns, naming the test --------------

MARKED_PLAIN = """
import pytest

@pytest.mark.experiment(name="forgotten")
def test_forgot_exp():
    pass

def test_train(exp):
    exp.track("loss", 1.0)
"""


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_experiment_marker_without_exp_warns_naming_the_test(
    pytester: pytest.Pytester, archive: Archive, mode: list[str]
) -> None:
    pytester.makepyfile(test_marked=MARKED_PLAIN)
    result = pytester.runpytest(*mode, *QUIET)
    result.assert_outcomes(passed=2, warnings=1)
    out = result.stdout.str()
    assert "ExperimentWarning: test_marked.py::test_forgot_exp is marked" in out
    assert out.count("test_marked.py::test_forgot_exp is marked") == 1
    assert len(archive.runs()) == 1


def test_ignoring_pytest_warnings_hides_the_marker_warning(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_marked=MARKED_PLAIN)
    result = pytester.runpytest("-p", "no:xdist", *QUIET, "-W", "ignore::pytest.PytestWarning")
    result.assert_outcomes(passed=2)
    assert "ExperimentWarning" not in result.stdout.str()


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_experiment_marker_without_exp_under_w_error_stops_before_any_run(
    pytester: pytest.Pytester, mode: list[str]
) -> None:
    pytester.makepyfile(test_marked=MARKED_PLAIN)
    result = pytester.runpytest(*mode, *QUIET, "-W", "error::pytest.PytestWarning")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "test_marked.py::test_forgot_exp is marked" in result.stderr.str()
    assert not (pytester.path / "results").exists()
