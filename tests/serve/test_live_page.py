"""The live page in headless Chromium: a running session's curves grow without a reload."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from serving import serve

SLOW = """
import math
import time
import pytest

@pytest.mark.experiment(metric="loss")
@pytest.mark.parametrize("lr", [0.1, 0.3])
def test_slow(exp, lr):
    for step in range(50):
        exp.track("loss", math.exp(-lr * step * 0.1))
        time.sleep(0.2)
"""


def _points(browser: Any) -> int:
    found = browser.execute_script(
        "return Array.from(document.querySelectorAll('#charts figure[data-points]'))"
        ".map(function (f) { return Number(f.dataset.points); });"
    )
    return int(sum(found))


def _wait(check: Any, seconds: float) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    return check()


def _journal(root: Path) -> Path | None:
    found = sorted(root.glob("slow/*/*/metrics.journal"))
    return found[0] if found else None


@pytest.mark.parametrize("mode", [["-p", "no:xdist"], ["-n", "2"]], ids=["no-xdist", "xdist-2"])
def test_live_page_shows_new_points_without_reload(
    pytester: pytest.Pytester, browser: Any, mode: list[str]
) -> None:
    pytester.makepyfile(test_slow=SLOW)
    root = pytester.path / "results"
    session = pytester.popen([sys.executable, "-m", "pytest", "-q", *mode], stdout=-1, stderr=-1)
    try:
        journal = _wait(lambda: _journal(root), 60)
        assert journal is not None, "no run started"
        stamp = journal.parent.parent.name
        for one in serve(root):
            browser.get(f"{one.url}/session/{stamp}/")
            browser.execute_script("window.notReloaded = true;")
            first = _wait(lambda: _points(browser), 10)
            assert first > 0
            start = time.monotonic()
            later = _wait(lambda had=first: _points(browser) > had and _points(browser), 5)
            assert later and later > first, f"no new points within 5 s (had {first})"
            assert time.monotonic() - start <= 5.5
            assert browser.execute_script("return window.notReloaded === true;")
            state = browser.find_element("id", "live-state").text
            assert state.startswith("Live")
            reply = one.get(f"/api/live/{stamp}")
            assert json.loads(reply[2])["over"] is False
            session.wait(120)
            over = _wait(
                lambda: browser.execute_script(
                    "return document.getElementById('live-state').dataset.over === 'true';"
                ),
                15,
            )
            assert over, browser.find_element("id", "live-state").text
            assert "session is over" in browser.find_element("id", "live-state").text
            assert browser.execute_script("return window.notReloaded === true;")
            assert _points(browser) >= 100  # both runs' 50 points each, at the end
    finally:
        if session.poll() is None:
            session.kill()
        session.wait(30)
