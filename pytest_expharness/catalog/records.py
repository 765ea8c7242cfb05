"""Run records: the plain data a finished run sends to the controller.

A finished run's record rides on its teardown report's `user_properties`, which
pytest-xdist carries from the workers; the controller, or the lone process
without xdist, collects them (see plugin.py). No shared file is written by a
worker.

execnet, which carries the reports, refuses anything but exact builtin types (a
numpy float64 is a float subclass, and kills the worker that sends it). So every
record is made plain where it is made (`plain`), and `for_report` checks it once
more before it leaves: a record that still does not serialise travels as a stub
naming its folder, which the controller reads instead (`expand`).
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

STUB = "expharness_stub"
SHARED_TEXT = 80  # characters: a shorter string value is shared between records (see Sharer)


def plain(value: Any) -> Any:
    """Return value with numpy scalars and arrays, tuples and scalar subclasses as plain JSON types.

    Anything else without a JSON form is left as it is, for `for_report` to catch.
    """
    kind = type(value)
    if kind is str:
        return value if value.isascii() or _encodes(value) else repr(value)  # as config.yaml does
    if value is None or kind is int or kind is float or kind is bool:
        return value
    if kind.__module__ == "numpy" and hasattr(value, "tolist"):  # numpy is loaded already
        return plain(value.tolist())
    if isinstance(value, Mapping):
        return {k if type(k) is str else str(plain(k)): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, str):
        return plain(str.__str__(value))  # str() of a str enum would give its name
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return value


def _encodes(text: str) -> bool:
    """Whether text encodes as UTF-8 (a lone surrogate does not, and no JSON reader takes it)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def for_report(record: dict[str, Any]) -> dict[str, Any] | None:
    """Return the record as it can travel to the controller: itself, or a stub naming its folder.

    None when not even the stub can travel (its path does not encode); the
    controller then reads the folder as one whose record never arrived.
    """
    sent: dict[str, Any] = plain(record)
    problem = _unsendable(sent)
    if problem is None:
        return sent
    note = f"its record could not be sent as plain data ({problem})"
    stub = {STUB: note, "path": record.get("path"), "node_id": record.get("node_id")}
    stub["sweep"] = record.get("sweep")
    if record.get("path"):
        _log(Path(record["path"]), f"{note}; the controller reads it from this folder")
    return stub if _unsendable(stub) is None else None


def _unsendable(record: dict[str, Any]) -> str | None:
    try:  # after plain(), exact types only; text that encodes: what execnet needs too
        json.dumps(record, ensure_ascii=False).encode("utf-8")
        execnet = sys.modules.get("execnet")  # loaded where xdist runs
        if execnet is not None:
            execnet.dumps(record)  # it also refuses ints below -2**31 (execnet 2.1)
    except Exception as error:
        return f"{type(error).__name__}: {error}"
    return None


