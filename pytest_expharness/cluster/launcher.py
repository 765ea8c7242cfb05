"""A pytest session run with --exp-slurm: submit the selected tests, then wait or detach."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import pytest

from ..catalog.records import record_without_run
from ..plan import spec
from ..session.state import SessionState
from ..sweep import outcomes
from . import slurm


def _points(items: list[pytest.Item], state: SessionState) -> dict[str, Any]:
    """What the table needs of each experiment point, should its task die before it runs."""
    settings = state.settings
    found = {}
    for item in items:
        if not spec.uses_exp(item):
            continue
        built = spec.build(item, state.overrides, settings.testing, settings.repeats)
        found[item.nodeid] = record_without_run(
            built, settings.root, state.stamp, False, item.nodeid, outcomes.NOT_CALLED
        )
    return found


def submit(
    session: pytest.Session, state: SessionState, say: Callable[[str], None]
) -> tuple[Path, str]:
    """Write the job files and submit the array; return the job folder and job id."""
    config = session.config
    nodeids = [item.nodeid for item in session.items]
    targets = [slurm.target(item.path, item.nodeid) for item in session.items]
    chunk = config.getoption("exp_slurm_chunk")
    parallel = config.getoption("exp_slurm_parallel")
    slurm.check(nodeids)
    options = [*config.getini("exp_slurm_options"), *config.getoption("exp_slurm_opt")]
    folder = slurm.job_folder(state.settings.root, state.stamp)
    grace = config.getoption("exp_slurm_grace")
    plan = slurm.Plan(folder, nodeids, targets, chunk, parallel, options, grace)
    session_data = {
        "stamp": state.stamp,
        "command": state.command,
        "provenance": state.provenance(),
        "rootdir": str(config.rootpath),
        "planned": state.planned,  # the tasks each see their own share of the items
        "columns": list(state.settings.columns),  # what the tables add (--exp-columns)
        "baseline_update": state.settings.baseline_update,  # the tables' end writes them
    }
    args = slurm.passthrough(config)
    points = _points(list(session.items), state)
    here = Path(config.invocation_params.dir)
    script = slurm.write_files(plan, here, args, session_data, points)
    job_id = slurm.submit(plan, script)
    shown = folder.relative_to(here) if folder.is_relative_to(here) else folder
    say(
        f"submitted SLURM job {job_id}: {len(nodeids)} tests in {plan.tasks} array tasks "
        f"({chunk} per task{f', at most {parallel} at once' if parallel else ''}); "
        f"files in {shown}"
    )
    return folder, job_id


def run(session: pytest.Session, state: SessionState, say: Callable[[str], None]) -> list[Any]:
    """Submit, then (unless detached) wait and collect; return the tables."""
    from ..live.terminal import progress_seconds
    from .wait import finish_job

    every = progress_seconds(session.config)  # a bad ini value stops us before sbatch
    folder, job_id = submit(session, state, say)
    if session.config.getoption("exp_slurm_detach"):
        root = state.settings.root
        say(f"detached: collect later with `expharness --root {root} collect {state.stamp}`")
        return []
    try:
        tables, records, states = finish_job(folder, state.settings.root, state.stamp, say, every)
    except KeyboardInterrupt:
        say(
            f"stopped waiting; SLURM job {job_id} goes on: collect it with "
            f"`expharness --root {state.settings.root} collect {state.stamp}`"
        )
        raise
    _report_items(session, records, states, folder)
    return tables


def _report_items(
    session: pytest.Session, records: list[dict[str, Any]], states: dict[int, str], folder: Path
) -> None:
    """Give pytest a report per test, as if it had run here: the usual summary and exit code."""
    chunk = session.config.getoption("exp_slurm_chunk")
    by_node: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_node.setdefault(str(record.get("node_id")), []).append(record)
    for index, item in enumerate(session.items):
        state = states.get(index // chunk, "UNKNOWN")
        found = by_node.get(item.nodeid)
        reason = f"SLURM task {index // chunk} ended {state}; see {folder}/logs/"
        if found:
            status = found[0]["status"]
            reason = found[0].get("reason") or reason
        else:
            status = "completed" if state == "COMPLETED" else "failed"
        outcome: Literal["passed", "failed", "skipped"] = (
            "passed"
            if status in ("completed", "reused")
            else "skipped"
            if status in ("skipped", "pruned")
            else "failed"
        )
        longrepr: Any = None
        if outcome == "failed":
            longrepr = f"{status} on SLURM: {reason}"
        elif outcome == "skipped":
            longrepr = (str(item.path), item.location[1] or 0, f"Skipped: {reason}")
        report = pytest.TestReport(
            item.nodeid, item.location, {}, outcome, longrepr, "call", user_properties=[]
        )
        item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
        item.ihook.pytest_runtest_logreport(report=report)
        item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
