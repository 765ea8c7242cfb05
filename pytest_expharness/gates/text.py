"""How gates read in a sweep's table: its `expect` and `Δ baseline` cells, the lines after it."""

from __future__ import annotations

from typing import Any

from .compare import IMPROVED, change_text

EXPECT, DELTA = "expect", "Δ baseline"
SHOWN = 3  # points named in a line, before "and N more"


def shown_baseline(found: Any) -> bool:
    """Whether a run's baseline makes a cell: compared, missing or pending (not a search)."""
    return isinstance(found, dict) and found.get("status") != "not compared"


def expect_cell(checked: Any) -> str | None:
    """`ok`, or `failed: acc, loss` (the metrics whose expectation failed); None: none."""
    if not isinstance(checked, list) or not checked:
        return None
    failed = [str(one.get("metric")) for one in checked if not one.get("ok")]
    return f"failed: {', '.join(failed)}" if failed else "ok"


def delta_cell(found: Any) -> str | None:
    """The main metric's change from its baseline, e.g. `+20.0% regressed`; None: not compared."""
    if not isinstance(found, dict):
        return None
    status = found.get("status")
    if status == "missing":
        return "no baseline"
    if status != "compared" or not found.get("metrics"):
        return "in the mean" if status == "pending" else None  # the point's last repeat has it
    first = found["metrics"][0]
    relative, change = first.get("relative"), first.get("change")
    if relative is not None:
        text = f"{relative * 100:+.1f}%"
    elif change is not None:
        text = f"{change:+.4g}"
    else:
        text = str(first.get("now"))
    if (first.get("n") or 1) > 1:
        text = f"mean {text}"
    verdict = first.get("verdict")
    return text if verdict == "ok" else f"{text} {verdict}"


def sweep_lines(records: list[dict[str, Any]]) -> list[str]:
    """What the end of a session says of a sweep's gates: counts, improvements, missing points."""
    lines = []
    checked = [r for r in records if isinstance(r.get("expectations"), list) and r["expectations"]]
    failed = [r for r in checked if expect_cell(r["expectations"]) != "ok"]
    if checked:
        lines.append(f"expectations: {len(checked) - len(failed)} of {len(checked)} runs met all")
    baselines = [r for r in records if isinstance(r.get("baseline"), dict)]
    compared = [r for r in baselines if r["baseline"].get("status") == "compared"]
    missing = [r for r in baselines if r["baseline"].get("status") == "missing"]
    if compared or missing:
        counts: dict[str, int] = {}
        for record in compared:
            verdict = str(record["baseline"].get("verdict"))
            counts[verdict] = counts.get(verdict, 0) + 1
        words = {"ok": "within tolerance"}
        parts = [f"{n} {words.get(v, v)}" for v, n in sorted(counts.items())]
        source = next((r["baseline"].get("source") for r in compared), None)
        head = f"baseline ({source}): " if source else "baseline: "
        text = f"{len(compared)} points compared" + (f" ({', '.join(parts)})" if parts else "")
        lines.append(head + text + (f"; {len(missing)} without a baseline" if missing else ""))
    for record in compared:
        for one in record["baseline"].get("metrics", []):
            if one.get("verdict") == IMPROVED:
                point = record["baseline"].get("point")
                lines.append(
                    f"improved: {point} {one['metric']} {one['baseline']:g} -> {one['now']:g} "
                    f"({change_text(one)}), beyond tolerance {one['tolerance']}"
                )
    by_reason: dict[str, list[str]] = {}
    for record in missing:
        found = record["baseline"]
        by_reason.setdefault(str(found.get("reason")), []).append(str(found.get("point")))
    for reason, points in by_reason.items():
        named = ", ".join(points[:SHOWN]) + (
            f" and {len(points) - SHOWN} more" * (len(points) > SHOWN)
        )
        lines.append(f"no baseline: {named} ({reason})")
    return lines
