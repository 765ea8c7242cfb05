"""Looking back over a large archive: a synthetic 10,000-run archive.

Targets (issue 4):
- `expharness list` with a filter over 10,000 runs: at most 0.3 s in-process;
- `expharness reindex` of 10,000 run folders: at most 15 s;
- `Archive(root).runs().to_dataframe()` for 10,000 runs: at most 1 s (needs pandas).

Issue 13 adds, with the same 0.3 s budget: `expharness summary` (counts,
newest session and best run of each experiment, from the index and one
config.yaml per experiment), and `list` with an unknown key, whose error needs
every key of the 10,000 runs (and `--experiment nope`, which names them).

The archive is made from one real run (a pytest session in a scratch folder):
its config.yaml, summary.json and metrics.csv are copied 10,000 times over 5
experiments and 100 sessions, with parameters, statuses and final metrics
varied, so every folder reads like a real one.

    python benchmarks/bench_archive.py [--runs 10000] [--keep DIR]

With --keep the archive stays in DIR, and a later call with the same DIR
measures it again without making it anew.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pytest_expharness.archive import yamltext
from pytest_expharness.catalog.loading import Archive
from pytest_expharness.cli import main as cli

from _harness import report

EXPERIMENT = """
import pytest

LR = 0.01
LATENT = "none"

@pytest.mark.experiment(metric="loss")
@pytest.mark.parametrize("latent", ["vq"])
def test_fit(exp, latent):
    for step in range(50):
        exp.track("loss", 1.0 / (step + 1))
        exp.track("accuracy", step / 50)
    exp["best"] = 0.5
