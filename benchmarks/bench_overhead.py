"""Per-run overhead of the exp fixture, and plugin start-up cost.

Targets (issue 2):
- (session of 200 exp runs - session of 200 bare tests) / 200 <= 3 ms median;
- a bare pytest session starts within 50 ms of one without the plugin.
Each session runs in a fresh interpreter; figures are medians of REPEATS.
"""

from __future__ import annotations

import os
import sys
import tempfile
import textwrap
from pathlib import Path

from _harness import median, report, timed_session

RUNS = 200
OUT = Path(__file__).parent / "out"  # beside the project, where archives normally live
REPEATS = 5

EXP = textwrap.dedent(
    f"""
    import pytest
    EPOCHS = 1
    @pytest.mark.parametrize("i", range({RUNS}))
    def test_run(exp, i):
        exp.track("loss", i * 0.5)
    """
)
BARE = textwrap.dedent(
    f"""
    import pytest
    @pytest.mark.parametrize("i", range({RUNS}))
    def test_run(i):
        loss = i * 0.5
    """
)


def main() -> int:
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=OUT) as tmp:
        folder = Path(tmp)
        (folder / "test_exp.py").write_text(EXP)
        (folder / "test_bare.py").write_text(BARE)
        (folder / "test_empty.py").write_text("def test_nothing():\n    pass\n")
        (folder / "pytest.ini").write_text("[pytest]\n")
        common = ["-q", "-p", "no:cacheprovider", "-p", "no:xdist"]
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        exp_times, bare_times, with_plugin, without_plugin = [], [], [], []
        for _ in range(REPEATS):
            bare_times.append(timed_session([*common, "test_bare.py"], folder, env))
            exp_times.append(timed_session([*common, "test_exp.py"], folder, env))
            with_plugin.append(timed_session([*common, "test_empty.py"], folder, env))
            without_plugin.append(
                timed_session([*common, "-p", "no:expharness", "test_empty.py"], folder, env)
            )
        runs = list((folder / "results").rglob("summary.json"))
        assert len(runs) == RUNS * REPEATS, len(runs)
    per_run = [(e - b) / RUNS * 1000 for e, b in zip(exp_times, bare_times, strict=True)]
    startup = [(w - o) * 1000 for w, o in zip(with_plugin, without_plugin, strict=True)]
    print(
        f"session of {RUNS} exp runs: {median(exp_times):.2f} s; bare: {median(bare_times):.2f} s"
    )
    return report(
        [
            (
                "per-run overhead, ms (median)",
                f"{median(per_run):.2f}",
                "3.0",
                median(per_run) <= 3,
            ),
            (
                "start-up with plugin - without, ms",
                f"{median(startup):.1f}",
                "50",
                median(startup) <= 50,
            ),
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
