"""The table at the end of a session: components, log counts, long values, None, pivots, analyses.

What a user sees when the session ends: the terminal table (every cell one
short line, fitted to a terminal's width), the failed components named below
it, and comparison.md/.csv/.json holding every cell whole.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import select
import subprocess
import sys
import time
import unicodedata
from pathlib import Path
from typing import Any

# pytester restores sys.modules after every in-process session and numpy cannot be
# imported twice in one process: importing it (and matplotlib) here keeps it loaded.
import matplotlib.backends.backend_agg
import matplotlib.figure  # noqa: F401
import numpy  # noqa: F401
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_expharness.sweep import table as sweeptable
from pytest_expharness.sweep import tablefiles as sweepfiles
from pytest_expharness.sweep import tabletext as sweeptext

from conftest import XDIST_MODES

# -- reading what a session left ----------------------------------------------------


def sweep_folder(pytester: pytest.Pytester, experiment: str) -> Path:
    """The one sweep folder of an experiment: results/[_testing/]<experiment>/<session>."""
    found = [p for p in (pytester.path / "results").glob(f"**/{experiment}/*") if p.is_dir()]
    found = [p for p in found if (p / "comparison.json").is_file()]
    assert len(found) == 1, found
    return found[0]


def table_json(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "comparison.json").read_text())


def csv_rows(folder: Path) -> list[dict[str, str]]:
    with open(folder / "comparison.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def markdown_cells(line: str) -> list[str]:
    """The cells of one markdown table line, split as GitHub does: at pipes no backslash escapes."""
    cells, cell, i = [], "", 0
    while i < len(line):
        if line[i] == "\\" and i + 1 < len(line):
            cell, i = cell + line[i : i + 2], i + 2
            continue
        if line[i] == "|":
            cells.append(cell.strip())
            cell = ""
        else:
            cell += line[i]
        i += 1
    assert line.startswith("|") and line.endswith("|") and cell == "", line
    return cells[1:]


def markdown_rows(folder: Path) -> list[list[str]]:
    """The cells of comparison.md's first table (header first)."""
    lines = (folder / "comparison.md").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| "))
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        if not line.startswith("|--"):
            rows.append(markdown_cells(line))
    return rows


def terminal_table(output: str, experiment: str) -> list[str]:
    """The lines the session printed for one sweep: its title down to its '->' line."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{experiment}: "))
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("-> "))
    return lines[start : end + 1]


def run_lines(table: list[str]) -> dict[str, str]:
    """The terminal row of each run, by the run id it starts with (after the best mark)."""
    rows = {}
    for line in table[3:]:
        if not line.strip() or line.startswith(("->", "(")):
            break
        words = line.lstrip("* ").split()
        rows[words[0]] = line
    return rows


# -- 8. components: a column, a title count and the failed ones named -----------------

COMPONENTS = """
    import pytest

    @pytest.mark.experiment(metric="loss")
    @pytest.mark.parametrize("k", [1, 2, 3])
    def test_probe(exp, k):
        exp.track("loss", float(k))
        with exp.component("encoder"):
            pass
        with exp.component("prior"):
            pass
        with exp.component("decoder_probe"):
            if k == 2:
                raise ValueError("probe diverged:\\nshapes (3,) vs (4,)")
        exp.component("tau").disable("USE_TAU=false", hint="set USE_TAU=True")
        if k == 3:
            exp.component("calibration").fail("no labels", hint="load the labels")

    @pytest.mark.parametrize("k", [1, 2])
    def test_plain(exp, k):
        exp.track("loss", float(k))
