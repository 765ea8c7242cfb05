"""Per-run overhead of the exp fixture, and plugin start-up cost.

Targets (issue 2):
- (session of 200 exp runs - session of 200 bare tests) / 200 <= 3 ms median;
- a bare pytest session starts within 50 ms of one without the plugin.

A run creates about a dozen files, folders and renames, so on a throttled
virtual disk the figure measures the disk as much as the harness. It is
therefore measured twice: with the archive on tmpfs (the harness's own cost,
checked against the limit) and beside the project (what a user sees on this
disk), and the disk's file-create latency is printed beside it.

Each session runs in a fresh interpreter; figures are medians of REPEATS, after
one warm-up round, with the order of the sessions alternating. Bytecode caching
is allowed (PYTHONDONTWRITEBYTECODE unset), as on a user's machine.
"""

from __future__ import annotations

import os
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from _harness import median, report, timed_session

RUNS = 200
REPEATS = 7
DISK = Path(__file__).parent / "out"  # beside the project, where archives normally live
TMPFS = Path("/dev/shm")

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


def create_latency_us(folder: Path, n: int = 200) -> float:
    """Median time to create, write and close a small file in folder."""
    samples = []
    for i in range(n):
        start = time.perf_counter()
        with open(folder / f"probe{i}", "w") as handle:
            handle.write("x")
        samples.append(time.perf_counter() - start)
    for i in range(n):
        os.unlink(folder / f"probe{i}")
    return median(samples) * 1e6


def measure(where: Path) -> dict[str, list[float]]:
    """Time the four kinds of session with the archive under `where`."""
    with tempfile.TemporaryDirectory(dir=where) as tmp:
        folder = Path(tmp)
        (folder / "test_exp.py").write_text(EXP)
        (folder / "test_bare.py").write_text(BARE)
        (folder / "test_empty.py").write_text("def test_nothing():\n    pass\n")
        (folder / "pytest.ini").write_text("[pytest]\n")
        common = ["-q", "-p", "no:cacheprovider", "-p", "no:xdist"]
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        sessions = {
            "bare": [*common, "test_bare.py"],
            "exp": [*common, "test_exp.py"],
            "with": [*common, "test_empty.py"],
            "without": [*common, "-p", "no:expharness", "test_empty.py"],
        }
        times: dict[str, list[float]] = {name: [] for name in sessions}
        for round_ in range(REPEATS + 1):
            order = list(sessions) if round_ % 2 else list(reversed(sessions))
            for name in order:
                elapsed = timed_session(sessions[name], folder, env)
                if round_:  # round 0 warms caches and writes bytecode
                    times[name].append(elapsed)
        runs = list((folder / "results").rglob("summary.json"))
        assert len(runs) == RUNS * (REPEATS + 1), len(runs)
        times["latency"] = [create_latency_us(folder)]
    return times


def per_run_ms(times: dict[str, list[float]]) -> float:
    pairs = zip(times["exp"], times["bare"], strict=True)
    return median([(e - b) / RUNS * 1000 for e, b in pairs])


def main() -> int:
    DISK.mkdir(exist_ok=True)
    tmpfs = measure(TMPFS) if TMPFS.is_dir() else None
    disk = measure(DISK)
    startup = median([(w - o) * 1000 for w, o in zip(disk["with"], disk["without"], strict=True)])
    rows = []
    if tmpfs is not None:
        ms = per_run_ms(tmpfs)
        rows.append(("per-run overhead, archive on tmpfs, ms", f"{ms:.2f}", "3.0", ms <= 3))
    ms = per_run_ms(disk)
    latency = disk["latency"][0]
    print(
        f"sessions of {RUNS} runs on disk: exp {median(disk['exp']):.2f} s, "
        f"bare {median(disk['bare']):.2f} s; file create here: {latency:.0f} us"
    )
    rows.append(
        (
            f"per-run overhead, archive on disk, ms (create {latency:.0f} us)",
            f"{ms:.2f}",
            "3.0",
            None if tmpfs is not None else ms <= 3,
        )
    )
    rows.append(("start-up with plugin - without, ms", f"{startup:.1f}", "50", startup <= 50))
    return report(rows)


if __name__ == "__main__":
    sys.exit(main())
