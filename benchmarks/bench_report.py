"""report.html for a 100-run sweep with 3 tracked series.

Target (issue 6): at most 5 s on 2 cores. Measured two ways:
- in-process: reading the 100 run folders, the plots and the page, as the
  controller does at the end of a session (matplotlib already imported);
- `expharness report --session S` in a new interpreter, imports included.

    python benchmarks/bench_report.py [--runs 100] [--points 500]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _harness import report

EXPERIMENT = """
import math
import pytest

POINTS: int = {points}

@pytest.mark.experiment(metric="loss")
@pytest.mark.parametrize("lr", [round(0.001 * (i + 1), 4) for i in range({runs_a})])
@pytest.mark.parametrize("width", [16, 32, 64, 128, 256][: {runs_b}])
def test_sweep(exp, lr, width):
    for step in range(exp.POINTS):
        exp.track("loss", math.exp(-lr * step) + 1.0 / width)
        exp.track("accuracy", 1.0 - math.exp(-lr * step))
        exp.track("grad_norm", 1.0 / (1.0 + lr * step))
"""


def main() -> int:
    options = argparse.ArgumentParser()
    options.add_argument("--runs", type=int, default=100)
    options.add_argument("--points", type=int, default=500)
    args = options.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bench-report-", dir=Path(__file__).parent / "out"))
    try:
        runs_b = 5 if args.runs % 5 == 0 else 1
        source = EXPERIMENT.format(points=args.points, runs_a=args.runs // runs_b, runs_b=runs_b)
        (scratch / "test_sweep.py").write_text(source)
        (scratch / "pytest.ini").write_text("[pytest]\n")
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2"],
            cwd=scratch,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise RuntimeError(done.stdout[-3000:] + done.stderr[-3000:])
        (session,) = (scratch / "results" / "sweep").iterdir()
        print(f"{args.runs} runs x 3 series x {args.points} points under {session}")

        import matplotlib  # noqa: F401  (the controller has it by the time it writes reports)

        from pytest_expharness.catalog.records import record_from_folder
        from pytest_expharness.sweep.html.page import write_sweep_reports
        from pytest_expharness.sweep.table import build

        records = [record_from_folder(p) for p in sorted(session.iterdir()) if p.is_dir()]
        records = [r for r in records if r["status"]]
        table = build(records)
        start = time.perf_counter()
        problems = write_sweep_reports([table], records)
        in_process = time.perf_counter() - start
        assert not problems, problems
        size = (session / "report.html").stat().st_size
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "pytest_expharness", "--root", str(scratch / "results"),
             "report", "--session", session.name],
            check=True,
            capture_output=True,
        )  # fmt: skip
        cold = time.perf_counter() - start
        return report(
            [
                (
                    f"report.html, {args.runs} runs, in-process",
                    f"{in_process:.2f} s",
                    "5 s",
                    in_process <= 5,
                ),
                ("expharness report --session, new interpreter", f"{cold:.2f} s", "5 s", cold <= 5),
                ("report.html size", f"{size / 1e6:.2f} MB", "-", None),
            ]
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
