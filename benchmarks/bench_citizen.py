"""A good citizen: in a project without experiments the plugin changes nothing and costs ~nothing.

Targets (issue 12):
- another project's test suite (tabulate's, from its sdist, at the installed
  version) gives the same outcome for every test with and without the plugin,
  in about the same time (median ratio at most 1.05), and the plugin writes no
  file there;
- start-up: a project of 50 plain tests starts within 50 ms of a session
  without the plugin, serially and with `-n 2` (where the controller and both
  workers load it: 100 ms).

Sessions with and without the plugin (`-p no:expharness`) alternate, in an order
that flips every round, after one warm-up round that writes bytecode; figures
are medians of per-round pairs. Each session's wall time and CPU time (user +
system of pytest and the workers it reaped, from wait4) are both shown; limits
are checked on CPU time, which a machine shared with other jobs disturbs far
less than wall time (the load average is printed beside them).
pytest-randomly, when installed, is off in both (`-p no:randomly`) so that both
run the tests in one order. Tabulate's tests that need wcwidth get it from a
scratch folder on PYTHONPATH (the project's venv is left as it is); tests that
need what is missing skip, in both modes alike.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import os
import subprocess
import sys
import tarfile
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _harness import median, report

SUITE_ROUNDS = 5
STARTUP_ROUNDS = 9
MODES: dict[str, list[str]] = {"with": [], "without": ["-p", "no:expharness"]}
COMMON = ["-q", "-p", "no:randomly"]


def pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", *args], check=True, capture_output=True)


def fetch_tabulate(folder: Path) -> Path:
    """Download and unpack tabulate's sdist at the installed version; return its tree."""
    version = importlib.metadata.version("tabulate")
    pip("download", "--no-deps", "--no-binary", ":all:", f"tabulate=={version}", "-d", str(folder))
    (archive,) = folder.glob("tabulate-*.tar.gz")
    with tarfile.open(archive) as sdist:
        sdist.extractall(folder, filter="data")
    pip("install", "--quiet", "--target", str(folder / "deps"), "wcwidth")
    return folder / f"tabulate-{version}"


def outcomes(junit: Path) -> dict[str, str]:
    """Test id -> passed / failed / error / skipped, from a JUnit XML report."""
    found = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        found[f"{case.get('classname')}::{case.get('name')}"] = (kinds or ["passed"])[0]
    return found


@dataclasses.dataclass
class Timing:
    wall: float
    cpu: float
    code: int


def session(args: list[str], cwd: Path, env: dict[str, str]) -> Timing:
    """Wall and CPU seconds and exit code of one pytest session in a fresh interpreter."""
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    return Timing(wall, usage.ru_utime + usage.ru_stime, process.returncode)


def interleaved(rounds: int, run: Callable[[str, int], Timing]) -> dict[str, list[Timing]]:
    """run(mode, round) for every mode, order flipping every round; round 0 not kept."""
    kept: dict[str, list[Timing]] = {mode: [] for mode in MODES}
    for round_ in range(rounds + 1):
        for mode in list(MODES) if round_ % 2 else list(reversed(MODES)):
            timing = run(mode, round_)
            if round_:
                kept[mode].append(timing)
    return kept


def paired(times: dict[str, list[Timing]], field: str, how: str) -> float:
    """Median over rounds of with/without ("ratio") or with - without in ms ("ms")."""
    pairs = zip(times["with"], times["without"], strict=True)
    values = [(getattr(w, field), getattr(o, field)) for w, o in pairs]
    if how == "ratio":
        return median([w / o for w, o in values])
    return median([(w - o) * 1000 for w, o in values])


@dataclasses.dataclass
class Suite:
    """What the interleaved sessions of one suite gave, per mode."""

    times: dict[str, list[Timing]]
    seen: dict[str, set[str]]  # the distinct "exit code, counts" lines
    found: dict[str, dict[str, str]]  # the last session's outcome per test
    written: list[str]  # files the sessions added to the tree, pytest's own cache aside


