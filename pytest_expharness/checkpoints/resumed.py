"""Resuming a run that ended early from its checkpoint: what the new run takes over.

The new run takes the old run's newest checkpoint into its own folder (a hard
link), carries the old points up to the checkpoint's step into its own series
(so its metrics.csv reads as one run; the experiment goes on from the next
step), records `resumed_from`, `resumed_step` and `config_changes`, and labels
the old run `superseded`.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from ..archive import seriesfiles
from ..archive.labels import change_label
from ..archive.locks import update_config


def points_until(folder: Path, step: int) -> dict[str, list[tuple[int, float, float]]]:
    """Each series' (step, value, time) points up to and including `step`, in their order."""
    carried: dict[str, list[tuple[int, float, float]]] = {}
    for name, cols in seriesfiles.read_any(folder).items():
        points = zip(cols.steps, cols.values, cols.times, strict=True)
        carried[name] = [(int(s), v, t) for s, v, t in points if int(s) <= step]
    return carried


def resume_from(resumed: dict[str, Any] | None, checkpoints: Any, tracker: Any) -> dict[str, Any]:
    """Take the old run's checkpoint and points; return the config.yaml fields saying so."""
    if not resumed:
        return {}
    old = Path(resumed["folder"])
    step = checkpoints.inherit(old)
    if step is None:  # its checkpoint went away since it was found
        return {}
    for name, points in points_until(old, step).items():
        for at, value, when in points:
            tracker.track_slow(name, value, at, when)
    resumed["step"] = step
    return {
        "resumed_from": resumed["run_id"],
        "resumed_step": step,
        "config_changes": resumed["changes"],
    }


def supersede(resumed: dict[str, Any] | None, by: str) -> None:
    """Label the resumed run superseded, with a note naming the run that resumed it."""
    if not resumed:
        return

    def change(config: dict[str, Any]) -> None:
        change_label(config["experiment"], "superseded", f"resumed by {by}")

    with contextlib.suppress(OSError, ValueError, KeyError):  # the new run stands regardless
        update_config(Path(resumed["folder"]), change)