"""


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_a_failed_component_is_counted_in_the_table_and_named_at_the_end(
    pytester: pytest.Pytester, mode: list[str]
) -> None:
    pytester.makepyfile(test_probe=COMPONENTS)
    result = pytester.runpytest(*mode)
    result.assert_outcomes(passed=5)
    folder = sweep_folder(pytester, "probe")
    table = table_json(folder)
    columns = table["columns"]
    assert columns[columns.index("loss") + 1] == "components" and columns[-1] == "reason"
    cells = {row["run"]: row["components"] for row in table["rows"]}
    assert cells == {
        "k=1": "3 ok, 1 disabled",
        "k=2": "2 ok, 1 failed, 1 disabled",
        "k=3": "3 ok, 1 failed, 1 disabled",
    }
    assert table["failed_components"] == [
        {
            "run": "k=2",
            "component": "decoder_probe",
            "reason": "ValueError: probe diverged:\nshapes (3,) vs (4,)",
            "hint": None,
        },
        {
            "run": "k=3",
            "component": "calibration",
            "reason": "no labels",
            "hint": "load the labels",
        },
    ]
    assert {row["run"]: row["components"] for row in csv_rows(folder)} == cells

    out = result.stdout.str()
    shown = terminal_table(out, "probe")
    assert shown[0] == "probe: 3 runs (3 completed), 2 failed components, main metric loss (min)"
    assert "components" in shown[1]
    assert "2 ok, 1 failed, 1 disabled" in run_lines(shown)["k=2"]
    result.stdout.fnmatch_lines(
        [
            "-> *probe*comparison.md (.csv, .json), report.html",
            "*",
            "probe/k=2: component decoder_probe failed: ValueError: probe diverged:\u2026",
            "probe/k=3: component calibration failed: no labels",
        ]
    )
    markdown = (folder / "comparison.md").read_text()
    assert "2 failed components" in markdown.splitlines()[2]
    assert (
        "- `k=2`: component `decoder_probe` failed: "
        "ValueError: probe diverged:<br>shapes (3,) vs (4,)\n"
    ) in markdown
    assert "- `k=3`: component `calibration` failed: no labels (hint: load the labels)" in markdown

    plain = table_json(sweep_folder(pytester, "plain"))
    assert "components" not in plain["columns"] and plain["failed_components"] == []
    assert terminal_table(out, "plain")[0] == "plain: 2 runs (2 completed)"


def test_the_failed_components_named_at_the_end_are_bounded(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_many="""
        import pytest

        @pytest.mark.parametrize("k", range(12))
        def test_many(exp, k):
            exp.component("probe").fail(f"probe {k} broke")
        """
    )
    result = pytester.runpytest("-p", "no:xdist")
    result.assert_outcomes(passed=12)
    out = result.stdout.str()
    named = [line for line in out.splitlines() if ": component probe failed: " in line]
    assert len(named) == sweeptext.FAILED_SHOWN == 10
    assert named[0] == "many/k=0: component probe failed: probe 0 broke"
    result.stdout.fnmatch_lines(
        [
            "many/k=9: *",
            "... and 2 more failed components (each sweep's comparison.md lists them all)",
        ]
    )
    markdown = (sweep_folder(pytester, "many") / "comparison.md").read_text()
    assert all(
        f"- `k={k}`: component `probe` failed: probe {k} broke" in markdown for k in range(12)
    )


# -- the log column --------------------------------------------------------------------


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_log_counts_get_a_column_only_when_a_run_logged_a_warning_or_an_error(
    pytester: pytest.Pytester, mode: list[str]
) -> None:
    pytester.makepyfile(
        test_logs="""
        import pytest

        @pytest.mark.parametrize("k", [0, 1, 2])
        def test_noisy(exp, k):
            for _ in range(k):
                exp.log("the loss went up", level="warning")
            if k == 1:
                exp.log("the checkpoint is gone", level="error")

        @pytest.mark.parametrize("k", [0, 1])
        def test_quiet(exp, k):
            exp.log("all fine")
        """
    )
    result = pytester.runpytest(*mode)
    result.assert_outcomes(passed=5)
    noisy = table_json(sweep_folder(pytester, "noisy"))
    assert noisy["columns"][-2:] == ["log", "reason"]
    assert {r["run"]: r["log"] for r in noisy["rows"]} == {
        "k=0": None,
        "k=1": "1 warning, 1 error",
        "k=2": "2 warnings",
    }
    assert "1 warning, 1 error" in run_lines(terminal_table(result.stdout.str(), "noisy"))["k=1"]
    quiet = table_json(sweep_folder(pytester, "quiet"))
    assert "log" not in quiet["columns"]


def test_component_and_log_cells_from_records() -> None:
    """The rule behind both columns, on records as the controller gets them."""
    assert sweeptable.components_text(None) is None
    assert sweeptable.components_text({}) is None
    assert (
        sweeptable.components_text(
            {
                "a": {"status": "disabled"},
                "b": {"status": "success"},
                "c": {"status": "pending", "reason": "never run"},
                "d": {"status": "failed"},
                "e": {"status": "success"},
            }
        )
        == "2 ok, 1 failed, 1 disabled, 1 pending"
    )
    assert sweeptable.components_text({"a": "success", "b": "failed"}) == "1 ok, 1 failed"
    assert sweeptable.log_text(None) is None
    assert sweeptable.log_text({"warnings": 0, "errors": 0}) is None
    assert sweeptable.log_text({"warnings": 1, "errors": 0}) == "1 warning"
    assert sweeptable.log_text({"warnings": 3, "errors": 2}) == "3 warnings, 2 errors"
    records = [_record("k=1", {"k": 1}), _record("k=2", {"k": 2})]
    records[0]["components"] = {"probe": {"status": "failed", "reason": "boom", "hint": None}}
    records[1]["log"] = {"warnings": 0, "errors": 0}
    table = sweeptable.build(records)
    assert "components" in table.columns and "log" not in table.columns, "no run counted any"
    assert table.failed_components == [
        {"run": "k=1", "component": "probe", "reason": "boom", "hint": None}
    ]


def test_an_axis_or_series_named_like_the_new_columns_is_kept_apart() -> None:
    record = _record("components=1", {"components": 1})
    record["metrics"] = {"log": 0.5}
    record["components"] = {"probe": {"status": "success"}}
    record["log"] = {"warnings": 1, "errors": 0}
    table = sweeptable.build([record])
    assert {"components (axis)", "log (series)", "components", "log"} <= set(table.columns)
    (row,) = table.rows
    assert (row["components (axis)"], row["components"]) == (1, "1 ok")
    assert (row["log (series)"], row["log"]) == (0.5, "1 warning")


# -- 9. long values and multi-line messages ---------------------------------------------

LONG = """
    import pytest

    LONG = "abc " * 75

    @pytest.mark.experiment(metric="loss")
    @pytest.mark.parametrize("prompt", ["short", LONG])
    @pytest.mark.parametrize("k", [1, 2])
    def test_long(exp, k, prompt):
        exp.track("loss", float(k))
        exp["results/note"] = "first line\\nsecond line"
        if k == 2:
            accuracy = 0.5
            assert accuracy > 0.6, f"accuracy {accuracy} is no better than chance"
