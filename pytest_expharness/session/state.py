"""State shared by every run of one pytest session, in one process.

The controller (or the lone process without xdist) makes it; under xdist the
controller hands each worker plain data in `workerinput` (stamp, command line,
its identity, overrides), so every worker uses the same session stamp and
overrides. Provenance is not handed over: it costs git calls, so each process
gathers it on first use, when its first run writes config.yaml (the same
checkout, so the same values; the command line is the controller's).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ..archive import layout
from ..gates.check import GateOptions
from ..plan import params
from ..plan.configfile import load_config_file
from ..plan.params import OverrideError
from ..plan.spec import Overrides
from . import provenance
from .citizen import WORKERINPUT_KEY, command_line

__all__ = ["WORKERINPUT_KEY", "OverrideError", "SessionState", "Settings", "create"]


@dataclass(frozen=True)
class Settings:
    """What the options ask for, resolved against the rootdir."""

    root: Path
    testing: bool = False
    debug: bool = False
    tags: tuple[str, ...] = ()
    config_file: str | None = None
    set_items: tuple[str, ...] = ()
    sweep_items: tuple[str, ...] = ()
    repeats: int | None = None
    resume: bool = False
    reproducible: bool = False
    no_cache: bool = False
    search_items: tuple[str, ...] = ()
    trials: int | None = None
    sampler: str = "tpe"
    pruner: str | None = None  # None: median, or none for trials with repeats
    seed: int | None = None
    sys_interval: float = 10.0  # seconds between two sys/ samples; 0: none
    columns: tuple[str, ...] = ()  # what --exp-columns adds to the tables (session/columns.py)
    gates: GateOptions = field(default_factory=GateOptions)  # --exp-baseline, --exp-tolerance
    baseline_update: bool = False  # --exp-baseline-update: the controller writes baseline files


def read_settings(config: pytest.Config) -> Settings:
    """Resolve the options of this session into Settings."""
    root = layout.archive_root(config)
    for folder in (root, *root.parents):
        if folder.exists():
            if not folder.is_dir():
                what = "exists" if folder == root else f"lies inside {folder}, which exists"
                raise OverrideError(f"--exp-root {root}: {what} and is not a folder")
            break
    tags = tuple(dict.fromkeys([*config.getini("exp_tags"), *config.getoption("exp_tags")]))
    return Settings(
        root=root,
        testing=bool(config.getoption("exp_testing")),
        debug=bool(config.getoption("exp_debug")),
        tags=tags,
        config_file=config.getoption("exp_config"),
        set_items=tuple(config.getoption("exp_set")),
        sweep_items=tuple(config.getoption("exp_sweep")),
        repeats=config.getoption("exp_repeats"),
        resume=bool(config.getoption("exp_resume")),
        reproducible=bool(config.getoption("exp_reproducible")),
        no_cache=bool(config.getoption("exp_no_cache")),
        search_items=tuple(config.getoption("exp_search")),
        trials=config.getoption("exp_trials"),
        sampler=config.getoption("exp_sampler"),
        pruner=config.getoption("exp_pruner"),
        seed=config.getoption("exp_seed"),
        sys_interval=config.getoption("exp_sys_interval"),
        columns=_columns(config),
        gates=_gates(config),
        baseline_update=bool(config.getoption("exp_baseline_update")),
    )


def _gates(config: pytest.Config) -> GateOptions:
    """--exp-baseline (or ini exp_baseline), --exp-baseline-strict and --exp-tolerance, checked."""
    from ..gates.bounds import GateError, parse_tolerance
    from ..gates.check import LABEL

    given = config.getoption("exp_baseline")
    if given is None:
        ini = str(config.getini("exp_baseline") or "").strip()
        given = {"": None, "false": None, "true": "file"}.get(ini.lower(), ini)
    if (
        given is not None
        and given != "file"
        and not (given.startswith(LABEL) and given[len(LABEL) :])
    ):
        hint = (
            f"; {given} is a path: put --exp-baseline after the paths to test"
            if os.path.exists(given)
            else ""
        )
        raise OverrideError(
            f"--exp-baseline={given}: compare with the baseline files (give no value) "
            f"or with labelled runs (label:NAME, e.g. label:baseline){hint}"
        )
    if given is not None and config.getoption("exp_baseline_update"):
        if config.getoption("exp_baseline") is not None:
            raise OverrideError(
                "--exp-baseline-update writes the baselines that --exp-baseline compares with; "
                "give one of them"
            )
        given = None  # ini exp_baseline = true: updating compares nothing
    try:
        tolerance = parse_tolerance(config.getoption("exp_tolerance") or "5%", "--exp-tolerance")
    except GateError as error:
        raise OverrideError(str(error)) from None
    strict = bool(config.getoption("exp_baseline_strict"))
    return GateOptions(baseline=given, strict=strict, tolerance=tolerance)


def _columns(config: pytest.Config) -> tuple[str, ...]:
    """The table columns --exp-columns (or ini exp_columns) asks for; a usage error if unknown."""
    from .columns import ColumnError, parse

    try:
        return parse(config.getoption("exp_columns") or config.getini("exp_columns") or ())
    except ColumnError as error:
        raise OverrideError(str(error)) from None


@dataclass
class SessionState:
    """One session's settings, stamp, overrides and (lazily) provenance."""

    settings: Settings
    stamp: str
    rootdir: Path
    command: list[str]
    overrides: Overrides = field(default_factory=Overrides)
    live_log: bool = False
    is_worker: bool = False
    slurm_task: bool = False
    interrupted: bool = False
    controller: dict[str, Any] | None = None  # the controller's process (pid, start, host)
    pytest_config: Any = None  # read for provenance only when it is gathered
    planned: dict[str, int] = field(default_factory=dict)  # runs meant, by experiment
    _provenance: dict[str, Any] | None = None
    _resume: Any = None
    _reproducible: Any = None

    def resume_index(self) -> Any:
        """Return this process's index of completed runs (for --exp-resume)."""
        if self._resume is None:
            from ..plan.resume import ResumeIndex

            own = self.slurm_task and _restarted()  # a requeued task resumes its own runs
            self._resume = ResumeIndex(self.settings.root, self.stamp, own_session=own)
        return self._resume

    def provenance(self) -> dict[str, Any]:
        """Return the session provenance, gathering it on first use."""
        if self._provenance is None:
            self._provenance = provenance.collect(
                self.rootdir, self.command, self.settings.root, self.pytest_config
            )
        return self._provenance

    def reproducible(self) -> Any:
        """Return the --exp-reproducible extras of this process (None without the flag)."""
        if self.settings.reproducible and self._reproducible is None:
            from .snapshot import Reproducible

            self._reproducible = Reproducible.gather(self.rootdir, self.settings.root)
        return self._reproducible

    def for_worker(self) -> dict[str, Any]:
        """Return what a worker needs, as plain data: provenance only if gathered already."""
        found = {
            "stamp": self.stamp,
            "command": self.command,
            "controller": self.controller,
            "from_file": self.overrides.from_file,
            "from_cli": self.overrides.from_cli,
            "file_path": self.overrides.file_path,
            "sweep": self.overrides.sweep,
            "search": self.overrides.search,
        }
        if self._provenance is not None:  # a SLURM task's, read from its job's files
            found["provenance"] = self._provenance
        return found


