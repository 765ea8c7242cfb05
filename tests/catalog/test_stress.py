"""Stress: four sessions write one archive while reindex, tag, label and gc loop against it.

Nothing may be lost: every completed run has its folder and its index row, every tag
and label that a command reported as done is in config.yaml and in the index, and
gc takes only what it was asked for (the failed runs).
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

POINTS = 100
FAILING = {i for i in range(POINTS) if i % 10 == 7}

EXPERIMENT = f"""
import pytest

@pytest.mark.experiment
@pytest.mark.parametrize("i", range({POINTS}))
def test_grid(exp, i):
    exp.track("loss", 1.0 / (i + 1))
    exp.track("loss", 0.5 / (i + 1))
    exp["results/i"] = i
    if i in {sorted(FAILING)!r}:
        raise AssertionError("planned failure")
"""

# One looping command-line user: runs an `expharness` subcommand until the stop file
# appears, and writes down every change the command said it made.
LOOP = """
import json, os, random, sys, time
from pathlib import Path
from pytest_expharness.cli.main import main

role, root, stop, out = sys.argv[1], sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4])
rng = random.Random(role)
done, n = [], 0

def completed_runs():
    found = []
    for summary in Path(root).glob("*/*/*/summary.json"):
        try:
            if json.loads(summary.read_text())["status"] == "completed":
                found.append(str(summary.parent))
        except (OSError, ValueError, KeyError):
            pass
    return found

while not stop.exists():
    n += 1
    if role == "reindex":
        main(["--root", root, "reindex"])
    elif role == "gc":
        main(["--root", root, "gc", "--status", "failed"])
    else:
        runs = completed_runs()
        if not runs:
            time.sleep(0.05)
            continue
        run = rng.choice(runs)
        if role == "tag":
            tag = f"t{n}"
            if main(["--root", root, "tag", run, tag]) == 0:
                done.append([run, tag])
        elif role == "label" and main(["--root", root, "label", run, "keep"]) == 0:
            done.append([run, "keep"])
out.write_text(json.dumps({"calls": n, "done": done}))
"""


def _python(*args: str, cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, *args], cwd=cwd, stdout=out, stderr=subprocess.STDOUT
        )


@pytest.mark.slow
def test_four_sessions_against_looping_commands_lose_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_stress_grid=EXPERIMENT)
    (pytester.path / "loop.py").write_text(LOOP)
    root = pytester.path / "results"
    stop = pytester.path / "stop"
    # A first session gives the loops runs to work on and an index to race against.
    seed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:xdist"],
        cwd=pytester.path,
        capture_output=True,
        text=True,
    )
    assert seed.returncode == 1, seed.stdout[-2000:]
    loops = {
        role: _python(
            "loop.py", role, str(root), str(stop), f"{role}.json", cwd=pytester.path,
            log=pytester.path / f"{role}.log",
        )
        for role in ("reindex", "tag", "label", "gc")
    }  # fmt: skip
    modes = [["-p", "no:xdist"], ["-n", "2"], ["-p", "no:xdist"], ["-n", "2"]]
    started = time.monotonic()
    sessions = [
        _python(
            "-m", "pytest", "-q", *mode, cwd=pytester.path, log=pytester.path / f"session{k}.log"
        )
        for k, mode in enumerate(modes)
    ]
    codes = [s.wait(timeout=600) for s in sessions]
    elapsed = time.monotonic() - started
    stop.touch()
    for loop in loops.values():
        assert loop.wait(timeout=120) == 0, (pytester.path / "reindex.log").read_text()[-3000:]
    for k, code in enumerate(codes):
        text = (pytester.path / f"session{k}.log").read_text()
        assert code == 1, text[-3000:]
        assert f"{len(FAILING)} failed, {POINTS - len(FAILING)} passed" in text, text[-3000:]
        assert "Traceback" not in text and "INTERNALERROR" not in text, text[-3000:]
    # gc once more, now that nothing runs: every failed run goes, nothing else does.
    cli = [sys.executable, "-m", "pytest_expharness", "--root", str(root)]
    last_gc = subprocess.run([*cli, "gc", "--status", "failed"], capture_output=True, text=True)
    assert last_gc.returncode in (0, 1), last_gc.stderr  # 1: the loop had taken them all
    # A reader brings the index up to date before answering, as a user's `list` would.
    listing = subprocess.run(
        [*cli, "list", "--limit", "0", "--json"], capture_output=True, text=True, check=True
    )
    listed = json.loads(listing.stdout)

    sessions_done = 1 + len(modes)
    folders = sorted(p.parent for p in root.glob("*/*/*/summary.json"))
    statuses = [json.loads((f / "summary.json").read_text())["status"] for f in folders]
    expected = sessions_done * (POINTS - len(FAILING))
    assert statuses.count("completed") == expected
    assert len(folders) == expected, f"left: {sorted(set(statuses))}"
    with sqlite3.connect(root / "index.sqlite") as conn:
        rows = dict(conn.execute("SELECT path, tags FROM runs").fetchall())
        labels = dict(conn.execute("SELECT path, label FROM runs").fetchall())
    assert len(rows) == expected == len(listed)
    assert {str(f.relative_to(root)) for f in folders} == set(rows)

    lost = []
    changes = {role: json.loads((pytester.path / f"{role}.json").read_text()) for role in loops}
    for run, tag in changes["tag"]["done"] + changes["label"]["done"]:
        header = yaml.safe_load((Path(run) / "config.yaml").read_text())["experiment"]
        rel = str(Path(run).relative_to(root))
        if tag == "keep":
            if header.get("label") != "keep" or labels.get(rel) != "keep":
                lost.append((rel, tag))
        elif tag not in (header.get("tags") or []) or tag not in json.loads(rows[rel] or "[]"):
            lost.append((rel, tag))
    assert not lost, f"{len(lost)} changes lost: {lost[:10]}"
    tables = sorted(root.glob("*/*/comparison.csv"))
    assert len(tables) == sessions_done
    for table in tables:
        assert len(table.read_text().splitlines()) == 1 + POINTS
    print(
        f"\nstress: {len(modes)} sessions x {POINTS} runs in {elapsed:.1f} s against "
        + ", ".join(f"{role} x{c['calls']}" for role, c in changes.items())
        + f"; {len(changes['tag']['done'])} tags, {len(changes['label']['done'])} labels; "
        f"{len(folders)} folders = {len(rows)} index rows = {expected} expected; 0 lost"
    )
