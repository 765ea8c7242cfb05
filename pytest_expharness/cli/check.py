"""`expharness check`: every damaged run folder under a root and why, and how the index stands.

It only reads: nothing is repaired, moved or indexed, so it is safe on a
read-only archive and beside a session that is running. Testing runs
(<root>/_testing) are checked too. Exit 0 when all is well, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from ..archive import layout


def _incomplete(session: Path, now_ns: int) -> list[tuple[Path, str]]:
    """Run-level folders holding only one of config.yaml and summary.json (not being made)."""
    from ..catalog.indexsync import YOUNG_NS

    found: list[tuple[Path, str]] = []
    try:
        inside = sorted(p for p in session.iterdir() if p.is_dir() and p.name[0] != ".")
    except OSError:
        return found
    for folder in inside:
        has = [(folder / name).is_file() for name in (layout.CONFIG, layout.SUMMARY)]
        if any(has) and not all(has) and now_ns - folder.stat().st_mtime_ns >= YOUNG_NS:
            missing = layout.CONFIG if not has[0] else layout.SUMMARY
            found.append((folder / missing, "missing: the run cannot be read without it"))
    return found


def _index_state(base: Path, folders: set[str]) -> tuple[str, bool]:
    """Describe the index of one root; return the text and whether it is sound."""
    from ..catalog.index import FILE, open_readonly

    path = base / FILE
    if not path.exists():
        return "none yet (the next `expharness list` builds it)", True
    conn = open_readonly(path)
    if conn is None:
        return "cannot be read (the next `expharness list` moves it aside if corrupt)", False
    try:
        verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
        if verdict != "ok":
            return f"corrupt ({verdict}); `expharness reindex` rebuilds it", False
        rows = {p for (p,) in conn.execute("SELECT path FROM runs")}
    except sqlite3.DatabaseError as error:
        return f"corrupt ({error}); `expharness list` moves it aside and rebuilds it", False
    finally:
        conn.close()
    text = f"{len(rows)} rows"
    if folders - rows:
        text += f"; {len(folders - rows)} run folders not indexed yet (the next list reads them)"
    if rows - folders:
        text += f"; {len(rows - folders)} rows for folders gone (`expharness reindex` drops them)"
    return text, True


def check_root(base: Path, root: Path) -> tuple[list[dict[str, str]], int, str, bool]:
    """Check one archive root: (problems, run folders seen, index state, index sound)."""
    from ..catalog.damage import problem_of
    from ..catalog.indexrows import relative
    from ..catalog.indexsync import runs_in, session_folders

    now_ns = time.time_ns()
    problems: list[dict[str, str]] = []
    folders: set[str] = set()
    for session in session_folders(base):
        found, _ = runs_in(base / session, now_ns)
        for folder in found:
            folders.add(relative(folder, base))
            damage = problem_of(folder)
            if damage is not None:
                problems.append({"file": relative(damage.path, root), "problem": damage.why})
        for path, why in _incomplete(base / session, now_ns):
            problems.append({"file": relative(path, root), "problem": why})
    state, sound = _index_state(base, folders)
    return problems, len(folders), state, sound


def cmd_check(args: argparse.Namespace) -> int:
    root = Path(args.root)
    bases = [root] + ([root / layout.TESTING_DIR] if (root / layout.TESTING_DIR).is_dir() else [])
    report: list[dict[str, Any]] = []
    for base in bases:
        problems, count, state, sound = check_root(base, root)
        report.append(
            {"root": str(base), "runs": count, "damaged": problems, "index": state, "ok": sound}
        )
    bad = sum(len(r["damaged"]) for r in report)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for entry in report:
            for problem in entry["damaged"]:
                print(f"damaged {problem['file']}: {problem['problem']}")
            print(
                f"{entry['root']}: {entry['runs']} run folders, "
                f"{len(entry['damaged'])} damaged; index: {entry['index']}"
            )
    return 1 if bad or not all(r["ok"] for r in report) else 0


def add_command(commands: Any) -> None:
    """Register `check` on the `expharness` parser."""
    check = commands.add_parser(
        "check", help="list every damaged run folder and why, and the state of the index"
    )
    check.add_argument("--json", action="store_true")
    check.set_defaults(handler=cmd_check)
