"""Archive queries in SQL and the incremental reindex, over a synthetic 50,000-run archive.

Targets (issue 15, part Q), each printed beside the figure it replaces:
- `expharness list "lr<0.01"` on 50,000 runs: at most 0.1 s in-process (was 0.53 s), its cost
  independent of how many runs match (shown for ~58%, ~14% and no runs matching), beside the
  old way measured in this run (every row into Python, then the Python filter);
- `Archive(root).runs().to_dataframe()` of 50,000 runs: under 1 s;
- `expharness reindex` after 200 new runs: under 10% of a full one (`reindex --full`);
- a full reindex of 50,000 runs: at most 15 s (was 20.5 s).

The archive is written directly (bench_archive.synthesize: real config.yaml,
summary.json and metrics.csv from one real run), then indexed by the full reindex.

    python benchmarks/bench_query.py [--runs 50000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench_archive import quiet, synthesize, template

from pytest_expharness.catalog.loading import Archive
from pytest_expharness.cli import main as cli
from pytest_expharness.cli.filters import Names, matches, parse_expression, resolve

from _harness import report


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
    args = options.parse_args()
    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="bench-query-", dir=out))
    try:
        root = Path(args.keep) if args.keep else scratch / "results"
        if not root.exists():
            start = time.perf_counter()
            synthesize(template(scratch), root, args.runs)
            print(f"made {args.runs} runs in {time.perf_counter() - start:.1f} s under {root}")
        for extra in root.glob("exp0/new-session-*"):  # a kept archive: as it was made
            shutil.rmtree(extra)
        full = quiet(lambda: cli.main(["--root", str(root), "reindex", "--full"]))
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
        ratio = incremental / full
        rows: list[tuple[str, object, object, bool | None]] = [
            (f"reindex --full, {args.runs} runs (was 20.5 s)", f"{full:.2f} s", "15 s", full <= 15),
            (
                "reindex after 200 new runs / full",
                f"{incremental:.2f} s = {ratio:.1%}",
                "10%",
                ratio < 0.10,
            ),
            (
                "list lr<0.01 (~58% match; was 0.53 s)",
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
                "list --experiment exp3 lr<0.001 latent=vq",
                f"{selected:.3f} s",
                "0.1 s",
                selected <= 0.1,
            ),
            ("old list lr<0.01, this run (rows into Python)", f"{old:.3f} s", "-", None),
            ("old / new list lr<0.01", f"{old / timed['lr<0.01']:.1f}x", "-", None),
        ]
        try:
            import pandas  # noqa: F401
        except ImportError:
            print("pandas is not installed: to_dataframe not measured (pip install pandas)")
        else:
            frame = min(quiet(lambda: Archive(root).runs().to_dataframe()) for _ in range(3))
            rows.append(
                (f"runs().to_dataframe(), {count} runs", f"{frame:.3f} s", "1 s", frame <= 1)
            )
        return report(rows)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
