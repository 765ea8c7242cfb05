"""BLAS sharing under xdist: the latent_spaces grid with and without the per-run limit.

Issue 12, point 3: the limit moved from environment variables to threadpoolctl
inside each run (cores.limited_blas); its benefit (the grid went from 22 s to
7.1 s on 2 cores) must still hold. Each variant runs the full 3x3 grid of
experiments/test_latent_spaces.py with `-n 2`, interleaved ROUNDS times; the
unlimited variant loads a plugin (`-p`) that replaces cores.blas_share by
`lambda: None`, so the product has no switch for it. Sessions import the plugin
from a copy of the committed package (git HEAD), not the working tree, so edits
made meanwhile cannot break or change them. The load average is printed beside
the figures: other processes on the machine skew them.

    .venv/bin/python benchmarks/bench_blas.py [ROUNDS]
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _harness import median, report, timed_session

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 3
REPO = Path(__file__).resolve().parent.parent
EXPERIMENT = REPO / "experiments" / "test_latent_spaces.py"
UNLIMITED = '''
"""Benchmark only: every run keeps BLAS's own thread count (one per core)."""
from pytest_expharness.session import cores

cores.blas_share = lambda *args, **kwargs: None
'''
BLAS_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def main() -> int:
    """Time both variants ROUNDS times each, interleaved; print medians and their ratio."""
    work = Path(tempfile.mkdtemp(prefix="bench_blas_"))
    try:
        _copy_committed_package(work)
        shutil.copy(EXPERIMENT, work / EXPERIMENT.name)
        (work / "bench_unlimited.py").write_text(UNLIMITED)
        env = {k: v for k, v in os.environ.items() if k not in BLAS_VARIABLES}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(work), env.get("PYTHONPATH")]))
        base = [EXPERIMENT.name, "-n", "2", "-q", "-p", "no:randomly", "-p", "no:cacheprovider"]
        times: dict[str, list[float]] = {"limited": [], "unlimited": []}
        cpu: dict[str, list[float]] = {"limited": [], "unlimited": []}
        loads: list[float] = []
        for round_ in range(ROUNDS):
            for variant in ("limited", "unlimited"):
                extra = ["-p", "bench_unlimited"] if variant == "unlimited" else []
                root = ["--exp-root", str(work / f"results-{variant}-{round_}")]
                before = _children_cpu()
                seconds = timed_session([*base, *root, *extra], work, env)
                cpu_seconds = _children_cpu() - before
                times[variant].append(seconds)
                cpu[variant].append(cpu_seconds)
                loads.append(os.getloadavg()[0])
                print(
                    f"round {round_ + 1} {variant:<9} {seconds:6.1f} s  cpu {cpu_seconds:6.1f} s  "
                    f"load average {os.getloadavg()}",
                    flush=True,
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    limited, unlimited = median(times["limited"]), median(times["unlimited"])
    print(f"cores {os.cpu_count()}, rounds {ROUNDS}, load average after {os.getloadavg()}")
    return report(
        [
            ("grid -n 2, BLAS limited (median)", f"{limited:.1f} s", "info", None),
            ("grid -n 2, unlimited (median)", f"{unlimited:.1f} s", "info", None),
            (
                "unlimited / limited",
                f"{unlimited / limited:.2f}x",
                ">= 1.5x",
                unlimited >= 1.5 * limited,
            ),
            ("cpu, limited (median)", f"{median(cpu['limited']):.1f} s", "info", None),
            ("cpu, unlimited (median)", f"{median(cpu['unlimited']):.1f} s", "info", None),
            ("1-min load average, max seen", f"{max(loads):.1f}", "info", None),
        ]
    )


def _children_cpu() -> float:
    """User + system CPU seconds of finished child processes (xdist workers included)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _copy_committed_package(work: Path) -> None:
    """Extract pytest_expharness as committed (HEAD) into work, which goes first on the path."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "HEAD", "pytest_expharness"],
        capture_output=True,
        check=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(work)], input=archive, check=True)


if __name__ == "__main__":
    sys.exit(main())