def create(
    config: pytest.Config, stamp: str, read_task: Callable[[Path], dict[str, Any]]
) -> SessionState:
    """Make the session state for this process (worker data wins under xdist).

    `read_task` reads what a SLURM task reuses of its submitting session
    (cluster/slurm.py's read_session); the cluster layer sits above this one.
    """
    settings = read_settings(config)
    live_cli = config.getini("log_cli") or config.getoption("log_cli_level", None) is not None
    live = config.getoption("capture", "fd") == "no" and not live_cli
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and WORKERINPUT_KEY in workerinput:
        data = workerinput[WORKERINPUT_KEY]
        overrides = Overrides()  # the controller had none to check, so none to hand over
        if "from_cli" in data:
            overrides = Overrides(
                data["from_file"],
                data["from_cli"],
                data["file_path"],
                data["sweep"],
                data.get("search", {}),
            )
        return SessionState(
            settings=settings,
            stamp=data["stamp"],
            rootdir=Path(config.rootpath),
            command=list(data["command"]),
            overrides=overrides,
            live_log=live,
            is_worker=True,
            controller=data.get("controller"),
            pytest_config=config,
            _provenance=data.get("provenance"),
        )
    task_dir = config.getoption("exp_slurm_task", None)
    if task_dir:  # one task of a SLURM job: the submitting session's stamp and provenance
        data = read_task(Path(task_dir))
        if _restarted():  # requeued after a preemption: go on with what this session ran
            settings = dataclasses.replace(settings, resume=True)
        return SessionState(
            settings=settings,
            stamp=data["stamp"],
            rootdir=Path(config.rootpath),
            command=list(data["command"]),
            overrides=read_overrides(settings),
            live_log=live,
            slurm_task=True,
            planned=dict(data.get("planned") or {}),
            _provenance=data["provenance"],
        )
    from ..catalog.processes import this_process

    return SessionState(
        settings=settings,
        stamp=stamp,
        rootdir=Path(config.rootpath),
        command=command_line(config),
        overrides=read_overrides(settings),
        live_log=live,
        controller=dict(this_process()),
        pytest_config=config,
    )


def read_overrides(settings: Settings) -> Overrides:
    """Read --exp-config and --exp-set; raise OverrideError saying what is wrong."""
    if settings.repeats is not None and settings.repeats < 1:
        raise OverrideError(f"--exp-repeats {settings.repeats}: give a whole number of at least 1")
    if settings.trials is not None and settings.trials < 1:
        raise OverrideError(f"--exp-trials {settings.trials}: give a whole number of at least 1")
    if not (settings.config_file or settings.set_items or settings.sweep_items) and not (
        settings.search_items
    ):
        return Overrides()
    from_file = load_config_file(settings.config_file) if settings.config_file else {}
    from_cli = params.parse_set_items(settings.set_items)
    sweep = params.parse_sweep_items(settings.sweep_items)
    both = sorted(set(sweep) & set(from_cli))
    if both:
        raise OverrideError(f"--exp-sweep {both[0]} and --exp-set {both[0]}: give one or the other")
    from ..plan.searchspace import SearchError, parse_cli

    try:
        search = parse_cli(settings.search_items)
    except SearchError as error:
        raise OverrideError(str(error)) from None
    for key in sorted(set(search) & {*sweep, *from_cli}):
        other = "--exp-sweep" if key in sweep else "--exp-set"
        raise OverrideError(f"--exp-search {key} and {other} {key}: give one or the other")
    return Overrides(from_file, from_cli, settings.config_file, sweep, search)


def _restarted() -> bool:
    """Whether this process is a SLURM task requeued after a preemption."""
    count = os.environ.get("SLURM_RESTART_COUNT", "0").strip()
    return count.isdigit() and int(count) > 0
