"""The end of a session for a 10,000-run sweep: tables, report.html, the index.

Target (issue 15, part 6): `sweep/end.finalize` for a 10,000-run sweep at most
3 s, the controller's peak RSS at most 100 MB (before: 6.3 s and 308 MB, the
issue's figures; each is printed beside the one that replaces it, and so is
what `--against` measures in the same run).

The run folders (config.yaml, summary.json, metrics.csv with 3 series, run.log)
and the records the workers would send are made synthetically, once. Each
measurement is a fresh interpreter that reads the records (as they arrive, JSON
text) and calls finalize; it reports finalize's wall and CPU time, the process's peak
RSS and its peak above what it held before finalize. The same child runs with
`--against` (default /work/main, today's code) in the same run, for a ratio;
each runs `--repeat` times, alternately, and the best of each figure counts (a
machine shared with others stretches a run now and then). The records are made
by this tree's code, as its workers would send them.

    python benchmarks/bench_ending.py [--runs 10000] [--points 100] [--against PATH] [--repeat 2]
    python benchmarks/bench_ending.py --profile      # cProfile of finalize, top 25
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this tree, before _harness
from _harness import report

STAMP = "2026-01-01_00-00-00_abcd"
SERIES = ("loss", "accuracy", "grad_norm")
BEFORE = {"seconds": 6.3, "rss_mb": 308.0}  # the figures this benchmark's target replaces

CONFIG = """experiment:
  name: big
  description: "a synthetic sweep"
  tags: []
  label: exploratory
  notes: []
  run_id: {run_id}
  session: "{stamp}"
  timestamp: "2026-01-01T00:00:00.000+00:00"
  node_id: "test_big.py::test_big[{i}]"
  module: null
  test_class: null
  git_commit: null
  git_dirty: null
  git_note: "not a git repository"
  host: bench
  command: [pytest, "-n", "2"]
  axes: [lr, beta]
  order: {i}
  repeat: 0
  repeats: 1
  seed: 0
  attempt: 1
  main_metric: {{name: loss, mode: min}}
  source_hash: x
  testing: false
  debug: false
parameters:
  lr: {lr}
  beta: {beta}
"""

CHILD = """
import json, resource, sys, time
from pathlib import Path
from pytest_expharness.sweep.end import finalize
try:
    from pytest_expharness.catalog.records import Sharer
    share = Sharer().share
except ImportError:  # code from before the Sharer (--against)
    share = lambda record: record

root, stamp, records_file = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
with open(records_file, encoding="utf-8") as handle:
    records = [share(json.loads(line)) for line in handle]  # as RecordCollector keeps them
before = int(open("/proc/self/statm").read().split()[1]) * resource.getpagesize()
profile = len(sys.argv) > 4
if profile:
    import cProfile, pstats
    profiler = cProfile.Profile()
    profiler.enable()
start, cpu = time.perf_counter(), time.process_time()
tables = finalize(records, root, stamp, False)
elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
if profile:
    profiler.disable()
    stats = pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative")
    stats.print_stats("pytest_expharness", 40)