"""


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_long_values_and_multiline_messages_are_one_short_line_in_the_terminal(
    pytester: pytest.Pytester, mode: list[str]
) -> None:
    pytester.makepyfile(test_long=LONG)
    result = pytester.runpytest(*mode)
    result.assert_outcomes(passed=2, failed=2)
    shown = terminal_table(result.stdout.str(), "long")
    rows = run_lines(shown)
    assert len(rows) == 4, shown
    assert shown[3 + 4] == "", "one line per row, then the pivot"
    long_prompt = "abc " * 75
    for line in shown:
        assert long_prompt.strip() not in line
    cut = "abc abc abc abc abc abc abc abc abc abc\u2026"  # 39 characters and the ellipsis
    assert len(cut) == sweeptext.CELL_WIDTH
    failed = [line for line in rows.values() if " failed " in line]
    assert len(failed) == 2 and all(
        line.endswith("is no better than chance\u2026") for line in failed
    )
    assert sum(cut in line for line in rows.values()) == 2
    assert all("first line\u2026" in line for line in rows.values())
    assert "second line" not in "\n".join(shown) and "assert 0.5 > 0.6" not in "\n".join(shown)
    assert max(len(line) for line in shown[1:-1]) < 300, "the table is not as wide as the value"

    folder = sweep_folder(pytester, "long")
    table = table_json(folder)
    by_run = {row["run"]: row for row in table["rows"]}
    wanted = {row["prompt"] for row in table["rows"]}
    assert wanted == {"short", long_prompt}, "comparison.json keeps the value whole"
    reasons = {row["reason"] for row in table["rows"]} - {None}
    (reason,) = reasons
    assert reason.startswith("AssertionError: accuracy 0.5 is no better than chance\nassert ")
    assert {r["prompt"] for r in csv_rows(folder)} == wanted
    assert {r["results/note"] for r in csv_rows(folder)} == {"first line\nsecond line"}
    md = markdown_rows(folder)
    header, body = md[0], md[1:]
    assert len(body) == len(by_run), "one markdown line per run"
    assert {len(cells) for cells in md} == {len(header)}
    note = header.index("results/note")
    assert {cells[note] for cells in body} == {"first line<br>second line"}
    assert long_prompt.strip() in {cells[header.index("prompt")] for cells in body}
    reason_md = {cells[header.index("reason")] for cells in body} - {""}
    assert reason_md == {reason.replace("\n", "<br>")}


PTY_TIMEOUT = 300  # seconds: a session on a pseudo-terminal that takes longer is stopped


def _pty_session(folder: Path, columns: int, *args: str) -> str:
    """Run pytest in `folder` on a pseudo-terminal `columns` wide, as a user would; its output."""
    pty = pytest.importorskip("pty")
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "BUILD_NUMBER")}
    env.update(COLUMNS=str(columns), PY_COLORS="0")
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", *args],
        cwd=folder,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        close_fds=True,
    )
    os.close(slave)
    out = b""
    deadline = time.monotonic() + PTY_TIMEOUT
    while time.monotonic() < deadline:
        if not select.select([master], [], [], 1.0)[0]:
            continue
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the other end closed: the session is over
            break
        if not chunk:
            break
        out += chunk
    else:
        process.kill()
    os.close(master)
    assert process.wait(timeout=60) in (0, 1), out.decode(errors="replace")
    return out.decode("utf-8", errors="replace").replace("\r\n", "\n")


WIDE = """
    import pytest

    @pytest.mark.experiment(metric="loss/test")
    @pytest.mark.parametrize("learning_rate", [0.003, 0.03, 0.3])
    def test_wide(exp, learning_rate):
        exp.track_many({"loss/train": 0.25, "loss/test": learning_rate, "accuracy": 0.8625})
        exp["results/test_loss"] = learning_rate
        exp["results/accuracy"] = 0.8625
        exp["results/weights_norm"] = 1.92594
        exp["results/calibration_gap"] = 0.05
        with exp.component("calibration"):
            if learning_rate == 0.3:
                raise ValueError("no labels")
