"""report.html with many runs: every curve names its run, the legend lists them all, a click
highlights a run everywhere, the sweep analysis is shown, None reads None (issue 13).

The browser tests drive headless Chromium (see test_html_report.py: they skip without it
and fail under CI=true); the others read the page's text.
"""

from __future__ import annotations

import base64
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pytest
import yaml

from pytest_expharness.cli import main as cli

from conftest import Archive, rendered

# 9 grid points (one with a None parameter) x 3 repeats = 27 runs, and a sweep analysis
REPEATED = """
import math
import pytest
from pytest_expharness import sweep_analysis

EPOCHS = 12

@pytest.mark.experiment(metric="loss", description="Nine points, three repeats each.")
@pytest.mark.parametrize("lr", [0.05, 0.2, 0.5])
@pytest.mark.parametrize("width", [8, 16, None])
def test_grid(exp, width, lr):
    for step in range(exp.EPOCHS):
        noise = 0.01 * ((exp.seed * 7 + step) % 5)
        exp.track("loss", math.exp(-lr * step) + 1.0 / (width or 4) + noise)
        exp.track("accuracy", 1 - math.exp(-lr * step))
    if lr == 0.05 and width == 8:
        exp.label("keep", "slow but steady")

@sweep_analysis
def overview(sweep):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3, 2))
    fig.add_subplot().plot([r.params["lr"] for r in sweep.completed], "o")
    sweep.commit_fig("lr_overview.png", fig)
    sweep.commit_json("recommendation.json", {"best_run": sweep.best.run_id})
"""

# 50 points, no repeats: a flat legend that must scroll
WIDE = """
import math
import pytest

@pytest.mark.experiment(metric="loss")
@pytest.mark.parametrize("lr", [round(0.01 * (i + 1), 2) for i in range(50)])
def test_wide(exp, lr):
    for step in range(8):
        exp.track("loss", math.exp(-lr * step))
"""


class Page(HTMLParser):
    """What the tests read of report.html: curves with their titles, legend entries, y labels."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.curves: list[dict[str, Any]] = []  # {"series", "run", "title"}
        self.legend: list[str] = []
        self.ylabels: list[str] = []
        self.rows: list[str] = []
        self._series: str | None = None
        self._in: str | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        css = (found.get("class") or "").split()
        if tag == "figure" and "chart" in css:
            self._series = found.get("data-series")
        elif tag == "g" and "curve" in css:
            self.curves.append({"series": self._series, "run": found.get("data-run")})
        elif tag == "title" and self.curves and "title" not in self.curves[-1]:
            self._in = "title"
        elif tag == "text" and "ylabel" in css:
            self._in = "ylabel"
            self.ylabels.append("")
        elif tag == "li" and "legend-run" in css:
            self.legend.append(str(found.get("data-run")))
        elif tag == "tr" and found.get("data-run") is not None:
            self.rows.append(str(found["data-run"]))

    def handle_data(self, data: str) -> None:
        if self._in == "title":
            self.curves[-1]["title"] = data
        elif self._in == "ylabel":
            self.ylabels[-1] += data

    def handle_endtag(self, tag: str) -> None:
        if tag in ("title", "text"):
            self._in = None


def _page(archive: Archive) -> Path:
    (page,) = archive.root.glob("*/*/report.html")
    return page


def _run_grid(pytester: pytest.Pytester, repeats: int = 3) -> None:
    pytester.makepyfile(test_grid=REPEATED)
    result = pytester.runpytest("-p", "no:xdist", "--exp-repeats", str(repeats))
    result.assert_outcomes(passed=9 * repeats)


# -- the page's text ------------------------------------------------------------------------


def test_every_curve_is_keyed_and_titled_by_its_run(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    _run_grid(pytester, repeats=2)
    text = _page(archive).read_text()
    page = Page(text)
    runs = {p.name for p in archive.runs()}
    assert len(runs) == 18 and set(page.rows) == runs, "every table row names its run"
    for series in ("loss", "accuracy"):
        curves = [c for c in page.curves if c["series"] == series]
        assert {c["run"] for c in curves} == runs, f"one curve per run in {series}"
        for curve in curves:
            assert curve["title"].split("\n")[0].removesuffix(" (best)") == curve["run"]
            assert f"{series}: final " in curve["title"]
    assert sorted(page.legend) == sorted(runs), "the legend lists every run, above 12 too"
    assert page.ylabels == ["loss", "accuracy"], "the y axis names the series"
    assert text.count('class="legend-group"') == 9, "grouped by grid point (repeats)"
    assert text.count('<g class="band"') == 2 * 9, "a mean +- std band per point and series"
    assert not re.search(r"""(src|href)=["']https?:""", text), "the page fetches nothing"


