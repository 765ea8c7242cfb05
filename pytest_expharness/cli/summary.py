"""`expharness summary`: each experiment's runs by status, its newest session, its best run.

Everything comes from the index but the main metric, which the index does not
hold: it is read from the config.yaml header (`main_metric: {name, mode}`) of
the experiment's newest run, one file per experiment. A run's value of the
main metric is read as the sweep tables read it: the final value of the series
of that name, else the stored `results/<name>`; only completed (or reused)
runs with a number there can be best, as in the sweep tables.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from ..sweep.table import OK_STATUSES, _number
from .common import runs_text, text_table
from .filters import STATUSES, check_selection

T = TypeVar("T")
NEWEST_TRIED = 3  # runs whose header is read for the main metric, newest first


def main_metric(header: dict[str, Any]) -> tuple[str, str] | None:
    """Return (name, mode) of a config header's main metric, or None."""
    found = header.get("main_metric")
    if not isinstance(found, dict) or not isinstance(found.get("name"), str):
        return None
    return found["name"], "max" if found.get("mode") == "max" else "min"


def main_value(metrics: dict[str, Any], results: dict[str, Any], name: str) -> float | None:
    """A run's value of main metric `name`: the series' final value, else results/<name>.

    As sweep/table.metric_column reads it; `name` may also be a stored key itself.
    """
    if name in metrics:
        return _number(metrics[name])
    return _number(results[name] if name in results else results.get(f"results/{name}"))


def _rank(
    value: Callable[[T], float | None], status: Callable[[T], str], mode: str
) -> Callable[[T], tuple[int, float]]:
    sign = 1.0 if mode == "min" else -1.0

    def key(item: T) -> tuple[int, float]:
        found = value(item)
        usable = found is not None and status(item) in OK_STATUSES
        return (0, sign * found) if usable and found is not None else (1, 0.0)

    return key


def ranked(
    items: Iterable[T], value: Callable[[T], float | None], status: Callable[[T], str], mode: str
) -> tuple[list[T], T | None]:
    """Sort items best first by the main metric (the rest keep their order); return the best too.

    Only a completed (or reused) run with a number can be best, as in the sweep tables.
    """
    key = _rank(value, status, mode)
    order = sorted(items, key=key)
    return order, order[0] if order and key(order[0])[0] == 0 else None


def best_of(
    items: Iterable[T], value: Callable[[T], float | None], status: Callable[[T], str], mode: str
) -> T | None:
    """The first item `ranked` would put first, if it can be best (without sorting them all)."""
    key = _rank(value, status, mode)
    top = min(items, key=key, default=None)
    return top if top is not None and key(top)[0] == 0 else None


def _metric_of(root: Path, rows: list[dict[str, Any]]) -> tuple[str, str] | None:
    from ..catalog.damage import DamagedRun, read_config

    for row in rows[:NEWEST_TRIED]:
        try:
            return main_metric(read_config(root / row["path"]).get("experiment") or {})
        except (DamagedRun, OSError):
            continue
    return None


def _rows(root: Path, experiment: str | None) -> list[dict[str, Any]]:
    """Index rows, newest first, with what a summary needs (metrics only where they count)."""
    from ..catalog.index import query

    blob = "'[' || COALESCE(metrics, 'null') || ',' || COALESCE(results, 'null') || ']'"
    where, args = ("WHERE experiment = ?", (experiment,)) if experiment is not None else ("", ())
    found = query(
        root,
        f"SELECT experiment, session, run_id, status, path, {blob} FROM runs {where} "
        "ORDER BY started_unix DESC",
        args,
    )
    rows = []
    for name, session, run_id, status, path, values in found:
        metrics, results = json.loads(values) if status in OK_STATUSES else (None, None)
        rows.append(
            {"experiment": name, "session": session, "run_id": run_id, "status": status,
             "path": path, "metrics": metrics, "results": results}
        )  # fmt: skip
    return rows


def summarize(root: str | Path, experiment: str | None = None) -> list[dict[str, Any]]:
    """Return one entry per experiment (alphabetical), from the index."""
    base = Path(root)
    by_experiment: dict[str, list[dict[str, Any]]] = {}
    for row in _rows(base, experiment):
        by_experiment.setdefault(str(row["experiment"]), []).append(row)
    entries = []
    for name, rows in sorted(by_experiment.items()):
        statuses: dict[str, int] = {}
        for row in rows:
            statuses[str(row["status"])] = statuses.get(str(row["status"]), 0) + 1
        metric = _metric_of(base, rows)
        best = None
        if metric is not None:
            value = _value_of(metric[0])
            top = best_of(rows, value, lambda r: str(r["status"]), metric[1])
            if top is not None:
                best = {
                    "run_id": top["run_id"],
                    "session": top["session"],
                    "value": value(top),
                    "path": top["path"],
                }
        entries.append(
            {
                "experiment": name,
                "runs": len(rows),
                "statuses": dict(sorted(statuses.items(), key=lambda s: _status_order(s[0]))),
                "newest_session": rows[0]["session"],
                "main_metric": {"name": metric[0], "mode": metric[1]} if metric else None,
                "best": best,
            }
        )
    return entries


def _value_of(metric: str) -> Callable[[dict[str, Any]], float | None]:
    return lambda row: main_value(row["metrics"] or {}, row["results"] or {}, metric)


def _status_order(status: str) -> tuple[int, str]:
    return (STATUSES.index(status) if status in STATUSES else len(STATUSES), status)


def cmd_summary(args: argparse.Namespace) -> int:
    entries = summarize(args.root, args.experiment)
    if not entries:
        check_selection(args.root, experiment=args.experiment)  # no such experiment at all
    if args.json:
        print(json.dumps(entries, indent=2, default=str))
        return 0 if entries else 1
    if not entries:
        return 1
    statuses: list[str] = []
    for entry in entries:
        statuses.extend(s for s in entry["statuses"] if s not in statuses)
    statuses.sort(key=_status_order)
    body = []
    for entry in entries:
        metric, best = entry["main_metric"], entry["best"]
        body.append(
            [
                entry["experiment"],
                entry["runs"],
                *[entry["statuses"].get(s) for s in statuses],
                entry["newest_session"],
                f"{metric['name']} ({metric['mode']})" if metric else None,
                f"{best['session']}/{best['run_id']}" if best else None,
                best["value"] if best else None,
            ]
        )
    headers = ["experiment", "runs", *statuses, "newest session", "main metric", "best", "value"]
    print(text_table(body, headers))
    total = sum(e["runs"] for e in entries)
    print(f"\n{runs_text(total)} of {len(entries)} experiment{'s' if len(entries) != 1 else ''}")
    return 0


def add_command(commands: Any) -> None:
    """Register summary."""
    summary = commands.add_parser(
        "summary",
        help="per experiment: runs by status, the newest session, the best run",
        description="Per experiment: how many runs of each status, the newest session, and "
        "the best run by the main metric (session/run id, as show takes it).",
    )
    summary.add_argument("--experiment", help="only this experiment")
    summary.add_argument("--json", action="store_true")
    summary.set_defaults(handler=cmd_summary)