"""


@pytest.mark.skipif(sys.platform == "win32", reason="a pseudo-terminal needs a POSIX system")
@pytest.mark.parametrize("mode", XDIST_MODES)
def test_on_a_terminal_the_table_fits_its_width(pytester: pytest.Pytester, mode: list[str]) -> None:
    pytester.makepyfile(test_wide=WIDE)
    out = _pty_session(pytester.path, 100, *mode)
    shown = terminal_table(out, "wide")
    assert max(len(line) for line in shown) <= 100, "\n".join(shown)
    header = shown[1].split()
    assert header[:4] == ["best", "run", "status", "learning_rate"]
    assert {"loss/test", "components"} <= set(header), "the main metric and components stay"
    note = next(line for line in shown if line.startswith("("))
    columns = table_json(sweep_folder(pytester, "wide"))["columns"]
    n = len(columns) - 1 - len(header)  # no run has a reason: that column is left out
    assert note.startswith(f"({n} more columns in comparison.md, or with -vv: ")
    named = note.split(": ", 1)[1].rstrip(")").split(", ")
    assert all(name in columns and name not in header for name in named[:-1]), note
    assert "1 ok" in run_lines(shown)["learning_rate=0.03"]
    assert "wide/learning_rate=0.3: component calibration failed: ValueError: no labels" in out

    every = terminal_table(_pty_session(pytester.path, 100, *mode, "-vv"), "wide")
    assert "results/calibration_gap" in every[1], "-vv shows every column"
    assert not any(line.startswith("(") for line in every)


def test_cells_narrow_to_fit_when_no_column_can_go() -> None:
    records = [_record(f"text={i}", {"text": f"{i}" + "x" * 60}) for i in range(3)]
    records[0]["reason"] = "AssertionError: " + "y" * 100
    table = sweeptable.build(records)
    text = sweeptext.render(table, "simple", width=90)
    assert max(map(len, text.splitlines())) <= 90, text
    assert text.splitlines()[-1].endswith("-vv: duration_s)"), "only what may go went"
    assert "AssertionError: yyy" in text and "x" * 40 not in text
    assert sweeptext.render(table, "simple") != text, "without a width, cells are 40 wide"


# -- 10. a pivot needs two values on each axis ---------------------------------------------

GRID = """
    import pytest

    @pytest.mark.experiment(metric="loss")
    @pytest.mark.parametrize("beta", [1, 10])
    @pytest.mark.parametrize("latent", ["vq", "ae"])
    def test_grid(exp, latent, beta):
        exp.track("loss", beta / 7)
