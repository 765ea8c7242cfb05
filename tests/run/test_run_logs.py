"""Log levels in run.log, their counts (summary.json, record), exp.log_parameters, labels."""

from __future__ import annotations

import json
import logging
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import matplotlib.figure  # noqa: F401  (see tests/conftest.py)
import pytest

from pytest_expharness.catalog.records import record_from_folder
from pytest_expharness.run.log import level_of

from conftest import XDIST_MODES, Archive

NO_XDIST = ("-p", "no:xdist")
STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}"
ENTRY = re.compile(rf"^({STAMP}) ([A-Z]+) (.*)$", re.M)


def entries(log: str) -> list[tuple[str, str]]:
    return [(level, text) for _, level, text in ENTRY.findall(log)]


# levels


@pytest.mark.parametrize(
    ("given", "number"),
    [
        ("debug", logging.DEBUG),
        ("INFO", logging.INFO),
        ("Warning", logging.WARNING),
        ("warn", logging.WARNING),
        (" error ", logging.ERROR),
        ("critical", logging.CRITICAL),
        (logging.WARNING, logging.WARNING),
        (50, logging.CRITICAL),
    ],
)
def test_a_level_by_name_in_any_case_or_by_number(given: str | int, number: int) -> None:
    assert level_of(given) == number


@pytest.mark.parametrize("bad", ["loud", "", 25, 0, True, None, 30.0])
def test_a_bad_level_names_the_valid_ones(bad: object) -> None:
    with pytest.raises(ValueError) as raised:
        level_of(bad)  # type: ignore[arg-type]
    message = str(raised.value)
    assert message.startswith(f"exp.log: level {bad!r}: use one of debug, info, warning, error")
    assert "warn" in message and "logging.WARNING (30)" in message


LEVELS = """
    import logging
    import pytest

    def test_levels(exp):
        exp.log("plain")
        exp.log("careful", level="warning")
        exp.log("also careful", "WARN")
        exp.log("broken", level=logging.ERROR)
        exp.log("very broken", level="critical")
        exp.log("details", level="debug")
        with pytest.raises(ValueError, match="use one of debug, info, warning"):
            exp.log("?", level="loud")
"""


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_run_log_lines_carry_their_level(
    pytester: pytest.Pytester, archive: Archive, mode: list[str]
) -> None:
    pytester.makepyfile(test_levels=LEVELS)
    pytester.runpytest(*mode).assert_outcomes(passed=1)
    run = archive.run()
    found = entries(archive.log(run))
    assert found[:5] == [
        ("INFO", "plain"),
        ("WARNING", "careful"),
        ("WARNING", "also careful"),
        ("ERROR", "broken"),
        ("CRITICAL", "very broken"),
    ]
    assert found[5][0] == "INFO" and found[5][1].startswith("run completed in ")
    assert len(found) == 6, "no DEBUG line unless the session asks for DEBUG"
    assert archive.summary(run)["log"] == {"warnings": 2, "errors": 2}


def test_debug_lines_are_written_when_the_session_asks(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(test_levels=LEVELS)
    pytester.runpytest(*NO_XDIST, "--log-level=DEBUG").assert_outcomes(passed=1)
    assert ("DEBUG", "details") in entries(archive.log(archive.run()))


def test_python_logging_records_keep_their_level(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_levels="""
        def test_levels(exp):
            exp.log("epoch done")
            exp.log("loss is nan", level="warning")
            exp.log("gave up", level="error")
            assert False
        """
    )
    result = pytester.runpytest(*NO_XDIST)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*Captured log call*",
            "INFO *epoch done",
            "WARNING *loss is nan",
            "ERROR *gave up",
        ]
    )
    result.stdout.fnmatch_lines(["*test_levels.py:3*loss is nan"])  # the caller, not run/log.py


def test_live_output_with_s_shows_the_level_of_all_but_info(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_live="""
        def test_live(exp):
            exp.log("going")
            exp.log("odd value", level="warning")
            exp.log("hidden", level="debug")
        """
    )
    result = pytester.runpytest(*NO_XDIST, "-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*going", "WARNING odd value"])
    result.stdout.no_fnmatch_line("*hidden*")


# counts

COUNTED = """
    import warnings

    def test_counted(exp):
        exp.log("a warning of mine", level="warning")
        warnings.warn("a library warns", UserWarning)
        with exp.component("prior"):
            raise ValueError("bad prior")
        exp.component("tau").fail("not converged")   # a WARNING entry
        exp.log("an error of mine", level="error")
        raise RuntimeError("the run fails")
"""


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_warnings_and_errors_are_counted_in_summary_and_record(
    pytester: pytest.Pytester, archive: Archive, mode: list[str]
) -> None:
    pytester.makepyfile(test_counted=COUNTED)
    result = pytester.runpytest(*mode, "--junitxml=junit.xml")
    result.assert_outcomes(failed=1, warnings=1)
    run = archive.run()
    log = archive.log(run)
    # every WARNING entry, and ERROR or CRITICAL one, the run wrote: a grep finds as many
    warned = len(re.findall(rf"^{STAMP} WARNING ", log, re.M))
    failed = len(re.findall(rf"^{STAMP} (?:ERROR|CRITICAL) ", log, re.M))
    assert (warned, failed) == (3, 3)  # mine, the relayed one, tau; mine, prior, the traceback
    assert archive.summary(run)["log"] == {"warnings": 3, "errors": 3}
    assert record_from_folder(run)["log"] == {"warnings": 3, "errors": 3}
    # the record the controller got (from the worker, with xdist) carries it too
    (case,) = ET.parse(pytester.path / "junit.xml").getroot().iter("testcase")
    sent = [p.get("value") for p in case.iter("property") if p.get("name") == "expharness_run"]
    assert json.loads(sent[0])["log"] == {"warnings": 3, "errors": 3}


