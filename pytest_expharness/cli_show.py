"""The `expharness` subcommands about one or two runs: show, diff."""

from __future__ import annotations

import argparse
import json
from typing import Any

from .cli import _table, differing


def cmd_show(args: argparse.Namespace) -> int:
    from .loading import load_run

    run = load_run(args.run, root=args.root)
    summary = run.summary
    if args.json:
        print(
            json.dumps(
                {"path": str(run.path), "config": run.config, "summary": summary},
                default=str,
                indent=2,
            )
        )
        return 0
    head = run.config.get("experiment", {})
    print(f"{head.get('name')} / {run.run_id}  ({run.path})")
    print(
        f"status: {run.status}" + (f" ({summary.get('reason')})" if summary.get("reason") else "")
    )
    error = summary.get("error")
    if error:
        print(f"error: {error.get('type')}: {error.get('message')}")
    print(
        f"session: {head.get('session')}, started {summary.get('started')}, "
        f"duration {summary.get('duration')} s, git {head.get('git_commit')}"
    )
    print()
    print(_table([[k, v] for k, v in run.params.items()], ["parameter", "value"]))
    metrics = summary.get("metrics") or {}
    if metrics:
        print()
        body = [
            [n, s.get("final"), s.get("min"), s.get("max"), s.get("count")]
            for n, s in metrics.items()
        ]
        print(_table(body, ["series", "final", "min", "max", "count"]))
    components = summary.get("components") or {}
    if components:
        print()
        body = [[n, c["status"], c.get("reason"), c.get("hint")] for n, c in components.items()]
        print(_table(body, ["component", "status", "reason", "hint"]))
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
    from .loading import load_run

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
        print(_table(rows, ["", "name", first.run_id, second.run_id]))
    else:
        print("same parameters and provenance")
    return 0


def add_commands(commands: Any) -> None:
    """Register show and diff."""
    show = commands.add_parser("show", help="one run: config, status, metrics, components")
    show.add_argument("run", help="run id, session/run id, unique prefix or path")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=cmd_show)
    diff = commands.add_parser(
        "diff", help="parameters and provenance that differ between two runs"
    )
    diff.add_argument("first", metavar="RUN")
    diff.add_argument("second", metavar="RUN")
    diff.add_argument("--json", action="store_true")
    diff.set_defaults(handler=cmd_diff)