"""


def template(scratch: Path) -> Path:
    """Make one real run with pytest; return its folder."""
    (scratch / "test_fit.py").write_text(EXPERIMENT)
    (scratch / "pytest.ini").write_text("[pytest]\n")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--exp-root", "seed"],
        cwd=scratch,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stdout + done.stderr)
    (summary,) = (scratch / "seed").glob("*/*/*/summary.json")
    return summary.parent


def synthesize(seed_run: Path, root: Path, runs: int) -> None:
    """Write `runs` run folders under root, varied copies of seed_run."""
    config = yamltext.load((seed_run / "config.yaml").read_text())
    summary = json.loads((seed_run / "summary.json").read_text())
    metrics_csv = (seed_run / "metrics.csv").read_text()
    rng = random.Random(0)
    start = time.time() - 90 * 86400
    per_session = 100
    for n in range(runs):
        experiment = f"exp{n % 5}"
        session_no = n // per_session
        stamp = time.strftime("%Y-%m-%d_%H-%M-%S", time.localtime(start + session_no * 3600))
        session = f"{stamp}_{session_no:04x}"
        lr = rng.choice([1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1])
        latent = rng.choice(["none", "linear", "vq"])
        run_id = f"latent={latent},lr={lr!r},n={n}"
        folder = root / experiment / session / run_id
        folder.mkdir(parents=True)
        (folder / "artifacts").mkdir()
        started = start + session_no * 3600 + n % per_session
        head = {
            **config["experiment"],
            "name": experiment,
            "run_id": run_id,
            "session": session,
            "node_id": f"test_fit.py::test_fit[{latent}-{lr}-{n}]",
        }
        params = {**config["parameters"], "LR": lr, "LATENT": latent}
        text = yamltext.config_text({"experiment": head, "parameters": params}, {})
        (folder / "config.yaml").write_text(text)  # as a run writes it
        status = rng.choices(["completed", "failed", "skipped"], [90, 8, 2])[0]
        loss = rng.random()
        metrics = {
            name: {**stats, "final": loss if name == "loss" else stats.get("final")}
            for name, stats in (summary.get("metrics") or {}).items()
        }
        (folder / "summary.json").write_text(
            json.dumps(
                {
                    **summary,
                    "status": status,
                    "run_id": run_id,
                    "session": session,
                    "experiment": experiment,
                    "started_unix": started,
                    "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
                    "metrics": metrics,
                },
                indent=2,
            )
        )
        (folder / "metrics.csv").write_text(metrics_csv)


def quiet(call: object) -> float:
    """Time a callable with stdout swallowed."""
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        call()  # type: ignore[operator]
    return time.perf_counter() - start


def command(argv: list[str], code: int, times: int = 5) -> float:
    """The best of `times` in-process runs of `expharness argv`, which must exit with `code`."""
    best = float("inf")
    for _ in range(times):
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            got = cli.main(argv)
        best = min(best, time.perf_counter() - start)
        assert got == code, f"expharness {' '.join(argv)}: exit {got}, expected {code}"
    return best


def main() -> int:
    options = argparse.ArgumentParser()
    options.add_argument("--runs", type=int, default=10_000)
    options.add_argument("--keep", help="build the archive here and keep it")
    args = options.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bench-archive-", dir=Path(__file__).parent / "out"))
    try:
        root = Path(args.keep) if args.keep else scratch / "results"
        if not (root / "index.sqlite").exists():
            start = time.perf_counter()
            synthesize(template(scratch), root, args.runs)
            print(f"made {args.runs} runs in {time.perf_counter() - start:.1f} s under {root}")
        reindex = quiet(lambda: cli.main(["--root", str(root), "reindex"]))
        count = len(Archive(root).runs())
        assert count == args.runs, f"indexed {count} of {args.runs}"
        filtered = ["--root", str(root), "list", "--experiment", "exp3", "lr<0.001", "latent=vq"]
        listing = min(quiet(lambda: cli.main(filtered)) for _ in range(5))
        broad = ["--root", str(root), "list", "lr<0.01"]
        listing_all = min(quiet(lambda: cli.main(broad)) for _ in range(5))
        every = min(quiet(lambda: cli.main([*broad, "--limit", "0"])) for _ in range(3))
        cold = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "pytest_expharness", *filtered],
            capture_output=True,
            check=True,
        )
        cold = time.perf_counter() - cold
        base = ["--root", str(root)]
        summary = command([*base, "summary"], 0)
        unknown = command([*base, "list", "nosuchparam=3"], 2)
        no_experiment = command([*base, "list", "--experiment", "nope"], 2)
        cold_summary = time.perf_counter()
        subprocess.run([sys.executable, "-m", "pytest_expharness", *base, "summary"],
                       capture_output=True, check=True)  # fmt: skip
        cold_summary = time.perf_counter() - cold_summary
        session = Archive(root).runs().rows[0]["session"]
        compared = command([*base, "compare", "--session", session], 0, times=3)
        rows: list[tuple[str, object, object, bool | None]] = [
            (f"reindex {args.runs} folders", f"{reindex:.2f} s", "15 s", reindex <= 15),
            ("list --experiment + 2 filters", f"{listing:.3f} s", "0.3 s", listing <= 0.3),
            (
                "list lr<0.01 (newest 200 printed)",
                f"{listing_all:.3f} s",
                "0.3 s",
                listing_all <= 0.3,
            ),
            ("list lr<0.01 --limit 0 (~6,000 printed)", f"{every:.3f} s", "-", None),
            ("same list, new interpreter", f"{cold:.3f} s", "-", None),
            ("summary (5 experiments)", f"{summary:.3f} s", "0.3 s", summary <= 0.3),
            (
                "list nosuchparam=3 (exit 2, keys named)",
                f"{unknown:.3f} s",
                "0.3 s",
                unknown <= 0.3,
            ),
            (
                "list --experiment nope (exit 2)",
                f"{no_experiment:.3f} s",
                "0.3 s",
                no_experiment <= 0.3,
            ),
            ("summary, new interpreter", f"{cold_summary:.3f} s", "-", None),
            ("compare --session (100 runs, 5 tables)", f"{compared:.3f} s", "-", None),
        ]
        try:
            import pandas  # noqa: F401
        except ImportError:
            print("pandas is not installed: to_dataframe not measured (pip install pandas)")
        else:
            frame_s = min(quiet(lambda: Archive(root).runs().to_dataframe()) for _ in range(3))
            rows.append(("runs().to_dataframe()", f"{frame_s:.3f} s", "1 s", frame_s <= 1))
        return report(rows)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
