"""Baseline files: `baselines/<experiment>.json` beside the module, meant to be committed.

    {
      "experiment": "quickstart",
      "testing": false,
      "main_metric": {"name": "loss", "mode": "min"},
      "updated": {"session": "2026-12-03_14-20-13_91f8", "git_commit": "c968080..."},
      "points": {
        "lr=0.1": {"axes": {"lr": 0.1}, "runs": 1, "values": {"loss": 0.31, "results/acc": 0.9}},
        "lr=0.3": {"axes": {"lr": 0.3}, "runs": 3, "values": {"loss": 0.28},
                   "std": {"loss": 0.012}}
      }
    }

A point is its run id without the repeat (`lr=0.1` for `lr=0.1,rep=2`);
`values` holds the final value of every metric and result (the mean over
repeats, whose `std` sits beside). Testing mode keeps its own file,
`<experiment>.testing.json`. Keys are sorted and non-finite values are left
out, so the file is strict JSON that diffs well.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..archive import layout
from ..archive.names import safe_name
from .bounds import GateError, number
from .compare import Measured

FOLDER = "baselines"
_REPEAT = re.compile(r"(?:^|,)(?:rep|attempt)=\d+(?=,|$)")
_cache: dict[Path, tuple[int, dict[str, Any] | None]] = {}


def point_of(run_id: str) -> str:
    """A run's grid point: its id without the repeat and attempt parts."""
    return _REPEAT.sub("", run_id).lstrip(",") or "run"


def run_values(metrics: Mapping[str, Any], results: Mapping[str, Any]) -> dict[str, Any]:
    """What a baseline keeps of a run: its final metrics (sys/ series aside) and its results."""
    return {**{k: v for k, v in metrics.items() if not k.startswith("sys/")}, **results}


def file_for(module_path: str | Path, experiment: str, testing: bool) -> Path:
    """Where an experiment's baseline lives: beside its module, in baselines/."""
    name = safe_name(experiment) + (".testing" if testing else "")
    return Path(module_path).parent / FOLDER / f"{name}.json"


def read(path: Path) -> dict[str, Any] | None:
    """The baseline file's content (cached by mtime), None if there is none; GateError if bad."""
    try:
        mtime = path.stat().st_mtime_ns
    except FileNotFoundError:
        return None
    cached = _cache.get(path)
    if cached is not None and cached[0] == mtime:
        return cached[1]
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise GateError(f"baseline {path}: not readable JSON ({error})") from None
    points = data.get("points") if isinstance(data, dict) else None
    if not isinstance(points, dict) or not all(
        isinstance(p, dict) and isinstance(p.get("values"), dict) for p in points.values()
    ):
        raise GateError(
            f"baseline {path}: no 'points' of the form {{point: {{'values': {{...}}}}}}; "
            "write it again with --exp-baseline-update"
        )
    _cache[path] = (mtime, data)
    return dict(data)


def measured(entry: Mapping[str, Any], name: str) -> Measured | None:
    """A metric's baseline at one point (mean, std, runs); None when the point lacks it."""
    value = number(entry.get("values", {}).get(name))
    if value is None:
        return None
    std = number((entry.get("std") or {}).get(name))
    runs = entry.get("runs")
    return Measured(value, std, runs if isinstance(runs, int) and runs > 0 else 1)


def entry(axes: Mapping[str, Any], runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A point's entry from the final values of its completed runs (mean and std over repeats)."""
    names = sorted({name for values in runs for name in values})
    found: dict[str, Any] = {"axes": {k: _plain(v) for k, v in axes.items()}, "runs": len(runs)}
    found["values"] = {}
    spread: dict[str, float] = {}
    for name in names:
        numbers = [number(values.get(name)) for values in runs]
        kept = [v for v in numbers if v is not None and math.isfinite(v)]
        if len(kept) != len(runs):
            continue  # a value some run lacks, or nan: nothing to compare with
        point = Measured.of(kept)
        if not math.isfinite(point.mean):
            continue  # the mean of huge values overflowed
        found["values"][name] = point.mean
        if point.std is not None and math.isfinite(point.std):
            spread[name] = point.std
    if spread:
        found["std"] = spread
    return found


def _plain(value: Any) -> Any:
    """An axis value as strict JSON holds it (its text when it cannot)."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return str(value)
    return value


def write(path: Path, header: dict[str, Any], points: dict[str, dict[str, Any]]) -> int:
    """Merge the points into the file (others kept as they were); return how many it holds."""
    try:
        old = read(path) or {}
    except GateError:
        old = {}  # an unreadable file is replaced: the update is what was asked for
    merged = {**old.get("points", {}), **points}
    data = {**header, "points": dict(sorted(merged.items()))}
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, indent=2, sort_keys=False, allow_nan=False, ensure_ascii=False)
    layout.atomic_write_text(path, text + "\n")
    return len(merged)