def test_no_chart_has_an_empty_y_label(pytester: pytest.Pytester, archive: Archive) -> None:
    _run_grid(pytester, repeats=1)
    text = _page(archive).read_text()
    images = [
        base64.b64decode(data).decode()
        for data in re.findall(r'src="data:image/svg\+xml;base64,([^"]+)"', text)
    ]
    assert images, "the metric-by-parameter charts are SVG images"
    for svg in [text, *images]:
        assert not re.search(r'class="ylabel"[^>]*></text>', svg)
    assert all('class="ylabel"' in svg and "loss (min)</text>" in svg for svg in images)
    assert Page(text).ylabels == ["loss", "accuracy"]


def _sections(text: str) -> dict[str, str]:
    """The run sections of a rendered page (see conftest.rendered), by the run each names."""
    found = {}
    for section in text.split('<section class="run"')[1:]:
        run = re.search(r"<h3>([^<]+) <span", section)
        assert run is not None
        found[run.group(1)] = section.split("</section>")[0]
    return found


def test_a_none_parameter_reads_none(
    pytester: pytest.Pytester, archive: Archive, browser: Any
) -> None:
    _run_grid(pytester, repeats=2)
    text = _page(archive).read_text()
    row = re.search(r'<tr[^>]*data-run="width=None,lr=0.2,rep=0"[^>]*>(.*?)</tr>', text)
    assert row is not None
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1))
    assert cells[3:6] == ["None", "0.2", "0"], "best, run, status, then width, lr, repeat"
    sections = _sections(rendered(browser, _page(archive)))
    assert "<td>width</td><td>None</td>" in sections["width=None,lr=0.2,rep=0"]
    assert "<td>width</td><td>8</td>" in sections["width=8,lr=0.2,rep=0"]
    pivot = text.split("<h2>Pivot</h2>")[1].split("</table>")[0]
    assert "<tr><td>None</td>" in pivot, "the pivot's row of width None"
    repeats = text.split("<h2>Over repeats</h2>")[1].split("</table>")[0]
    assert repeats.count("<td>None</td>") == 3, "the repeats table: width None at 3 rates"


def test_a_missing_value_stays_an_empty_cell(pytester: pytest.Pytester, archive: Archive) -> None:
    pytester.makepyfile(
        test_gaps="""
        import pytest

        @pytest.mark.experiment(metric="loss")
        @pytest.mark.parametrize("lr", [0.1, 1.0])
        def test_gaps(exp, lr):
            if lr == 1.0:
                raise RuntimeError("diverged")
            exp.track("loss", lr)
        """
    )
    pytester.runpytest("-p", "no:xdist").assert_outcomes(passed=1, failed=1)
    text = _page(archive).read_text()
    row = re.search(r'<tr[^>]*data-run="lr=1.0"[^>]*>(.*?)</tr>', text)
    assert row is not None and "<td></td>" in row.group(1) and "None" not in row.group(1)


