"""Helpers for reading what a pytester session left in the archive."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# Imported here, before any pytester session: pytester restores sys.modules after an
# in-process run, and numpy cannot be loaded twice in one process.
import matplotlib.figure  # noqa: F401
import numpy  # noqa: F401
import pytest
import yaml

import pytest_expharness


def _preload_package() -> None:
    """Import every module of the plugin once, before any pytester session.

    The plugin imports its modules lazily; pytester drops modules first imported
    inside an in-process session, and a module imported again is a new module
    (new exception classes) while the package still points at the old one.
    """
    import importlib
    import pkgutil

    for module in pkgutil.walk_packages(pytest_expharness.__path__, "pytest_expharness."):
        importlib.import_module(module.name)


_preload_package()

# pytester sessions run our plugin through its entry point; make runs in them quick to find
pytest_plugins: list[str] = []


class Archive:
    """The results folder a pytester session wrote, read the way a user would."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def runs(self, experiment: str | None = None) -> list[Path]:
        """Every run folder (config.yaml + summary.json), sorted by path."""
        found = sorted(
            p.parent for p in self.root.rglob("summary.json") if (p.parent / "config.yaml").exists()
        )
        if experiment is not None:
            found = [p for p in found if self.config(p)["experiment"]["name"] == experiment]
        return found

    def run(self, experiment: str | None = None) -> Path:
        """The single run folder (fails if there is not exactly one)."""
        found = self.runs(experiment)
        assert len(found) == 1, f"expected one run, found {[str(p) for p in found]}"
        return found[0]

    @staticmethod
    def summary(run: Path) -> dict[str, Any]:
        return json.loads((run / "summary.json").read_text())

    @staticmethod
    def config(run: Path) -> dict[str, Any]:
        return yaml.safe_load((run / "config.yaml").read_text())

    @staticmethod
    def data(run: Path) -> dict[str, Any]:
        return json.loads((run / "data.json").read_text())

    @staticmethod
    def metrics(run: Path) -> list[tuple[int, str, float, float]]:
        lines = (run / "metrics.csv").read_text().splitlines()
        assert lines[0] == "step,name,value,time"
        rows = []
        for line in lines[1:]:
            step, name, value, t = line.split(",")
            rows.append((int(step), name, float(value), float(t)))
        return rows

    @staticmethod
    def log(run: Path) -> str:
        return (run / "run.log").read_text()


@pytest.fixture
def archive(pytester: pytest.Pytester) -> Archive:
    """The archive root of the pytester session (its rootdir's results/)."""
    return Archive(pytester.path / "results")


XDIST_MODES = [
    pytest.param(["-p", "no:xdist"], id="no-xdist"),
    pytest.param(["-n", "2"], id="xdist-2"),
]


@pytest.fixture(autouse=True)
def _pytester_sessions_keep_their_order(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pytest-randomly (a test extra) would shuffle every pytester session and reseed it.

    The suite's sessions assert on order (grids, rows), so they run without it,
    in process and in subprocesses alike; a test marked `with_randomly` keeps it.
    """
    if "pytester" in request.fixturenames and not request.node.get_closest_marker("with_randomly"):
        request.getfixturevalue("pytester")  # it clears PYTEST_ADDOPTS when it starts
        monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:randomly")


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium per test module (skips where there is none; fails under CI)."""
    if CHROMIUM is None or DRIVER is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium and chromium-driver must be installed under CI (.ci/run does)")
        pytest.skip("headless Chromium not installed: apt-get install chromium chromium-driver")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"):
        options.add_argument(flag)
    options.add_argument("--window-size=1300,1000")
    driver = webdriver.Chrome(options=options, service=Service(DRIVER))
    try:
        yield driver
    finally:
        driver.quit()


def rendered(browser: Any, page: Path) -> str:
    """A page as the browser shows it, once its script ran (report.html builds its run sections)."""
    browser.get(page.resolve().as_uri())
    return str(browser.page_source)
