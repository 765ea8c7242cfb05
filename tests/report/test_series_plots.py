"""Per-run plots: SVG drawn without matplotlib, every curve shown, long series thinned."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from array import array
from pathlib import Path
from xml.etree import ElementTree

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_expharness.archive.metricsfile import Columns
from pytest_expharness.report import runreport, seriesplots

from conftest import XDIST_MODES, Archive

SVG_NS = "{http://www.w3.org/2000/svg}"

# Each process of the session (the controller, every worker) says whether it loaded matplotlib.
WHO_LOADED = """
import json, os, sys

def pytest_unconfigure(config):
    who = config.workerinput["workerid"] if hasattr(config, "workerinput") else "main"
    loaded = sorted(m for m in ("matplotlib", "PIL") if m in sys.modules)
    with open(os.path.join(str(config.rootpath), f"loaded-{who}.json"), "w") as out:
        json.dump(loaded, out)
"""

CURVES = """
import pytest

@pytest.mark.parametrize("seed", [1, 2])
def test_fit(exp, seed):
    for step in range(10):
        exp.track("loss", 1.0 / (step + seed))
        exp.track("val/accuracy", step / 10)
        exp.track("lr", 0.1 * 0.9**step)
    exp.track("final_score", 0.5)
"""

SERIES = ["loss", "val/accuracy", "lr"]  # as first tracked


def lines_of(svg: Path) -> list[list[tuple[float, float]]]:
    """The points of every line a plot draws (the SVG must parse as XML)."""
    root = ElementTree.parse(svg).getroot()
    assert root.tag == f"{SVG_NS}svg"
    found = []
    for line in root.iter(f"{SVG_NS}polyline"):
        pairs = (p.split(",") for p in line.attrib["points"].split())
        found.append([(float(x), float(y)) for x, y in pairs])
    return found


def title_of(root: ElementTree.Element) -> str:
    (title,) = (t for t in root.iter(f"{SVG_NS}text") if t.get("class") == "title")
    return "".join(title.itertext())


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_a_run_with_curves_draws_svg_plots_and_never_loads_matplotlib(
    pytester: pytest.Pytester, archive: Archive, mode: list[str]
) -> None:
    pytester.makeconftest(WHO_LOADED)
    pytester.makepyfile(test_fit=CURVES)
    pytester.runpytest_subprocess(*mode).assert_outcomes(passed=2)
    reports = sorted(p.name for p in pytester.path.glob("loaded-*.json"))
    workers = [name for name in reports if name != "loaded-main.json"]
    assert "loaded-main.json" in reports and (workers if "-n" in mode else not workers), reports
    for name in reports:  # the runs, their finishing and the end of the session alike
        assert json.loads((pytester.path / name).read_text()) == [], name
    for run in archive.runs("fit"):
        summary = archive.summary(run)
        assert summary["plots"] == [f"plots/{name}.svg" for name in SERIES]
        on_disk = sorted(p.relative_to(run).as_posix() for p in (run / "plots").rglob("*.*"))
        assert on_disk == sorted(summary["plots"]), "one SVG a series of 2+ points, nothing else"
        for name in SERIES:
            svg = run / "plots" / f"{name}.svg"
            (line,) = lines_of(svg)
            assert len(line) == 10, name
            assert title_of(ElementTree.parse(svg).getroot()) == name
        ys = [y for _, y in lines_of(run / "plots" / "loss.svg")[0]]
        assert ys == sorted(ys), "a falling loss is drawn falling (SVG y grows downwards)"
        report = (run / "REPORT.md").read_text()
        plots = report.split("## Plots\n\n", 1)[1].splitlines()
        assert plots == [f"![plots/{n}.svg](plots/{n}.svg)" for n in SERIES]
    (page,) = archive.root.glob("fit/*/report.html")
    html = page.read_text()
    (data,) = re.findall(r'<script type="application/json" id="run-data">(.*?)</script>', html)
    files = [entry[-1] for entry in json.loads(data)["runs"]]  # the page links them (runsdata.py)
    for name in SERIES:  # report.html draws every curve, and links the runs' plots
        assert f"data-series='{name}'" in html
        assert [f"plots/{name}.svg" in found for found in files] == [True, True], name


def test_a_dead_runs_plots_are_svg_made_without_matplotlib(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(
        test_fit="""
        import os, time

        def test_fit(exp):
            for step in range(30):
                exp.track("loss", 1.0 / (step + 1))
            time.sleep(1.2)  # the journal is flushed
            os._exit(9)
        """
    )
    pytester.runpytest_subprocess("-p", "no:xdist")
    run = archive.run("fit")
    assert archive.summary(run)["status"] == "running" and not (run / "plots").exists()
    reader = (
        "import sys; from pytest_expharness import read_run; "
        f"s = read_run({str(run)!r}); "
        "print(s['status'], s['plots'], 'matplotlib' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", reader], capture_output=True, text=True)
    assert done.stdout.split("\n")[0] == "crashed ['plots/loss.svg'] False", done.stderr
    (line,) = lines_of(run / "plots" / "loss.svg")
    assert len(line) == 30
    assert "![plots/loss.svg](plots/loss.svg)" in (run / "REPORT.md").read_text()


def test_a_long_series_is_thinned_and_keeps_its_spikes(tmp_path: Path) -> None:
    n = 100_000
    values = array("d", (math.sin(i / 1000) for i in range(n)))
    values[54_321] = 50.0  # one spike up, one down, a gap
    values[77_777] = -50.0
    values[10_010:10_060] = array("d", [math.nan] * 50)  # within one bucket: its min and max
    cols = Columns.of(values, array("q", range(n)), array("d", bytes(8 * n)))  # as series/ holds
    made, problem = runreport.make_plots(tmp_path, {"loss": cols})
    assert made == ["plots/loss.svg"] and problem is None
    (line,) = lines_of(tmp_path / "plots" / "loss.svg")
    assert len(line) == seriesplots.MAX_PLOT_POINTS
    ys = [y for _, y in line]
    assert (min(ys), max(ys)) == (42.9, 301.1), "both spikes drawn, at 50 and -50"
    xs, thinned = seriesplots.thin(cols.steps, cols.values)
    assert 50.0 in thinned and -50.0 in thinned and not any(map(math.isnan, thinned))
    assert list(xs) == sorted(xs) and xs[0] == 0 and xs[-1] < n


def test_short_series_are_not_thinned(tmp_path: Path) -> None:
    steps, values = [0, 5, 9], [1.0, math.nan, 3.0]
    assert seriesplots.thin(steps, values) == (steps, values)
    svg = seriesplots.svg_text("acc", steps, values)
    root = ElementTree.fromstring(svg)
    assert not list(root.iter(f"{SVG_NS}polyline")), "a NaN breaks the line: two dots"
    assert len([c for c in root.iter(f"{SVG_NS}circle")]) == 2


def test_a_series_of_one_point_gets_no_plot(tmp_path: Path) -> None:
    cols = Columns([1.0, None, 0.0])
    assert runreport.make_plots(tmp_path, {"once": cols}) == ([], None)
    assert not (tmp_path / "plots").exists()


def test_a_plot_that_cannot_be_written_is_a_problem_not_an_error(tmp_path: Path) -> None:
    (tmp_path / "plots").write_text("a file where the folder should be")
    made, problem = runreport.make_plots(tmp_path, {"loss": Columns([1.0, None, 0.0] * 2)})
    assert made == [] and problem is not None
    assert problem.startswith("plots could not be made: ")


@settings(max_examples=150, deadline=None)
@given(
    name=st.text(min_size=1, max_size=30),
    steps=st.lists(st.integers(-(2**63), 2**63 - 1), min_size=2, max_size=60),
    values=st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=60, max_size=60),
)
def test_every_series_plot_parses_and_draws_each_finite_point(
    name: str, steps: list[int], values: list[float]
) -> None:
    values = values[: len(steps)]
    root = ElementTree.fromstring(seriesplots.svg_text(name, steps, values))
    title = title_of(root)  # what XML cannot hold is U+FFFD, one character for one
    assert len(title) == len(name)
    assert all(a in (b, "\ufffd") for a, b in zip(title, name, strict=True))
    drawn = [
        (float(x), float(y))
        for line in root.iter(f"{SVG_NS}polyline")
        for x, y in (p.split(",") for p in line.attrib["points"].split())
    ]
    drawn += [(float(c.attrib["cx"]), float(c.attrib["cy"])) for c in root.iter(f"{SVG_NS}circle")]
    assert len(drawn) == sum(math.isfinite(v) for v in values)
    assert all(70 <= x <= 624 and 30 <= y <= 314 for x, y in drawn), "inside the axes"