def compare_suite(tree: Path, env: dict[str, str]) -> Suite:
    """Run the suite both ways, interleaved."""
    before = set(tree.rglob("*"))
    seen: dict[str, set[str]] = {mode: set() for mode in MODES}
    found: dict[str, dict[str, str]] = {}

    def run(mode: str, round_: int) -> Timing:
        junit = tree.parent / f"junit-{mode}-{round_}.xml"
        timing = session([*COMMON, *MODES[mode], "test", f"--junitxml={junit}"], tree, env)
        found[mode] = outcomes(junit)
        seen[mode].add(f"exit {timing.code}, " + counts(found[mode]))
        return timing

    times = interleaved(SUITE_ROUNDS, run)
    added = (p.relative_to(tree) for p in set(tree.rglob("*")) - before)
    own = {".pytest_cache", "__pycache__"}
    written = sorted(str(p) for p in added if not set(p.parts) & own)
    return Suite(times, seen, found, written)


def counts(found: dict[str, str]) -> str:
    kinds = ("passed", "failed", "error", "skipped")
    return ", ".join(f"{sum(v == k for v in found.values())} {k}" for k in kinds)


def startup(env: dict[str, str]) -> dict[str, dict[str, list[Timing]]]:
    """Sessions of 50 plain tests with and without the plugin, serial and with -n 2."""
    found = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        tests = "".join(f"def test_{i}():\n    assert {i} + 1 > {i}\n\n" for i in range(50))
        (folder / "test_plain.py").write_text(tests)
        (folder / "pytest.ini").write_text("[pytest]\n")
        for label, extra in (("serial", []), ("-n 2", ["-n", "2"])):

            def run(mode: str, _: int, extra: list[str] = extra) -> Timing:
                timing = session([*COMMON, *extra, *MODES[mode]], folder, env)
                assert timing.code == 0, f"pytest {extra} {MODES[mode]} exited {timing.code}"
                return timing

            found[label] = interleaved(STARTUP_ROUNDS, run)
        assert not (folder / "results").exists(), "the plugin wrote an archive"
    return found


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> int:
    drop = ("PYTHONDONTWRITEBYTECODE", "PYTEST_ADDOPTS")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    print(f"load average at the start: {load()} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        tree = fetch_tabulate(Path(tmp))
        suite = compare_suite(tree, {**env, "PYTHONPATH": str(Path(tmp) / "deps")})
    print(f"tabulate {tree.name.split('-')[-1]}'s suite, {SUITE_ROUNDS} sessions each way:")
    for mode in MODES:
        wall = median([t.wall for t in suite.times[mode]])
        cpu = median([t.cpu for t in suite.times[mode]])
        lines = " | ".join(sorted(suite.seen[mode]))
        print(f"  {mode:<7} the plugin: {lines}; median wall {wall:.2f} s, CPU {cpu:.2f} s")
    with_, without = suite.found["with"], suite.found["without"]
    same = with_ == without and suite.seen["with"] == suite.seen["without"]
    differ = sorted(k for k in with_.keys() | without.keys() if with_.get(k) != without.get(k))
    if differ:
        print("  tests whose outcome differs:", ", ".join(differ[:10]))
    print("  files the sessions added to tabulate's tree:", ", ".join(suite.written) or "none")
    cost = startup(env)
    print(f"a project of 50 plain tests, {STARTUP_ROUNDS} sessions each way:")
    for label, times in cost.items():
        parts = []
        for mode in MODES:
            wall = median([t.wall for t in times[mode]]) * 1000
            cpu = median([t.cpu for t in times[mode]]) * 1000
            parts.append(f"{mode} {wall:.0f} ms wall, {cpu:.0f} ms CPU")
        print(f"  {label}: " + "; ".join(parts))
    print(f"load average at the end: {load()}")
    added = len(suite.written)
    rows: list[tuple[str, Any, Any, bool | None]] = [
        ("tabulate: same outcome for every test", str(same), "True", same),
        ("tabulate: files added (pytest's cache aside)", added, "0", not added),
    ]
    wall, cpu = paired(suite.times, "wall", "ratio"), paired(suite.times, "cpu", "ratio")
    rows.append(("tabulate: median wall-time ratio with/without", f"{wall:.3f}", "-", None))
    rows.append(("tabulate: median CPU-time ratio with/without", f"{cpu:.3f}", "1.05", cpu <= 1.05))
    for label, limit in (("serial", 50), ("-n 2", 100)):
        wall, cpu = paired(cost[label], "wall", "ms"), paired(cost[label], "cpu", "ms")
        rows.append((f"start-up with - without, {label}, wall ms", f"{wall:.1f}", "-", None))
        rows.append(
            (f"start-up with - without, {label}, CPU ms", f"{cpu:.1f}", limit, cpu <= limit)
        )
    return report(rows)


if __name__ == "__main__":
    sys.exit(main())
