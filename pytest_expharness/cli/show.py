"""The `expharness` subcommands about one or two runs: show, diff."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..catalog.runnames import FORMS
from ..catalog.runnames import HELP as RUN_HELP
from .common import differing, shown_path, text_table


def _cell(value: Any) -> Any:
    """A value in one table cell: a scalar as it is, a list or mapping as compact JSON."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return json.dumps(value, default=str, separators=(",", ":"))


def _data_text(data: dict[str, Any]) -> str:
    """A component's data in one cell: `k_eff=8.5, modes=[1,2]`."""
    return ", ".join(
        f"{k}={v if isinstance(v, str) else json.dumps(v, default=str, separators=(',', ':'))}"
        for k, v in data.items()
    )


def _files(run: Any) -> tuple[list[Path], list[Path]]:
    """The artifacts and plots a run's summary lists, as paths."""
    plots = [run.path / str(p) for p in run.summary.get("plots") or []]
    return run.artifacts, plots


def cmd_show(args: argparse.Namespace) -> int:
    from ..archive.labels import notes_of
    from ..catalog.loading import load_run
    from ..report.runreport import git_text

    run = load_run(args.run, root=args.root)
    summary = run.summary
    head = run.config.get("experiment", {})
    artifacts, plots = _files(run)
    if args.json:
        shown = {
            "path": str(run.path),
            "config": run.config,
            "summary": summary,
            "data": run.data,
            "notes": notes_of(head),
            "artifacts": [str(p) for p in artifacts],
            "plots": [str(p) for p in plots],
        }
        print(json.dumps(shown, default=str, indent=2))
        return 0
    print(f"{head.get('name')} / {run.run_id}  ({shown_path(run.path)})")
    print(
        f"status: {run.status}" + (f" ({summary.get('reason')})" if summary.get("reason") else "")
    )
    error = summary.get("error")
    if error:
        print(f"error: {error.get('type')}: {error.get('message')}")
    print(
        f"session: {head.get('session')}, started {summary.get('started')}, "
        f"duration {summary.get('duration')} s, git {git_text(head)}"
    )
    tags = ", ".join(str(t) for t in head.get("tags") or [])
    print(f"label: {head.get('label')}" + (f", tags: {tags}" if tags else ""))
    for note in notes_of(head):
        when = note.get("at") or "(no time)"
        print(f"  note {when} [{note.get('label')}]: {note.get('note')}")
    if run.params:
        print()
        rows = [[k, "None" if v is None else _cell(v)] for k, v in run.params.items()]
        print(text_table(rows, ["parameter", "value"]))  # None said, not an empty cell
    metrics = summary.get("metrics") or {}
    if metrics:
        print()
        body = [
            [n, s.get("final"), s.get("min"), s.get("max"), s.get("count")]
            for n, s in metrics.items()
        ]
        print(text_table(body, ["series", "final", "min", "max", "count"]))
    results = summary.get("results") or {}
    if results:
        print()
        print(text_table([[k, _cell(v)] for k, v in results.items()], ["result", "value"]))
    components = summary.get("components") or {}
    if components:
        print()
        body = [
            [n, c.get("status"), c.get("reason"), c.get("hint"), _data_text(c.get("data") or {})]
            for n, c in components.items()
        ]
        print(text_table(body, ["component", "status", "reason", "hint", "data"]))
    for title, paths in (("artifacts", artifacts), ("plots", plots)):
        if paths:
            print(f"\n{title}:")
            for path in paths:
                print(f"  {shown_path(path)}")
    problems = summary.get("problems") or []
    if problems:  # why a file above may be missing
        print("\nproblems:")
        for problem in problems:
            print(f"  {problem}")
    return 0


PROVENANCE = (
    "git_commit",
    "git_branch",
    "git_dirty",
    "host",
    "user",
    "python",
    "platform",
    "packages",
    "command",
    "pytest_plugins",
    "randomly_seed",
    "base_config",
    "cli_overrides",
    "source_hash",
    "testing",
)


def cmd_diff(args: argparse.Namespace) -> int:
    from ..catalog.loading import load_run

    first, second = (load_run(run, root=args.root) for run in (args.first, args.second))
    rows = []
    for name in differing([first.params, second.params]):
        rows.append(["parameter", name, first.params.get(name), second.params.get(name)])
    heads = [r.config.get("experiment", {}) for r in (first, second)]
    for name in PROVENANCE:
        a, b = heads[0].get(name), heads[1].get(name)
        if json.dumps(a, default=str, sort_keys=True) != json.dumps(b, default=str, sort_keys=True):
            rows.append(["provenance", name, a, b])
    if args.json:
        keys = ["kind", "name", "first", "second"]
        print(json.dumps([dict(zip(keys, r, strict=True)) for r in rows], indent=2, default=str))
    elif rows:
        print(text_table(rows, ["", "name", first.run_id, second.run_id]))
    else:
        print("same parameters and provenance")
    return 0


def add_commands(commands: Any) -> None:
    """Register show and diff."""
    show = commands.add_parser(
        "show",
        help="one run: status, parameters, metrics, results, components, artifacts and plots",
        description="Show one run. RUN is a run folder's path, or a name:\n\n" + FORMS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    show.add_argument("run", metavar="RUN", help=RUN_HELP)
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=cmd_show)
    diff = commands.add_parser(
        "diff", help="parameters and provenance that differ between two runs"
    )
    diff.add_argument("first", metavar="RUN", help=RUN_HELP)
    diff.add_argument("second", metavar="RUN", help=RUN_HELP)
    diff.add_argument("--json", action="store_true")
    diff.set_defaults(handler=cmd_diff)
