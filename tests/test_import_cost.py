"""Loading the plugin stays cheap: no numpy, matplotlib or yaml until a run needs them."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("numpy", "matplotlib", "yaml", "tabulate", "pandas")


def test_plugin_import_loads_no_heavy_module() -> None:
    code = (
        "import sys\n"
        "import pytest_expharness.plugin\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_importtime_shows_no_heavy_module() -> None:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import pytest_expharness.plugin"],
        capture_output=True,
        text=True,
        check=True,
    )
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()}
    assert not imported & set(HEAVY)


@pytest.mark.parametrize("mode", [["-p", "no:xdist"], ["-n", "2"]], ids=["no-xdist", "xdist-2"])
def test_session_without_experiments_loads_no_heavy_module(
    pytester: pytest.Pytester, mode: list[str]
) -> None:
    pytester.makepyfile(
        test_plain=f"""
        import sys
        def test_a():
            assert not [m for m in {HEAVY!r} if m in sys.modules]
        """
    )
    # hydra-core (test extra, for tests/importers/) brings a pytest plugin that loads yaml
    # itself; what is measured here is what our plugin loads
    pytester.runpytest_subprocess(*mode, "-p", "no:hydra_pytest").assert_outcomes(passed=1)