def expand(value: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """Return the record a report carried (a stub read from its folder), and what to say."""
    if STUB not in value:
        return value, None
    where = value.get("path")
    said = f"expharness: the run of {value.get('node_id')}: {value[STUB]}"
    if not where:
        return None, said
    try:
        return record_from_folder(Path(where)), f"{said}; read it from {where}"
    except (OSError, ValueError) as error:  # fill_gaps tries the folder once more
        return None, f"{said}; its folder {where} could not be read either: {error}"


def _log(folder: Path, text: str) -> None:
    from ..archive.logline import append_entry

    with contextlib.suppress(OSError):
        append_entry(folder, "WARNING", text)  # after the run: not in its counts


def _axes(header: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
    """A run's point in its sweep: a search's trial number first, then its axes."""
    axes = {name: parameters.get(name) for name in header.get("axes") or []}
    trial = header.get("trial")
    return {"trial": trial, **axes} if isinstance(trial, int) else axes


def make_record(config: dict[str, Any], summary: dict[str, Any], path: Path) -> dict[str, Any]:
    """Return the plain-data record of a run, from its config and summary (live or on disk)."""
    from ..archive.labels import notes_of

    header = config.get("experiment", {})
    parameters = config.get("parameters", {})
    error = summary.get("error") or {}
    crash = summary.get("crash") or {}
    reason = summary.get("reason")
    if error:
        reason = f"{error.get('type')}: {error.get('message')}"
    elif crash:
        reason = crash.get("reason")
    elif reason is None and header.get("resumed_from"):  # the table says it went on
        reason = f"resumed from {header['resumed_from']} at step {header.get('resumed_step')}"
    metric = header.get("main_metric") or {}
    made = {
        "experiment": header.get("name"),
        "session": header.get("session"),
        "run_id": header.get("run_id"),
        "path": str(path),
        "sweep": str(path.parent),
        "node_id": header.get("node_id"),
        "status": summary.get("status"),
        "reason": reason,
        "testing": bool(header.get("testing")),
        "axes": _axes(header, parameters),
        "order": header.get("order", 0),
        "repeat": header.get("repeat", 0),
        "repeats": header.get("repeats", 1),
        "seed": header.get("seed"),
        "attempt": header.get("attempt", 1),
        "duration": summary.get("duration"),
        "metrics": {name: s.get("final") for name, s in (summary.get("metrics") or {}).items()},
        "results": {
            key: value
            for key, value in (summary.get("results") or {}).items()
            if key.startswith("results/")
        },
        "components": {
            str(name): {"status": c.get("status"), "reason": c.get("reason"), "hint": c.get("hint")}
            for name, c in (summary.get("components") or {}).items()
            if isinstance(c, dict)
        },
        "metric": metric.get("name"),
        "mode": metric.get("mode", "min"),
        "source_hash": header.get("source_hash"),
        "module": header.get("module"),
        "test_class": header.get("test_class"),
        "params": parameters,
        "tags": list(header.get("tags") or []),
        "label": header.get("label"),
        "notes": notes_of(header),  # report.html shows them without reading config.yaml
        "git_commit": header.get("git_commit"),
        "git_dirty": header.get("git_dirty"),
        "started": summary.get("started"),
        "started_unix": summary.get("started_unix"),
        "all_results": dict(summary.get("results") or {}),
        "log": _log_counts(summary.get("log")),
        "resources": summary.get("resources")
        if isinstance(summary.get("resources"), dict)
        else None,
        "point": header.get("point"),  # the grid point, repeats aside (gates/baselines.py)
        "expectations": summary.get("expectations")
        if isinstance(summary.get("expectations"), list)
        else None,
        "baseline": summary.get("baseline") if isinstance(summary.get("baseline"), dict) else None,
    }
    return plain(made)  # type: ignore[no-any-return]


class Sharer:
    """Makes records read one by one share their keys and short strings.

    json.loads gives every record its own copy of each key and of values such as
    "completed" or the session stamp; a 10,000-run sweep's records would hold
    the same few hundred strings half a million times (about 30 MB).
    """

    def __init__(self) -> None:
        self.seen: dict[str, str] = {}

    def share(self, value: Any) -> Any:
        """Return value (plain JSON data) with its keys and short strings shared."""
        kind = type(value)
        if kind is dict:
            seen = self.seen
            return {
                (seen.setdefault(k, k) if type(k) is str else k): self.share(v)
                for k, v in value.items()
            }
        if kind is list:
            return [self.share(v) for v in value]
        if kind is str and len(value) <= SHARED_TEXT:
            return self.seen.setdefault(value, value)
        return value


def _log_counts(found: Any) -> dict[str, int] | None:
    """summary.json's `log` counts as {"warnings": N, "errors": M}; None for a run without them."""
    if not isinstance(found, dict):
        return None
    counts = {}
    for key in ("warnings", "errors"):
        value = found.get(key)
        counts[key] = value if type(value) is int and value >= 0 else 0
    return counts


def record_from_folder(path: Path, repair: bool = True) -> dict[str, Any]:
    """Return the record of an archived run folder (crashes inferred, and with repair recorded)."""
    from ..archive.yamltext import load
    from .reading import read_run

    summary = read_run(path, repair=repair)  # a dead run whose data was final: what it was
    config = load((path / "config.yaml").read_text("utf-8"))
    return make_record(config, summary, path)


def record_without_run(
    built: Any, root: Path, stamp: str, debug: bool, nodeid: str, outcome: dict[str, Any]
) -> dict[str, Any]:
    """A table row for a point that failed or was skipped before its run could start."""
    from ..archive import layout
    from ..archive.values import encode_param

    error = outcome.get("error") or {}
    sweep = layout.experiment_parent(
        root, built.experiment, stamp, testing=built.testing, debug=debug
    )
    made = {
        "experiment": built.experiment,
        "session": stamp,
        "run_id": layout.run_id_for(built.axes, built.callspec_id, explicit=built.explicit_ids),
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
        "attempt": built.attempt,
        "duration": None,
        "metrics": {},
        "results": {},
        "components": {},
        "metric": built.metric,
        "mode": built.mode,
        "log": None,
    }
    return plain(made)  # type: ignore[no-any-return]
