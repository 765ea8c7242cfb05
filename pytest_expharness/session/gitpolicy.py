"""The git policy of a session: warn once about uncommitted changes, or refuse to start.

Every run records the commit it ran at and whether the work tree had changes
(`git_dirty`); a run made on a dirty tree cannot be checked out again. So by
default a session that would run experiments on a dirty tree warns once,
naming up to five changed paths (relative to the repository top, "and N
more"). Files of an archive never count (see provenance.changed_paths).

The warning is a DirtyTreeWarning, a pytest warning: it is printed as soon as
collection ends (a long sweep can be stopped there and the changes committed)
and listed in the warnings summary. A filter silences both:
`-W ignore::pytest_expharness.DirtyTreeWarning`, or the same in the
`filterwarnings` ini key. An "error" filter (`-W error`) leaves it a warning:
refusing is what `--exp-require-clean` is for.

`--exp-require-clean` (ini `exp_require_clean = true`) refuses such a session
as a usage error (exit code 4) listing the changes, before any run starts. It
also refuses outside git and in a repository without commits: their runs
could record no commit.

Neither applies to a session that runs no experiment, to --collect-only,
--setup-only and --setup-plan, to --exp-debug and --exp-testing sessions
(their runs are scratch: replaced each session, or kept apart in _testing/,
which the archive's .gitignore leaves out), nor to the tasks of a SLURM job
(the session that submitted them was checked). Under xdist the first worker
warns (its warning reaches the controller, which prints it once) and every
worker refuses, so that none runs anything.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

SHOWN = 5  # changed paths a message names; the rest are counted
DIRTY, NO_COMMITS, NO_GIT, GIT_FAILED = "dirty", "no commits", "no git", "git failed"


class DirtyTreeWarning(pytest.PytestWarning):
    """The session runs experiments on a git work tree with changes no commit holds."""


def check(config: pytest.Config, items: Sequence[pytest.Item]) -> None:
    """Warn about uncommitted changes, or raise pytest.UsageError with --exp-require-clean."""
    if not _applies(config) or not any("exp" in getattr(i, "fixturenames", ()) for i in items):
        return
    refuse = required(config)
    workerinput = getattr(config, "workerinput", None)
    if not refuse and workerinput is not None and workerinput.get("workerid", "gw0") != "gw0":
        return  # every worker collects the same tests: one of them warns
    from ..archive.layout import archive_root

    found = tree_problem(Path(config.rootpath), archive_root(config), strict=refuse)
    if found is None:
        return
    kind, problem = found
    if refuse:
        ini = f" in {config.inipath.name}" if config.inipath is not None else ""
        given = config.getoption("exp_require_clean", False)
        source = "--exp-require-clean" if given else f"exp_require_clean{ini}"
        raise pytest.UsageError(f"{source}: {problem}; {_REFUSED[kind].format(source=source)}")
    _warn(f"{problem}; {_WARNED[kind]}")


_WARNED = {
    DIRTY: "commit them to make the runs reproducible, or keep them in each run with "
    "--exp-reproducible (code/uncommitted.patch); --exp-require-clean refuses such a session",
    NO_COMMITS: "make a first commit to make the runs reproducible; --exp-require-clean "
    "refuses such a session",
}
_REFUSED = {
    DIRTY: "commit or stash them first (the archive's own files do not count)",
    NO_COMMITS: "make a first commit",
    NO_GIT: "run it in a git checkout, or without {source}",
    GIT_FAILED: "see `git status` there",
}


def required(config: pytest.Config) -> bool:
    """Whether this session asks for a clean work tree (--exp-require-clean or the ini key)."""
    return bool(config.getoption("exp_require_clean", False) or config.getini("exp_require_clean"))


def _applies(config: pytest.Config) -> bool:
    from .citizen import writes_nothing

    option = config.option
    return not (
        writes_nothing(config)
        or getattr(option, "exp_slurm_task", None)
        or getattr(option, "exp_debug", False)
        or getattr(option, "exp_testing", False)
    )


def tree_problem(rootdir: Path, archive_root: Path | None, strict: bool) -> tuple[str, str] | None:
    """Say what keeps the runs of a session at rootdir from being checked out again, if anything.

    Returns the kind of problem (DIRTY, NO_COMMITS, NO_GIT, GIT_FAILED) and
    what it is; outside git, or when git fails, only when `strict`.
    """
    from . import provenance

    top = provenance.work_tree_top(rootdir)
    if top is None:
        note = provenance.no_commit_note(rootdir)
        return (NO_GIT, f"{rootdir} is in no git work tree ({note})") if strict else None
    changes = provenance.changed_paths(top, archive_root)
    if changes is None:
        return (GIT_FAILED, f"`git status` failed in {top}") if strict else None
    commit = provenance.head_commit(top)
    if commit is None:
        pending = f" (uncommitted: {listed(changes)})" if changes else ""
        return (
            NO_COMMITS,
            f"the git repository {top} has no commits yet, so runs record none{pending}",
        )
    if not changes:
        return None
    return DIRTY, (
        f"the git work tree {top} has uncommitted changes: {listed(changes)} "
        f"(runs record commit {commit[:12]} and git_dirty: true)"
    )


def listed(paths: list[str], shown: int = SHOWN) -> str:
    """Name the first `shown` paths and count the rest: 'a.py, b.py and 3 more'."""
    names = ", ".join(paths[:shown])
    rest = len(paths) - shown
    return f"{names} and {rest} more" if rest > 0 else names


def _warn(message: str) -> None:
    """Issue a DirtyTreeWarning that an "ignore" filter hides and an "error" filter only shows."""
    with warnings.catch_warnings():
        shown = [("always", *f[1:]) if f[0] == "error" else f for f in warnings.filters]
        warnings.filters[:] = shown  # type: ignore[index]  # a list at run time
        warnings.warn_explicit(
            message, DirtyTreeWarning, "pytest-expharness", 0, module="pytest_expharness"
        )


class _Echo:
    """Prints a DirtyTreeWarning the moment it is recorded (an xdist worker's: when it arrives)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl
    def pytest_warning_recorded(self, warning_message: Any) -> None:
        """Print a dirty-tree warning at once, not only in the warnings summary."""
        if not isinstance(warning_message.message, DirtyTreeWarning):
            return
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"WARNING: {warning_message.message}", yellow=True, bold=True)


def listen(config: pytest.Config) -> None:
    """Print dirty-tree warnings as they come, in the process that owns the terminal."""
    if not hasattr(config, "workerinput"):
        config.pluginmanager.register(_Echo(config), "expharness-gitpolicy")