def test_a_quiet_run_counts_nothing_and_a_running_one_counts_so_far(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(
        test_quiet="""
        import json

        def test_quiet(exp):
            exp.log("careful", level="warning")
            exp.persist(0.0, heartbeat=True)   # what the flusher thread does every few seconds
            running = json.loads((exp.path / "summary.json").read_text())
            exp["results/running_log"] = running["log"]

        def test_silent(exp):
            exp.log("fine")
        """
    )
    pytester.runpytest(*NO_XDIST).assert_outcomes(passed=2)
    quiet = archive.run("quiet")
    assert archive.data(quiet)["results"]["running_log"] == {"warnings": 1, "errors": 0}
    assert archive.summary(archive.run("silent"))["log"] == {"warnings": 0, "errors": 0}


def test_an_error_after_the_run_adds_to_its_errors(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(
        test_after="""
        import pytest

        @pytest.fixture
        def broken_teardown():
            yield
            raise OSError("could not release the GPU")

        def test_after(broken_teardown, exp):   # exp is torn down first
            exp.log("done", level="warning")
        """
    )
    pytester.runpytest(*NO_XDIST).assert_outcomes(passed=1, errors=1)
    run = archive.run()
    summary = archive.summary(run)
    assert summary["status"] == "failed"
    assert summary["log"] == {"warnings": 1, "errors": 1}
    (after,) = [t for level, t in entries(archive.log(run)) if level == "ERROR"]
    assert after.startswith("after the run: ")
    assert "could not release the GPU" in archive.log(run)


def test_a_record_without_counts_reads_none() -> None:
    from pytest_expharness.catalog.records import make_record

    config = {"experiment": {"name": "x"}, "parameters": {}}
    assert make_record(config, {"status": "completed"}, Path("r"))["log"] is None
    odd = {"log": {"warnings": "3", "errors": -1}}
    assert make_record(config, odd, Path("r"))["log"] == {"warnings": 0, "errors": 0}


# log_parameters

PARAMETERS = """
    import pytest

    LEARNING_RATE = 1e-3
    NAME = "it's"
    LONG = "x" * 500
    EPOCHS = 30

    @pytest.mark.parametrize("width", [8])
    def test_params(exp, width):
        exp.log_parameters()
        exp.log_parameters(["EPOCHS", "width"])
        exp.log_parameters("NAME")
        with pytest.raises(ValueError) as raised:
            exp.log_parameters(["EPOCHS", "EPOCH"])
        exp["results/message"] = str(raised.value)
"""


def test_log_parameters_writes_one_line_each_as_declared(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(test_logged_params=PARAMETERS)
    pytester.runpytest(*NO_XDIST).assert_outcomes(passed=1)
    run = archive.run()
    texts = [text for level, text in entries(archive.log(run)) if level == "INFO"]
    declared = list(archive.config(run)["parameters"])
    first = texts[: 1 + len(declared)]
    assert first[0] == "parameters:"
    assert [line.split(" = ")[0].strip() for line in first[1:]] == declared
    shown = dict(line.strip().split(" = ", 1) for line in first[1:])
    assert shown["LEARNING_RATE"] == "0.001"
    assert shown["NAME"] == '"it\'s"'
    assert shown["width"] == "8"
    assert len(shown["LONG"]) == 200 and shown["LONG"].endswith("...")
    rest = texts[1 + len(declared) :]
    assert rest[:5] == [
        "parameters:",
        "  EPOCHS = 30",
        "  width = 8",
        "parameters:",
        '  NAME = "it\'s"',
    ]
    message = archive.data(run)["results"]["message"]
    assert message.startswith("exp.log_parameters: no parameter 'EPOCH' (did you mean EPOCHS?);")
    assert message.endswith("parameters: " + ", ".join(declared))


# labels


def test_label_notes_are_a_timed_list_in_config_yaml(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(
        test_labelled="""
        import pytest

        def test_labelled(exp):
            with pytest.raises(ValueError, match="use one of keep, baseline, exploratory, failed"):
                exp.label("great")
            exp.label("keep", note="promising")
            exp.label("baseline")
            exp.label("baseline", note="the reference now")
        """,
        test_plain="def test_plain(exp):\n    pass\n",
    )
    pytester.runpytest(*NO_XDIST).assert_outcomes(passed=2)
    run = archive.run("labelled")
    header = archive.config(run)["experiment"]
    assert header["label"] == "baseline"
    assert "label_note" not in header
    notes = header["notes"]
    assert [(n["label"], n["note"]) for n in notes] == [
        ("keep", "promising"),
        ("baseline", "the reference now"),
    ]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", n["at"]) for n in notes)
    assert record_from_folder(run)["label"] == "baseline"
    plain = archive.config(archive.run("plain"))["experiment"]
    assert (plain["label"], plain["notes"]) == ("exploratory", [])
    assert "label_note" not in plain


def test_a_label_from_the_command_line_during_the_run_is_kept(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(
        test_both="""
        from pytest_expharness.cli import main as cli

        def test_both(exp):
            exp.label("keep", note="mine")
            assert cli.main(["--root", "results", "tag", str(exp.path), "from-outside"]) == 0
            exp.label("keep", note="still mine")
        """
    )
    pytester.runpytest(*NO_XDIST).assert_outcomes(passed=1)
    header = archive.config(archive.run())["experiment"]
    assert "from-outside" in header["tags"]
    assert [n["note"] for n in header["notes"]] == ["mine", "still mine"]
