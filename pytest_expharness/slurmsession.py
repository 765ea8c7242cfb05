"""A pytest session run with --exp-slurm: submit the selected tests, then wait or detach."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from . import outcomes, slurm, spec
from .records import record_without_run
from .session import SessionState


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
    chunk = config.getoption("exp_slurm_chunk")
    parallel = config.getoption("exp_slurm_parallel")
    slurm.check(nodeids, chunk, parallel, config)
    options = [*config.getini("exp_slurm_options"), *config.getoption("exp_slurm_opt")]
    folder = slurm.job_folder(state.settings.root, state.stamp)
    plan = slurm.Plan(folder, nodeids, chunk, parallel, options)
    session_data = {
        "stamp": state.stamp,
        "command": state.command,
        "provenance": state.provenance(),
        "rootdir": str(config.rootpath),
    }
    args = slurm.passthrough(config, state.settings.root)
    script = slurm.write_files(plan, Path(config.rootpath), args, session_data, _points(
        list(session.items), state
    ))  # fmt: skip
    job_id = slurm.submit(plan, script)
    say(
        f"submitted SLURM job {job_id}: {len(nodeids)} tests in {plan.tasks} array tasks "
        f"({chunk} per task{f', at most {parallel} at once' if parallel else ''}); "
        f"files in {folder}"
    )
    return folder, job_id


def run(session: pytest.Session, state: SessionState, say: Callable[[str], None]) -> list[Any]:
    """Submit, then (unless detached) wait and collect; return the tables."""
    from .slurmwait import finish_job

    folder, job_id = submit(session, state, say)
    if session.config.getoption("exp_slurm_detach"):
        root = state.settings.root
        say(f"detached: collect later with `expharness --root {root} collect {state.stamp}`")
        return []
    try:
        tables, records = finish_job(folder, state.settings.root, state.stamp, say)
    except KeyboardInterrupt:
        say(
            f"stopped waiting; SLURM job {job_id} goes on: collect it with "
            f"`expharness --root {state.settings.root} collect {state.stamp}`"
        )
        raise
    session.testsfailed = sum(1 for r in records if r["status"] in ("failed", "crashed"))
    return tables
