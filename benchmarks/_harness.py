"""Shared helpers of the benchmarks: a run made without pytest, medians, tables."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pytest_expharness.archive import layout as archive
from pytest_expharness.plan.spec import RunSpec
from pytest_expharness.run.exp import Exp
from pytest_expharness.session.state import SessionState, Settings


def standalone_run(root: Path, sys_interval: float = 10.0) -> Exp:
    """Start a real run (folder, journal, flusher thread) outside any pytest session."""
    state = SessionState(
        settings=Settings(root=root, sys_interval=sys_interval),
        stamp=archive.session_stamp(),
        rootdir=root,
        command=["benchmark"],
    )
    spec = RunSpec(
        experiment="bench",
        description=None,
        tags=[],
        node_id="bench",
        module_path=None,
        declared={},
        params={},
        axes={},
        applied={},
        testing=False,
        patch_targets=[],
    )
    return Exp(spec, state)


def timed_session(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    """Wall time of one pytest session in a fresh interpreter."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *args], cwd=cwd, capture_output=True, text=True, env=env
    )
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 5):
        raise RuntimeError(f"pytest {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return elapsed


def median(values: list[float]) -> float:
    return statistics.median(values)


def report(rows: list[tuple[str, Any, Any, bool | None]]) -> int:
    """Print (what, measured, limit, ok) rows, ok None for a figure shown for information."""
    width = max(len(r[0]) for r in rows)
    for what, measured, limit, ok in rows:
        verdict = "info" if ok is None else "ok" if ok else "OVER"
        print(f"{what:<{width}}  {measured:>12}  limit {limit:<10} {verdict}")
    return 0 if all(r[3] is not False for r in rows) else 1
