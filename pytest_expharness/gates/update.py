"""--exp-baseline-update: the controller writes each experiment's baseline file at the end.

One file per experiment and mode, beside its module; each point gets the final
values of its completed runs (mean and std over repeats). Points this session
did not run keep their entries; a point none of whose runs completed is not
written, and the line printed says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .baselines import entry, file_for, point_of, run_values, write

SKIPPED = ("rerun", "superseded")


def _values(record: dict[str, Any]) -> dict[str, Any]:
    results = record.get("all_results") or record.get("results") or {}
    return run_values(record.get("metrics") or {}, results)


def write_baselines(records: list[dict[str, Any]], stamp: str) -> list[tuple[str, bool, str]]:
    """Write the baseline file of every experiment the records hold.

    Returns a line for each, with the experiment and mode it is about.
    """
    groups: dict[tuple[str, bool, str], list[dict[str, Any]]] = {}
    for record in records:
        if not record.get("module") or record.get("status") in SKIPPED:
            continue
        key = (str(record["experiment"]), bool(record.get("testing")), str(record["module"]))
        groups.setdefault(key, []).append(record)
    lines: list[tuple[str, bool, str]] = []
    for (experiment, testing, module), found in sorted(groups.items()):
        say = lines.append
        path = file_for(module, experiment, testing)
        if any("trial" in (r.get("axes") or {}) for r in found):
            say((experiment, testing, "baseline: not written (a search has no fixed points)"))
            continue
        points: dict[str, list[dict[str, Any]]] = {}
        for record in found:
            point = record.get("point") or point_of(str(record["run_id"]))
            points.setdefault(point, []).append(record)
        written, left = {}, []
        for point, runs in points.items():
            completed = [r for r in runs if r.get("status") in ("completed", "reused")]
            if completed:
                written[point] = entry(
                    completed[0].get("axes") or {}, [_values(r) for r in completed]
                )
            else:
                left.append(point)
        if not written:
            say((experiment, testing, "baseline: not written (no run completed)"))
            continue
        first = found[0]
        header = {
            "experiment": experiment,
            "testing": testing,
            "main_metric": {"name": first.get("metric"), "mode": first.get("mode", "min")}
            if first.get("metric")
            else None,
            "updated": {"session": stamp, "git_commit": first.get("git_commit")},
        }
        total = write(path, header, written)
        shown = _shown(path)
        note = f"; not {', '.join(sorted(left))} (no run completed)" if left else ""
        say(
            (
                experiment,
                testing,
                f"baseline: wrote {shown} ({len(written)} of {total} points){note}",
            )
        )
    return lines


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