"""


@pytest.mark.parametrize("mode", XDIST_MODES)
@pytest.mark.parametrize(
    ("selection", "pivot"),
    [("vq and 10", False), ("vq", False), ("10", False), ("grid", True)],
)
def test_a_pivot_needs_two_values_on_each_axis(
    pytester: pytest.Pytester, mode: list[str], selection: str, pivot: bool
) -> None:
    pytester.makepyfile(test_grid=GRID)
    result = pytester.runpytest(*mode, "-k", selection)
    assert result.ret == 0
    folder = sweep_folder(pytester, "grid")
    found = table_json(folder)["pivot"]
    said = "loss (min): latent down, beta across"
    assert (found is not None) is pivot
    assert (said in result.stdout.str()) is pivot
    assert (said in (folder / "comparison.md").read_text()) is pivot
    if pivot:
        assert (found["rows"], found["columns"]) == (["vq", "ae"], [1, 10])


# -- 15. None is a value; an axis a run lacks is empty ----------------------------------------

NONE = """
    import pytest

    @pytest.mark.experiment(metric="loss")
    @pytest.mark.parametrize("prior", [None, "gmm"])
    @pytest.mark.parametrize("k", [1, 2])
    def test_prior(exp, k, prior):
        exp.track("loss", k + (prior is None))
