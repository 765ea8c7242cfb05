"""Archive queries in SQL, the reindex and to_dataframe, over a synthetic 50,000-run archive.

Targets (issue 15, targets 4 and 5), each printed beside today's figure (the
issue's, or the first round's under load) and the target:
- `expharness list "lr<0.01"` on 50,000 runs: at most 0.1 s in-process (was 0.53 s), its cost
  independent of how many runs match (~58%, ~14%, none), beside the old way measured in this
  run (every row into Python, then the Python filter);
- `list --experiment exp3 lr<0.001 latent=vq`: at most 0.1 s (0.19 s in the first round);
- `Archive(root).runs().to_dataframe()` of 50,000 runs: under 1 s (3.5 s in the first round);
- `expharness reindex` after 200 new runs: under 10% of a full one (`reindex --full`);
- a full reindex of 50,000 runs: at most 15 s (20.5 s before the issue, 43 s in the first
  round), into a new index and over an index that holds every row; CPU seconds beside wall;
- reading config.yaml: the fast reader of our subset (safeyaml.read_ours) against the bounded
  loader, per file, in this run.
With `--against DIR...` (checkouts, e.g. /work/main and an older commit's tree) each one's full
reindex of the same folders runs in a child process, into an index of its own, for a ratio.

The archive is written directly (bench_archive.synthesize: config.yaml written as a run writes
it, summary.json and metrics.csv from one real run), then indexed by the full reindex.

    python benchmarks/bench_query.py [--runs 50000] [--keep DIR] [--against DIR ...]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_archive import quiet, synthesize, template

from pytest_expharness.archive import safeyaml
from pytest_expharness.catalog.loading import Archive
from pytest_expharness.cli import main as cli
from pytest_expharness.cli.filters import Names, matches, parse_expression, resolve

from _harness import report

CHILD = """
import contextlib, io, json, sys, time
from pytest_expharness.cli import main as cli
argv = ["--root", sys.argv[1], "reindex", *sys.argv[2:]]
try:
    with contextlib.redirect_stderr(io.StringIO()):
        cli.parser().parse_args(argv)
except SystemExit:  # code from before --full, whose reindex read every folder
    argv = argv[:3]
wall, cpu = time.perf_counter(), time.process_time()
with contextlib.redirect_stdout(io.StringIO()):
    assert cli.main(argv) == 0, argv
print(json.dumps([time.perf_counter() - wall, time.process_time() - cpu]))
"""


def reindex_with(code: Path | None, root: Path, full: bool = True) -> tuple[float, float]:
    """Wall and CPU seconds of one reindex in a child process running the code at `code`."""
    env = dict(os.environ)
    if code is not None:
        env["PYTHONPATH"] = str(code)
    flag = ["--full"] if full else []
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(root), *flag],
        env=env, cwd=tempfile.gettempdir(), capture_output=True, text=True, check=True,
    )  # fmt: skip
    wall, cpu = json.loads(done.stdout.strip().splitlines()[-1])
    return wall, cpu


def linked_root(root: Path, where: Path) -> Path:
    """A second root whose experiments link to root's folders (an index of its own)."""
    where.mkdir(parents=True)
    for experiment in root.iterdir():
        if experiment.is_dir() and not experiment.name.startswith("."):
            (where / experiment.name).symlink_to(experiment.resolve())
    return where


def yaml_reading(root: Path, count: int = 2000) -> tuple[float, float]:
    """Microseconds per config.yaml: the fast reader, and the bounded loader alone."""
    texts = [p.read_text("utf-8") for p in sorted(root.glob("exp1/*/*/config.yaml"))[:count]]
    loader = safeyaml.loader_class()

    def bounded(text: str) -> object:
        reader = loader(text)
        try:
            return reader.construct_document(reader.get_single_node())
        finally:
            reader.dispose()

    assert all(safeyaml.read_ours(t) == bounded(t) for t in texts[:50])
    start = time.perf_counter()
    for text in texts:
        safeyaml.load_bounded(text, "config.yaml")
    fast = time.perf_counter() - start
    start = time.perf_counter()
    for text in texts:
        bounded(text)
    return fast / len(texts) * 1e6, (time.perf_counter() - start) / len(texts) * 1e6


def old_list(root: Path, text: str) -> int:
    """`list` as it was: every row into Python, the names and the filter evaluated there."""
    rows = Archive(root).runs().rows
    name, op, value = parse_expression(text)
    key = resolve(name, Names.of(rows))
    return len([r for r in rows if matches(r, key, op, value)][:200])


def add_runs(root: Path, count: int) -> None:
    """Copy `count` run folders into new session folders (as sessions since the index made)."""
    folders = sorted(root.glob("exp0/*/*/summary.json"))[:count]
    for n, summary in enumerate(folders):
        shutil.copytree(summary.parent, root / "exp0" / f"new-session-{n // 100}" / f"run{n}")


