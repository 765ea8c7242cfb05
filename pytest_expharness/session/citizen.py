"""How the plugin keeps out of sessions that run no experiment, and of pytest's own modes.

Loaded with the plugin, so it imports nothing but pytest. A session without
experiments gathers no provenance (no git), makes no session state and imports
no run module, with or without xdist: the controller hands its workers only
what is cheap (stamp, command line, its identity, overrides as given), and each
process gathers provenance itself when its first run writes config.yaml.
`--collect-only`, `--setup-only` and `--setup-plan` write nothing at all.
"""

from __future__ import annotations

from typing import Any

import pytest

WORKERINPUT_KEY = "expharness"
MARKER = "experiment"  # spec.MARKER, named here so collection need not import spec


class ExperimentWarning(pytest.PytestWarning):
    """A test is marked as an experiment but does not ask for `exp`: nothing is archived."""


def writes_nothing(config: pytest.Config) -> bool:
    """Tell whether this session only shows tests or fixtures (collect-only, setup-only/plan)."""
    option = config.option
    return bool(
        getattr(option, "collectonly", False)
        or getattr(option, "setuponly", False)
        or getattr(option, "setupplan", False)
    )


def command_line(config: pytest.Config) -> list[str]:
    """Return the session's command line as provenance records it."""
    return ["pytest", *config.invocation_params.args]


def worker_input(config: pytest.Config, stamp: str, given: dict[str, Any]) -> dict[str, Any]:
    """Return what a worker needs from its controller: only what costs nothing to gather.

    `given` is what the session state holds, if the controller made one (its
    stamp, overrides, and provenance a SLURM task read from its job's files).
    """
    from ..catalog.processes import this_process

    return {
        "stamp": stamp,
        "command": command_line(config),
        "controller": dict(this_process()),
        **given,
    }


def warn_markers_without_exp(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Warn about each test marked `experiment` that does not ask for the `exp` fixture.

    Under xdist every worker collects every test; only the first one warns, so
    the summary names each test once.
    """
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and workerinput.get("workerid", "gw0") != "gw0":
        return
    for item in items:
        if "exp" in getattr(item, "fixturenames", ()) or item.get_closest_marker(MARKER) is None:
            continue
        item.warn(
            ExperimentWarning(
                f"{item.nodeid} is marked @pytest.mark.experiment but does not ask for the "
                "`exp` fixture, so it runs as a plain test and nothing is archived; "
                "add `exp` to its arguments, or remove the marker"
            )
        )


def ran_experiments(config: pytest.Config, records: list[Any], stamp: str) -> bool:
    """Tell whether this session ran an experiment: a record came, or a run folder was made."""
    if records:
        return True
    from ..archive.layout import TESTING_DIR, archive_root

    try:
        root = archive_root(config)
    except (OSError, ValueError):
        return False
    bases = (root, root / TESTING_DIR)
    return any(p.is_dir() for base in bases if base.is_dir() for p in base.glob(f"*/{stamp}"))