"""


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_a_none_parameter_reads_None(pytester: pytest.Pytester, mode: list[str]) -> None:
    pytester.makepyfile(test_none=NONE)
    result = pytester.runpytest(*mode)
    result.assert_outcomes(passed=4)
    folder = sweep_folder(pytester, "prior")
    table = table_json(folder)
    rows = {row["run"]: row for row in table["rows"]}
    assert rows["k=1,prior=None"]["prior"] is None and "prior" in rows["k=1,prior=None"]
    assert {r["run"]: r["prior"] for r in csv_rows(folder)}["k=1,prior=None"] == "None"
    md = markdown_rows(folder)
    prior = md[0].index("prior")
    assert sorted(cells[prior] for cells in md[1:]) == ["None", "None", "gmm", "gmm"]
    shown = run_lines(terminal_table(result.stdout.str(), "prior"))
    assert re.search(r"completed +1 +None ", shown["k=1,prior=None"]), shown
    assert table["pivot"]["columns"] == [None, "gmm"]
    result.stdout.fnmatch_lines(["*k \\ prior*None*gmm*"])
    pivot = (folder / "comparison.md").read_text().split("k down, prior across")[-1].split("\n")
    header = next(markdown_cells(line) for line in pivot if line.startswith("|"))
    assert header == ["k \\ prior", "None", "gmm"]


def _record(run_id: str, axes: dict[str, Any], **more: Any) -> dict[str, Any]:
    """A run record as the controller gets it (records.make_record), with what a table reads."""
    return {
        "experiment": "mixed",
        "run_id": run_id,
        "path": None,
        "sweep": "/nowhere/mixed/S",
        "status": "completed",
        "reason": None,
        "axes": axes,
        "metrics": {"loss": 1.0},
        "results": {},
        "metric": "loss",
        "mode": "min",
        **more,
    }


def test_none_and_absent_stay_apart_in_every_file() -> None:
    # runs of different grids in one table (`expharness report` of two sessions): one
    # run has the axis `prior` set to None, another has no axis `prior` at all
    records = [
        _record("k=1,prior=None", {"k": 1, "prior": None}),
        _record("k=1", {"k": 1}),
        _record("k=2,prior=gmm", {"k": 2, "prior": "gmm"}),
    ]
    table = sweeptable.build(records)
    rows = {row["run"]: row for row in table.rows}
    assert "prior" in rows["k=1,prior=None"] and "prior" not in rows["k=1"]
    assert table.cell(rows["k=1,prior=None"], "prior") == "None"
    assert table.cell(rows["k=1"], "prior") is None
    assert table.cell(rows["k=1"], "reason") is None, "an empty harness column stays empty"
    saved = json.loads(json.dumps(table.as_json()))
    assert {r["run"]: ("prior" in r, r.get("prior")) for r in saved["rows"]} == {
        "k=1,prior=None": (True, None),
        "k=1": (False, None),
        "k=2,prior=gmm": (True, "gmm"),
    }
    written = {
        r["run"]: r["prior"] for r in csv.DictReader(io.StringIO(sweepfiles.csv_text(table)))
    }
    assert written == {"k=1,prior=None": "None", "k=1": "", "k=2,prior=gmm": "gmm"}
    terminal = sweeptext.render(table, "simple").split("\n")
    at = terminal[0].index("prior")
    cells = {line.lstrip("* ").split()[0]: line[at : at + 5] for line in terminal[2:5]}
    assert cells == {"k=1,prior=None": "None ", "k=1": "     ", "k=2,prior=gmm": "gmm  "}
    md = [markdown_cells(line) for line in sweeptext.render(table).split("\n")[:5]]
    assert {cells[1]: cells[4] for cells in md[2:]} == written
    assert table.pivot is not None, "a run without the axis is not on the grid"
    assert (table.pivot["rows"], table.pivot["columns"]) == ([1, 2], [None, "gmm"])


# -- 14. the sweep analysis' files, linked from comparison.md ---------------------------------

ANALYSED = """
    import pytest
    from pytest_expharness import sweep_analysis

    @pytest.mark.experiment(metric="loss")
    @pytest.mark.parametrize("lr", [0.1, 0.3])
    def test_fit(exp, lr):
        exp.track("loss", lr)

    @sweep_analysis
    def compare(sweep):
        from matplotlib.figure import Figure

        fig = Figure(figsize=(2, 2))
        fig.add_subplot().plot([1, 2], [r.params["lr"] for r in sweep.completed])
        sweep.commit_fig("loss by lr.png", fig)
        sweep.commit_json("recommendation.json", {"lr": sweep.best.params["lr"]})
        sweep.commit_raw("plots/curve [raw].svg", "<svg xmlns='http://www.w3.org/2000/svg'/>")
        sweep.recommend("lr=0.1")