# VmHWM, not ru_maxrss: that one starts at the size of the parent that forked this process
status = open("/proc/self/status").read()
peak = int(status.split("VmHWM:")[1].split()[0]) * 1024
assert sum(len(t.rows) for t in tables) == len(records), "a run is missing from the tables"
print(json.dumps({"seconds": elapsed, "cpu": cpu, "peak": peak, "before": before}))
"""


def make_sweep(root: Path, runs: int, points: int) -> Path:
    """Write `runs` run folders of one sweep and the records file; return the records file."""
    rng = random.Random(1)
    sweep = root / "big" / STAMP
    sweep.mkdir(parents=True)
    from pytest_expharness.archive.yamltext import load
    from pytest_expharness.catalog.records import make_record

    records_file = root.parent / "records.jsonl"
    with open(records_file, "w", encoding="utf-8") as out:
        for i in range(runs):
            lr, beta = round(0.0001 * (i // 10 + 1), 6), i % 10
            run_id = f"lr={lr},beta={beta}"
            folder = sweep / run_id
            folder.mkdir()
            config = CONFIG.format(run_id=run_id, stamp=STAMP, i=i, lr=lr, beta=beta)
            (folder / "config.yaml").write_text(config, "utf-8")
            status = rng.choice(["completed"] * 18 + ["failed", "skipped"])
            lines = ["step,name,value,time\n"]
            metrics = {}
            for name in SERIES:
                values = [rng.random() for _ in range(points)]
                lines += [f"{s},{name},{v!r},1767225600.0\n" for s, v in enumerate(values)]
                metrics[name] = {
                    "final": values[-1],
                    "min": min(values),
                    "max": max(values),
                    "count": points,
                    "last_step": points - 1,
                }
            (folder / "metrics.csv").write_text("".join(lines), "utf-8")
            (folder / "run.log").write_text("", "utf-8")
            summary = {
                "run_id": run_id,
                "experiment": "big",
                "session": STAMP,
                "status": status,
                "started": "2026-01-01T00:00:00.000+00:00",
                "started_unix": 1767225600.0,
                "duration": rng.random(),
                "metrics": metrics,
                "components": {},
                "results": {"results/final": rng.random()},
                "artifacts": [],
                "log": {"warnings": 0, "errors": 0},
                "plots": [],
                "error": {"type": "ValueError", "message": "boom"} if status == "failed" else None,
                "reason": "not today" if status == "skipped" else None,
            }
            (folder / "summary.json").write_text(json.dumps(summary, indent=2), "utf-8")
            record = make_record(load(config), summary, folder)
            out.write(json.dumps(record) + "\n")
    return records_file


def reset(root: Path) -> None:
    """Remove what finalize writes, so each child starts from the same archive."""
    for path in (root / "index.sqlite", root / "index.sqlite-wal", root / "index.sqlite-shm"):
        path.unlink(missing_ok=True)
    sweep = root / "big" / STAMP
    for name in ("comparison.csv", "comparison.md", "comparison.json", "report.html"):
        (sweep / name).unlink(missing_ok=True)


def child(code: Path, root: Path, records: Path, profile: bool = False) -> dict[str, float]:
    reset(root)
    env = {**os.environ, "PYTHONPATH": str(code)}
    args = [sys.executable, "-c", CHILD, str(root), STAMP, str(records)]
    done = subprocess.run([*args, *(["profile"] if profile else [])], env=env, text=True, cwd=root,
                          capture_output=True)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"finalize with {code} failed:\n{done.stdout}\n{done.stderr}")
    if profile:
        print(done.stderr)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


MB = 1024 * 1024


def figures(
    ours: dict[str, float],
    theirs: dict[str, float] | None,
    html: int,
    their_html: int | None,
    args: argparse.Namespace,
) -> list[tuple[str, str, str, bool | None]]:
    """The table: each target beside the figure it replaces and what --against measured."""
    main = args.against
    seconds, peak = ours["seconds"], ours["peak"] / MB
    rows: list[tuple[str, str, str, bool | None]] = [
        (f"finalize, {args.runs} runs, s", f"{seconds:.2f}", "3", seconds <= 3),
        (f"  before (the issue): {BEFORE['seconds']} s", "-", "-", None),
        (
            "  its CPU time, s (a loaded machine stretches wall time)",
            f"{ours['cpu']:.2f}",
            "-",
            None,
        ),
        ("controller peak RSS, MB", f"{peak:.0f}", "100", peak <= 100),
        (f"  before (the issue): {BEFORE['rss_mb']:.0f} MB", "-", "-", None),
        (
            "  of which during finalize, MB",
            f"{(ours['peak'] - ours['before']) / MB:.0f}",
            "-",
            None,
        ),
        ("report.html size, MB", f"{html / 1e6:.2f}", "-", None),
    ]
    if theirs is None:
        return rows
    rows += [
        (f"{main}: finalize, s", f"{theirs['seconds']:.2f}", "-", None),
        (f"{main}: CPU time, s", f"{theirs['cpu']:.2f}", "-", None),
        (f"{main}: peak RSS, MB", f"{theirs['peak'] / MB:.0f}", "-", None),
        (
            f"{main}: of which during finalize, MB",
            f"{(theirs['peak'] - theirs['before']) / MB:.0f}",
            "-",
            None,
        ),
        (f"{main}: report.html size, MB", f"{(their_html or 0) / 1e6:.2f}", "-", None),
        ("time, ours / theirs (x)", f"{seconds / theirs['seconds']:.2f}", "-", None),
        ("CPU time, ours / theirs (x)", f"{ours['cpu'] / theirs['cpu']:.2f}", "-", None),
        ("peak RSS, ours / theirs (x)", f"{ours['peak'] / theirs['peak']:.2f}", "-", None),
    ]
    return rows


def main() -> int:
    options = argparse.ArgumentParser()
    options.add_argument("--runs", type=int, default=10_000)
    options.add_argument("--points", type=int, default=100)
    options.add_argument("--against", default="/work/main", help="today's code, for the ratio")
    options.add_argument("--repeat", type=int, default=2, help="runs of each; the best counts")
    options.add_argument("--profile", action="store_true")
    args = options.parse_args()
    here = Path(__file__).resolve().parent.parent
    scratch = Path(tempfile.mkdtemp(prefix="bench-ending-"))
    try:
        root = scratch / "results"
        records = make_sweep(root, args.runs, args.points)
        print(f"{args.runs} runs x {len(SERIES)} series x {args.points} points under {root}")
        if args.profile:
            child(here, root, records, profile=True)
            return 0
        ours, theirs, sizes = None, None, {}
        for _ in range(args.repeat):
            for code in [here, Path(args.against)] if args.against else [here]:
                got = child(code, root, records)
                sizes[code] = (root / "big" / STAMP / "report.html").stat().st_size
                best = ours if code == here else theirs
                got = {k: min(v, best[k]) for k, v in got.items()} if best else got
                if code == here:
                    ours = got
                else:
                    theirs = got
        assert ours is not None
        rows = figures(ours, theirs, sizes[here], sizes.get(Path(args.against or "-")), args)
        return report(rows)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
