"""Run records: the plain data a finished run sends to the controller.

A finished run's record (plain JSON-able data) rides on its teardown report's
`user_properties`, which pytest-xdist carries from the workers; the controller,
or the lone process without xdist, collects them (see plugin.py). No shared
file is written by a worker.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def make_record(config: dict[str, Any], summary: dict[str, Any], path: Path) -> dict[str, Any]:
    """Return the plain-data record of a run, from its config and summary (live or on disk)."""
    header = config.get("experiment", {})
    parameters = config.get("parameters", {})
    error = summary.get("error") or {}
    crash = summary.get("crash") or {}
    reason = summary.get("reason")
    if error:
        reason = f"{error.get('type')}: {error.get('message')}"
    elif crash:
        reason = crash.get("reason")
    metric = header.get("main_metric") or {}
    return {
        "experiment": header.get("name"),
        "session": header.get("session"),
        "run_id": header.get("run_id"),
        "path": str(path),
        "sweep": str(path.parent),
        "node_id": header.get("node_id"),
        "status": summary.get("status"),
        "reason": reason,
        "testing": bool(header.get("testing")),
        "axes": {name: parameters.get(name) for name in header.get("axes") or []},
        "order": header.get("order", 0),
        "repeat": header.get("repeat", 0),
        "repeats": header.get("repeats", 1),
        "seed": header.get("seed"),
        "duration": summary.get("duration"),
        "metrics": {name: s.get("final") for name, s in (summary.get("metrics") or {}).items()},
        "results": {
            key: value
            for key, value in (summary.get("results") or {}).items()
            if key.startswith("results/")
        },
        "metric": metric.get("name"),
        "mode": metric.get("mode", "min"),
        "source_hash": header.get("source_hash"),
        "module": header.get("module"),
        "test_class": header.get("test_class"),
        "params": parameters,
        "tags": list(header.get("tags") or []),
        "label": header.get("label"),
        "git_commit": header.get("git_commit"),
        "git_dirty": header.get("git_dirty"),
        "started": summary.get("started"),
        "started_unix": summary.get("started_unix"),
        "all_results": dict(summary.get("results") or {}),
    }


def record_from_folder(path: Path, repair: bool = True) -> dict[str, Any]:
    """Return the record of an archived run folder (crashes inferred, and with repair recorded)."""
    from .reading import read_run
    from .yamltext import load

    summary = read_run(path, repair=repair)
    config = load((path / "config.yaml").read_text("utf-8"))
    return make_record(config, summary, path)


def record_without_run(
    built: Any, root: Path, stamp: str, debug: bool, nodeid: str, outcome: dict[str, Any]
) -> dict[str, Any]:
    """A table row for a point that failed or was skipped before its run could start."""
    from . import archive
    from .store import encode_param

    error = outcome.get("error") or {}
    sweep = archive.experiment_parent(
        root, built.experiment, stamp, testing=built.testing, debug=debug
    )
    return {
        "experiment": built.experiment,
        "session": stamp,
        "run_id": archive.run_id_for(built.axes, built.callspec_id),
        "path": None,
        "sweep": str(sweep),
        "node_id": nodeid,
        "status": outcome["status"],
        "reason": f"{error['type']}: {error['message']}" if error else outcome.get("reason"),
        "testing": built.testing,
        "axes": {name: encode_param(value) for name, value in built.axes.items()},
        "order": built.order,
        "repeat": built.repeat,
        "repeats": built.repeats,
        "seed": built.seed,
        "duration": None,
        "metrics": {},
        "results": {},
        "metric": built.metric,
        "mode": built.mode,
    }
