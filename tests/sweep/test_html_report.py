"""report.html looked at in a real browser (headless Chromium), and the per-run GIFs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from pytest_expharness.cli import main as cli

from conftest import Archive

SWEEP = """
import math
import pytest

EPOCHS = 20

@pytest.mark.experiment(metric="loss", description="A toy sweep for the browser.")
@pytest.mark.parametrize("lr", [0.01, 0.1, 1.0])
@pytest.mark.parametrize("latent", ["none", "vq"])
def test_toy(exp, lr, latent):
    if latent == "vq" and lr == 1.0:
        raise RuntimeError("diverged")
    if latent == "none":
        exp.component("codebook").disable("latent is none", hint="--exp-set LATENT=vq")
    for step in range(exp.EPOCHS):
        exp.track("loss", math.exp(-lr * step) + (0.1 if latent == "vq" else 0.2))
        exp.track("accuracy", 1 - math.exp(-lr * step))
"""


def _rows(browser: Any) -> list[list[str]]:
    table = browser.find_element("css selector", "table.sortable")
    return [
        [cell.text for cell in row.find_elements("tag name", "td")]
        for row in table.find_elements("css selector", "tbody tr")
    ]


def _images_loaded(browser: Any) -> list[int]:
    return list(
        browser.execute_script(
            "return Array.from(document.images).map(i => i.complete ? i.naturalWidth : 0);"
        )
    )


@pytest.mark.parametrize("mode", [["-p", "no:xdist"], ["-n", "2"]], ids=["no-xdist", "xdist"])
def test_sweep_report_renders_sorts_and_shows_every_image(
    pytester: pytest.Pytester, archive: Archive, browser: Any, mode: list[str]
) -> None:
    pytester.makepyfile(test_toy=SWEEP)
    result = pytester.runpytest(*mode)
    result.assert_outcomes(passed=5, failed=1)
    result.stdout.fnmatch_lines(["*comparison.md (.csv, .json), report.html"])
    (page,) = archive.root.glob("toy/*/report.html")
    text = page.read_text()
    assert not re.search(r"""(src|href)=["']https?:""", text), "the page fetches nothing"
    for section in ("Comparison", "Pivot", "Failed, crashed and disabled", "Learning curves"):
        assert f"<h2>{section}</h2>" in text
    assert "diverged" in text and "latent is none" in text
    browser.get(page.as_uri())
    rows = _rows(browser)
    assert len(rows) == 6
    headers = [th.text for th in browser.find_elements("css selector", "table.sortable th")]
    assert rows[0][0] == "\u2605", "the best row comes first and is marked"
    assert len(browser.find_elements("css selector", "tr.best")) == 1
    column = headers.index("loss")
    browser.find_elements("css selector", "table.sortable th")[column].click()
    ascending = [r[column] for r in _rows(browser)]
    numbers = [float(v) for v in ascending if v]
    assert numbers == sorted(numbers) and ascending[-1] == "", "empty cells sort last"
    browser.find_elements("css selector", "table.sortable th")[column].click()
    descending = [float(r[column]) for r in _rows(browser) if r[column]]
    assert descending == sorted(numbers, reverse=True)
    run_column = headers.index("run")
    browser.find_elements("css selector", "table.sortable th")[run_column].click()
    names = [r[run_column] for r in _rows(browser)]
    assert names == sorted(names)
    widths = _images_loaded(browser)
    assert len(widths) == 2  # loss by lr and by latent
    assert all(w > 0 for w in widths), widths
    charts = browser.find_elements("css selector", "svg.chart.curves")
    assert len(charts) == 2 and all(c.size["width"] > 0 for c in charts)  # loss, accuracy (inline)


def test_cli_report_over_two_sessions(
    pytester: pytest.Pytester, archive: Archive, browser: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    pytester.makepyfile(test_toy=SWEEP)
    pytester.runpytest("-p", "no:xdist", "-k", "none").assert_outcomes(passed=3)
    pytester.runpytest("-p", "no:xdist", "-k", "none and 0.1").assert_outcomes(passed=1)
    runs = [str(p) for p in archive.runs()]
    target = pytester.path / "both.html"
    code = cli.main(["--root", str(archive.root), "report", *runs, "--to", str(target)])
    assert code == 0 and "4 runs" in capsys.readouterr().out
    browser.get(target.as_uri())
    rows = _rows(browser)
    assert len(rows) == 4
    sessions = {p.parent.name for p in archive.runs()}
    assert {r[1].split("/")[0] for r in rows} == sessions, "runs are named session/run id"
    assert all(w > 0 for w in _images_loaded(browser))
    link = browser.find_element("link text", "config.yaml").get_attribute("href")
    assert Path(link.removeprefix("file://")).is_file(), "links to run files resolve"


def test_cli_report_usage(
    pytester: pytest.Pytester, archive: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    pytester.makepyfile(test_toy=SWEEP)
    pytester.runpytest("-p", "no:xdist", "-k", "none").assert_outcomes(passed=3)
    root = str(archive.root)
    assert cli.main(["--root", root, "report"]) == 2
    assert cli.main(["--root", root, "report", "--session", "nope"]) == 2  # names the sessions
    session = archive.runs()[0].parent
    (session / "report.html").unlink()
    assert cli.main(["--root", root, "report", "--session", session.name]) == 0
    assert (session / "report.html").is_file()
    assert "wrote" in capsys.readouterr().out


def test_tracked_images_become_an_animated_gif(pytester: pytest.Pytester, archive: Archive) -> None:
    pytester.makepyfile(
        test_frames="""
        import numpy as np

        def test_frames(exp):
            for step in range(5):
                image = np.zeros((16, 24), dtype=np.uint8)
                image[:, step * 4 : step * 4 + 4] = 255
                exp.track("field", image, step=step)
            exp.track("still", np.ones((8, 8)), step=0)
        """
    )
    pytester.runpytest("-p", "no:xdist").assert_outcomes(passed=1)
    run = archive.run()
    from PIL import Image

    with Image.open(run / "plots" / "field.gif") as gif:
        assert gif.n_frames == 5 and gif.size == (24, 16)
    assert not (run / "plots" / "still.gif").exists(), "one frame is no animation"
    assert "![plots/field.gif](plots/field.gif)" in (run / "REPORT.md").read_text()
    assert "plots/field.gif" in archive.summary(run)["plots"]


def test_cli_report_of_a_resumed_session_keeps_its_reused_runs(
    pytester: pytest.Pytester, archive: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    pytester.makepyfile(test_toy=SWEEP)
    pytester.runpytest("-p", "no:xdist", "-k", "none and not 1.0").assert_outcomes(passed=2)
    pytester.runpytest("-p", "no:xdist", "-k", "none", "--exp-resume")
    (session,) = {p.parent for p in archive.runs() if "1.0" in p.name}  # the resumed one
    page = session / "report.html"
    page.unlink()
    assert cli.main(["--root", str(archive.root), "report", "--session", session.name]) == 0
    assert "(3 runs)" in capsys.readouterr().out
    text = page.read_text()
    assert text.count("status-reused") >= 2 and "lr=1.0" in text