def test_sweep_analysis_files_are_shown_and_linked(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    _run_grid(pytester, repeats=1)
    page = _page(archive)
    text = page.read_text()
    stored = json.loads((page.parent / "comparison.json").read_text())["analysis"]
    assert stored["files"] == ["lr_overview.png", "recommendation.json"]
    section = text.split("<h2>Sweep analysis</h2>")[1].split("<h2>")[0]
    assert "test_grid.overview" in section and "completed" in section
    assert 'href="analysis/lr_overview.png"' in section
    assert 'href="analysis/recommendation.json"' in section
    assert '<img alt="lr_overview.png" src="data:image/png;base64,' in section, "embedded"
    assert "&quot;best_run&quot;" in section, "a small JSON file is shown"
    for link in re.findall(r'href="(analysis/[^"]+)"', section):
        assert (page.parent / unquote(link)).is_file()


def test_a_failed_sweep_analysis_says_why(pytester: pytest.Pytester, archive: Archive) -> None:
    pytester.makepyfile(
        test_broken="""
        import pytest
        from pytest_expharness import sweep_analysis

        @pytest.mark.experiment(metric="loss")
        @pytest.mark.parametrize("lr", [0.1, 0.2])
        def test_broken(exp, lr):
            exp.track("loss", lr)

        @sweep_analysis
        def broken(sweep):
            sweep.commit_json("partial.json", {"done": False})
            raise ValueError("no <best> run")
        """
    )
    pytester.runpytest("-p", "no:xdist").assert_outcomes(passed=2)
    text = _page(archive).read_text()
    section = text.split("<h2>Sweep analysis</h2>")[1].split("<h2>")[0]
    assert "<b class='status-failed'>failed</b>" in section
    assert "ValueError: no &lt;best&gt; run" in section, "the error, escaped"
    assert 'href="analysis/partial.json"' in section, "what it wrote before failing"


def test_cli_report_of_the_session_shows_its_sweep_analysis(
    pytester: pytest.Pytester, archive: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    _run_grid(pytester, repeats=1)
    page = _page(archive)
    page.unlink()
    code = cli.main(["--root", str(archive.root), "report", "--session", page.parent.name])
    assert code == 0, capsys.readouterr()
    assert "<h2>Sweep analysis</h2>" in page.read_text()
    elsewhere = pytester.path / "elsewhere" / "two.html"
    runs = [str(p) for p in archive.runs()[:2]]
    assert cli.main(["--root", str(archive.root), "report", *runs, "--to", str(elsewhere)]) == 0
    text = elsewhere.read_text()
    link = re.search(r'href="([^"]*lr_overview.png)"', text)
    assert link is not None and (elsewhere.parent / unquote(link.group(1))).resolve().is_file()


def test_labels_notes_and_git_are_shown(
    pytester: pytest.Pytester, archive: Archive, capsys: pytest.CaptureFixture[str], browser: Any
) -> None:
    _run_grid(pytester, repeats=1)
    kept = next(p for p in archive.runs() if p.name == "width=8,lr=0.05")
    other = next(p for p in archive.runs() if p.name == "width=16,lr=0.5")
    labelled = ["--root", str(archive.root), "label", str(other), "baseline", "--note", "ref"]
    assert cli.main(labelled) == 0
    for run in archive.runs():  # as provenance records a repository without commits
        config = yaml.safe_load((run / "config.yaml").read_text())
        config["experiment"].update(git_commit=None, git_note="no commits yet")
        (run / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    session = kept.parent.name
    assert cli.main(["--root", str(archive.root), "report", "--session", session]) == 0
    text = _page(archive).read_text()
    assert "<dt>git commit</dt><dd>no commits yet</dd>" in text
    sections = _sections(rendered(browser, _page(archive)))
    mine = sections["width=8,lr=0.05"]
    assert '<b class="label">keep</b>' in mine and "slow but steady" in mine
    theirs = sections["width=16,lr=0.5"]
    assert '<b class="label">baseline</b>' in theirs
    assert re.search(r'<ul class="notes"><li>(<time>[^<]+</time> )?<b>baseline</b>: ref', theirs)
    capsys.readouterr()


# -- in the browser -------------------------------------------------------------------------


def _classes(elements: list[Any]) -> list[set[str]]:
    return [set((e.get_attribute("class") or "").split()) for e in elements]


def _curves(browser: Any, run: str) -> list[Any]:
    return [
        g
        for g in browser.find_elements("css selector", "svg.chart g.curve")
        if g.get_attribute("data-run") == run
    ]


def test_27_runs_in_the_browser(
    pytester: pytest.Pytester,
    archive: Archive,
    browser: Any,
) -> None:
    _run_grid(pytester, repeats=3)
    page = _page(archive)
    browser.get(page.as_uri())
    runs = sorted(p.name for p in archive.runs())
    assert len(runs) == 27
    # every curve has a title naming its run
    curves = browser.find_elements("css selector", "svg.chart g.curve")
    assert len(curves) == 2 * 27
    titles = browser.execute_script(
        "return Array.from(document.querySelectorAll('svg.chart g.curve'))"
        ".map(g => [g.dataset.run, g.querySelector(':scope > title').textContent]);"
    )
    assert all(title.split("\n")[0].removesuffix(" (best)") == run for run, title in titles)
    # the y axis names the series
    labels = browser.execute_script(
        "return Array.from(document.querySelectorAll('figure.chart'))"
        ".map(f => [f.dataset.series, f.querySelector('text.ylabel').textContent]);"
    )
    assert labels == [["loss", "loss"], ["accuracy", "accuracy"]]
    # the legend: every run, grouped by grid point
    legend = browser.find_elements("css selector", ".legend li.legend-run")
    assert sorted(li.get_attribute("data-run") for li in legend) == runs
    assert len(browser.find_elements("css selector", ".legend li.legend-group")) == 9
    # clicking a row highlights that run's curves (and nothing else)
    rows = browser.find_elements("css selector", "table.sortable tbody tr")
    row = rows[5]
    run = row.get_attribute("data-run")
    row.find_elements("tag name", "td")[2].click()
    highlighted = browser.find_elements("css selector", "svg.chart g.curve.hl")
    assert {g.get_attribute("data-run") for g in highlighted} == {run}
    assert len(highlighted) == 2, "in both charts"
    assert "hl" in _classes([row])[0]
    entry = next(li for li in legend if li.get_attribute("data-run") == run)
    assert "hl" in _classes([entry])[0], "its legend entry too"
    faded = browser.execute_script(
        "return getComputedStyle(document.querySelector('svg.chart g.curve:not(.hl)')).opacity"
    )
    assert float(faded) < 0.5, "the other curves fade"
    row.find_elements("tag name", "td")[2].click()
    assert not browser.find_elements("css selector", "svg.chart g.curve.hl"), "a second click"
    # a grid point's legend entry highlights its three repeats
    group = browser.find_elements("css selector", ".legend li.legend-group")[0]
    members = json.loads(group.get_attribute("data-runs"))
    group.click()
    highlighted = browser.find_elements("css selector", "svg.chart g.curve.hl")
    assert {g.get_attribute("data-run") for g in highlighted} == set(members)
    assert len(members) == 3
    # hovering a legend entry marks that run's curves
    browser.find_element("css selector", ".legend-clear").click()
    from selenium.webdriver.common.action_chains import ActionChains

    last = legend[-1]
    browser.execute_script("arguments[0].scrollIntoView({block: 'nearest'});", last)
    ActionChains(browser).move_to_element(last).perform()
    hovered = {
        g.get_attribute("data-run") for g in browser.find_elements("css selector", "g.curve.hover")
    }
    assert hovered == {last.get_attribute("data-run")}
    # repeats as mean +- std: the bands replace the grouped curves
    browser.find_element("css selector", ".show-bands").click()
    bands = browser.find_elements("css selector", "svg.chart g.band")
    assert len(bands) == 2 * 9 and all(b.is_displayed() for b in bands)
    assert not any(g.is_displayed() for g in _curves(browser, runs[0]))
    browser.find_element("css selector", ".show-bands").click()
    assert all(g.is_displayed() for g in _curves(browser, runs[0]))
    # the filter narrows the legend
    browser.find_element("css selector", ".legend-filter").send_keys("width=None")
    shown = [li for li in legend if li.is_displayed()]
    assert len(shown) == 9 and all("width=None" in li.text for li in shown)
    # None reads None, in the table and the run's parameters
    cells = [td.text for td in browser.find_elements("css selector", "table.sortable td")]
    assert "None" in cells
    # the sweep analysis: its image loads, its links resolve
    widths = browser.execute_script(
        "return Array.from(document.images).map(i => i.complete ? i.naturalWidth : 0);"
    )
    assert widths and all(w > 0 for w in widths), widths
    section = browser.find_element(
        "xpath", "//h2[text()='Sweep analysis']/following-sibling::div[1]"
    )
    assert section.find_element("tag name", "img").get_attribute("alt") == "lr_overview.png"
    for name in ("lr_overview.png", "recommendation.json"):
        href = browser.find_element("link text", name).get_attribute("href")
        assert Path(unquote(urlparse(href).path)).is_file(), href


def test_50_runs_legend_scrolls_and_reaches_every_run(
    pytester: pytest.Pytester,
    archive: Archive,
    browser: Any,
) -> None:
    pytester.makepyfile(test_wide=WIDE)
    pytester.runpytest("-p", "no:xdist").assert_outcomes(passed=50)
    page = _page(archive)
    browser.get(page.as_uri())
    legend = browser.find_element("css selector", ".legend-list")
    entries = legend.find_elements("css selector", "li.legend-run")
    assert len(entries) == 50 and not browser.find_elements("css selector", "li.legend-group")
    sizes = browser.execute_script(
        "var l = arguments[0];"
        "return [l.scrollHeight, l.clientHeight, getComputedStyle(l).overflowY];",
        legend,
    )
    assert sizes[0] > sizes[1] and sizes[2] == "auto", "a list that scrolls, not a page that grows"
    colours = {
        e.find_element("css selector", ".swatch").value_of_css_property("background-color")
        for e in entries
    }
    assert len(colours) >= 45, "runs told apart by colour too"
    last = entries[-1]
    browser.execute_script("arguments[0].scrollIntoView({block: 'nearest'});", last)
    assert last.is_displayed()
    last.click()
    run = last.get_attribute("data-run")
    assert [
        g.get_attribute("data-run") for g in browser.find_elements("css selector", "g.curve.hl")
    ] == [run]
    row = next(
        r for r in browser.find_elements("css selector", "table.sortable tbody tr")
        if r.get_attribute("data-run") == run
    )  # fmt: skip
    assert "hl" in _classes([row])[0], "its table row too"
    # clicking a curve selects its run as well (and scrolls the legend to it)
    browser.find_element("css selector", ".legend-clear").click()
    first = browser.find_elements("css selector", "svg.chart g.curve")[0]
    browser.execute_script(
        "arguments[0].dispatchEvent(new MouseEvent('click', {bubbles: true}));", first
    )
    picked = first.get_attribute("data-run")
    assert [
        li.get_attribute("data-run") for li in legend.find_elements("css selector", "li.hl")
    ] == [picked]


ODD = """
import pytest

@pytest.mark.parametrize("lr", [0.1, 0.2, 0.3])
def test_odd(exp, lr):
    exp.track("loss", lr)
    exp.commit_json("a & <b> #1.json", {"lr": lr})
"""


def test_the_page_builds_each_run_section_and_its_links_resolve(
    pytester: pytest.Pytester, archive: Archive, browser: Any
) -> None:
    pytester.makepyfile(test_odd=ODD)
    pytester.runpytest("-p", "no:xdist").assert_outcomes(passed=3)
    page = _page(archive)
    browser.get(page.as_uri())
    sections = browser.find_elements("css selector", "section.run")
    assert sorted(s.find_element("tag name", "h3").text for s in sections) == [
        "lr=0.1 completed", "lr=0.2 completed", "lr=0.3 completed"
    ]  # fmt: skip
    row_link = browser.find_element("css selector", "table.sortable a[href^='#run-']")
    target = row_link.get_attribute("href").split("#")[1]
    assert browser.find_element("id", target).tag_name == "section", "a row links to its run"
    links = browser.find_elements("link text", "artifacts/a & <b> #1.json")
    assert len(links) == 3
    for link in links:
        path = Path(unquote(urlparse(link.get_attribute("href")).path))
        assert path.is_file() and json.loads(path.read_text())["lr"] in (0.1, 0.2, 0.3)
    browser.get(page.as_uri() + "#" + target)  # opened at a run: the page scrolls to it
    assert browser.execute_script("return window.scrollY") > 0