def main() -> int:
    options = argparse.ArgumentParser()
    options.add_argument("--runs", type=int, default=50_000)
    options.add_argument("--keep", help="build the archive here and keep it")
    options.add_argument("--against", nargs="*", default=[], help="other checkouts' reindex")
    args = options.parse_args()
    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="bench-query-", dir=out))
    here = Path(__file__).resolve().parent.parent
    try:
        root = Path(args.keep) if args.keep else scratch / "results"
        if not root.exists():
            start = time.perf_counter()
            synthesize(template(scratch), root, args.runs)
            print(f"made {args.runs} runs in {time.perf_counter() - start:.1f} s under {root}")
        for extra in root.glob("exp0/new-session-*"):  # a kept archive: as it was made
            shutil.rmtree(extra)
        for stale in root.glob("index.sqlite*"):
            stale.unlink()
        fresh, fresh_cpu = reindex_with(here, root)  # into a new index
        full, full_cpu = reindex_with(here, root)  # over one holding every row
        theirs = []
        for n, code in enumerate(args.against):
            other = linked_root(root, scratch / f"against-{n}")
            theirs.append((code, reindex_with(Path(code), other), reindex_with(Path(code), other)))
        count = Archive(root).runs().total
        assert count == args.runs, f"indexed {count} of {args.runs}"
        add_runs(root, 200)
        incremental = quiet(lambda: cli.main(["--root", str(root), "reindex"]))
        assert Archive(root).runs().total == args.runs + 200
        base = ["--root", str(root), "list"]
        timed = {
            text: min(quiet(lambda t=text: cli.main([*base, t])) for _ in range(5))  # type: ignore[misc]
            for text in ("lr<0.01", "lr<0.0002", "lr<0")
        }
        selected = min(
            quiet(lambda: cli.main([*base, "--experiment", "exp3", "lr<0.001", "latent=vq"]))
            for _ in range(5)
        )
        old = min(quiet(lambda: old_list(root, "lr<0.01")) for _ in range(3))
        fast_yaml, slow_yaml = yaml_reading(root)
        ratio = incremental / full
        runs = f"{args.runs:,} runs"
        rows: list[tuple[str, object, object, bool | None]] = [
            (
                f"reindex --full, new index, {runs} (today 43 s)",
                f"{fresh:.2f} s",
                "15 s",
                fresh <= 15,
            ),
            ("  CPU of it", f"{fresh_cpu:.2f} s", "-", None),
            (
                f"reindex --full over every row, {runs} (today 43 s)",
                f"{full:.2f} s",
                "15 s",
                full <= 15,
            ),
            ("  CPU of it", f"{full_cpu:.2f} s", "-", None),
            (
                "reindex after 200 new runs / full",
                f"{incremental:.2f} s = {ratio:.1%}",
                "10%",
                ratio < 0.10,
            ),
            ("config.yaml read, fast reader (us a file)", f"{fast_yaml:.0f}", "-", None),
            ("config.yaml read, bounded loader, this run", f"{slow_yaml:.0f}", "-", None),
            (
                "list lr<0.01 (~58% match; today 0.53 s)",
                f"{timed['lr<0.01']:.3f} s",
                "0.1 s",
                timed["lr<0.01"] <= 0.1,
            ),
            (
                "list lr<0.0002 (~14% match)",
                f"{timed['lr<0.0002']:.3f} s",
                "0.1 s",
                timed["lr<0.0002"] <= 0.1,
            ),
            (
                "list lr<0 (nothing matches, exit 1)",
                f"{timed['lr<0']:.3f} s",
                "0.1 s",
                timed["lr<0"] <= 0.1,
            ),
            (
                "list --experiment exp3 lr<0.001 latent=vq (today 0.19 s)",
                f"{selected:.3f} s",
                "0.1 s",
                selected <= 0.1,
            ),
            ("old list lr<0.01, this run (rows into Python)", f"{old:.3f} s", "-", None),
            ("old / new list lr<0.01", f"{old / timed['lr<0.01']:.1f}x", "-", None),
        ]
        for code, (wall, cpu), (again, again_cpu) in theirs:
            rows.append((f"{code}: reindex --full, new index", f"{wall:.2f} s", "-", None))
            rows.append(
                ("  CPU of it; ours / theirs", f"{cpu:.2f} s; {fresh_cpu / cpu:.2f}", "-", None)
            )
            rows.append((f"{code}: reindex --full over every row", f"{again:.2f} s", "-", None))
            rows.append(
                (
                    "  CPU of it; ours / theirs",
                    f"{again_cpu:.2f} s; {full_cpu / again_cpu:.2f}",
                    "-",
                    None,
                )
            )
        try:
            import pandas  # noqa: F401
        except ImportError:
            print("pandas is not installed: to_dataframe not measured (pip install pandas)")
        else:
            frame = min(quiet(lambda: Archive(root).runs().to_dataframe()) for _ in range(3))
            rows.append(
                (
                    f"runs().to_dataframe(), {count:,} runs (today 3.5 s)",
                    f"{frame:.3f} s",
                    "1 s",
                    frame <= 1,
                )
            )
        return report(rows)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