"""


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_comparison_md_links_the_sweep_analysis_files_and_shows_its_images(
    pytester: pytest.Pytester, mode: list[str]
) -> None:
    pytester.makepyfile(test_analysed=ANALYSED)
    result = pytester.runpytest(*mode)
    result.assert_outcomes(passed=2)
    folder = sweep_folder(pytester, "fit")
    files = table_json(folder)["analysis"]["files"]
    assert files == ["loss by lr.png", "plots/curve [raw].svg", "recommendation.json"]
    text = (folder / "comparison.md").read_text()
    section = text[text.index("## Sweep analysis") :]
    assert "`test_analysed.compare`: **completed**" in section
    links = re.findall(r"(!?)\[((?:[^\]\\]|\\.)*)\]\(([^)]*)\)", section)
    listed = [(alt, target) for bang, alt, target in links if not bang]
    shown = [(alt, target) for bang, alt, target in links if bang]
    assert [alt.replace("\\", "") for alt, _ in listed] == files
    assert [target for _, target in listed] == [
        "analysis/loss%20by%20lr.png",
        "analysis/plots/curve%20%5Braw%5D.svg",
        "analysis/recommendation.json",
    ]
    assert [target for _, target in shown] == [
        "analysis/loss%20by%20lr.png",
        "analysis/plots/curve%20%5Braw%5D.svg",
    ], "images inline, other files linked"
    from urllib.parse import unquote

    for _, target in listed:
        assert (folder / unquote(target)).is_file(), target


def test_a_failed_sweep_analysis_says_so_in_comparison_md(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_broken="""
        import pytest
        from pytest_expharness import sweep_analysis

        @pytest.mark.parametrize("k", [1, 2])
        def test_fit(exp, k):
            exp.track("loss", float(k))

        @sweep_analysis
        def compare(sweep):
            sweep.commit_json("partial.json", {"k": 1})
            raise RuntimeError("no curves")
        """
    )
    pytester.runpytest("-p", "no:xdist", "-W", "ignore::UserWarning").assert_outcomes(passed=2)
    text = (sweep_folder(pytester, "fit") / "comparison.md").read_text()
    assert "`test_broken.compare`: **failed**: RuntimeError: no curves" in text
    assert "- [partial.json](analysis/partial.json)" in text


# -- properties: whatever the text, the files read back and the terminal stays one line ------

texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=120)


@settings(max_examples=200, deadline=None)
@given(texts, st.integers(min_value=2, max_value=90))
def test_one_line_is_one_line_within_its_width(text: str, width: int) -> None:
    shown = sweeptext.one_line(text, width)
    assert len(shown.splitlines()) <= 1 and len(shown) <= width
    assert not any(unicodedata.category(c) == "Cc" for c in shown), "nothing moves the cursor"
    readable = sweeptext.CONTROL.sub("?", text.replace("\t", " "))
    first = next((line.rstrip() for line in readable.splitlines() if line.strip()), "")
    if len(first) <= width - 1 and shown:
        assert shown.startswith(first)


@settings(max_examples=150, deadline=None)
@given(st.lists(texts, min_size=1, max_size=4))
def test_every_cell_reads_back_from_csv_and_stays_in_its_markdown_cell(values: list[str]) -> None:
    records = [
        _record(f"k={i}", {"k": i}, results={"results/text": v}) for i, v in enumerate(values)
    ]
    table = sweeptable.build(records)
    read = list(csv.DictReader(io.StringIO(sweepfiles.csv_text(table), newline="")))
    assert [r["results/text"] for r in read] == values
    md = sweeptext.render(table, "github").split("\n")  # the line breaks GitHub sees
    assert len(md) == 2 + len(values), "one markdown line per run"
    rows = [markdown_cells(line) for line in md]
    assert len({len(cells) for cells in rows}) == 1, md
    at = rows[0].index("results/text")

    def letters(text: str) -> str:
        return re.sub(r"[\s\\]", "", text)

    for cells, value in zip(rows[2:], values, strict=True):
        assert letters(cells[at].replace("<br>", "\n")) == letters(value)
    terminal = sweeptext.render(table, "simple").splitlines()  # every break a terminal may see
    assert len(terminal) == 2 + len(values), "one terminal line per run"
