"""The `exp` object: one experiment run and its self-contained folder.

Exp holds the run's state and what a test body uses most (parameters, the
data store, tracking, artifacts, components); its other roles are mixins, each
in its module: RunLog (log.py: exp.log, levels, counts), Authoring
(authoring.py: hooks, the cache, labels) and RunEnd (finish.py: the final
files). Nothing but Exp uses the mixins.
"""

from __future__ import annotations

import json
import threading
import types
from pathlib import Path
from typing import Any

from ..archive import layout
from ..archive.values import encode_param, to_json
from ..catalog.processes import this_process
from ..checkpoints.resumed import resume_from, supersede
from ..checkpoints.store import Checkpoints
from ..gates.baselines import point_of
from ..plan.searchspace import pruner_of
from ..plan.spec import RunSpec
from ..report import runreport
from ..session import debugfolder, gpus, snapshot
from ..session.resources import Usage
from ..session.state import SessionState
from . import artifacts
from .authoring import Authoring
from .components import Component
from .finish import RunEnd, _now, iso
from .flusher import Flusher
from .log import LOGGER, RunLog
from .relay import ConstantPatch
from .store import DataStore
from .tracking import Tracker, check_total

__all__ = ["LOGGER", "Exp", "finish_open_runs"]
LIVE_EVERY = 1.0  # seconds between two writes of live.json at most
_CLOCK = _now()  # refreshed by the flusher every TICK; stamps tracked points


def _set_clock(now: float) -> None:
    global _CLOCK
    _CLOCK = now


def _clock() -> float:
    return _CLOCK


FLUSHER = Flusher(on_tick=_set_clock)


class Exp(RunLog, Authoring, RunEnd):
    """One experiment run: parameters, data store, log, tracked series, artifacts."""

    _flusher = FLUSHER

    def __init__(self, spec: RunSpec, session: SessionState) -> None:
        self._spec = spec
        self._session = session
        self._params = dict(spec.params)
        self.testing: bool = spec.testing
        self.experiment: str = spec.experiment
        self.seed: int = spec.seed
        self.repeat: int = spec.repeat
        self._rng: Any = None
        self._store = DataStore()
        self._components: dict[str, Component] = {}
        self._io_lock = threading.Lock()
        self._finished = False
        self._constants = ConstantPatch()
        self.record: dict[str, Any] | None = None  # plain data for the controller, once finished
        self._label = "exploratory"
        self._notes: list[dict[str, Any]] = []  # as labels.change_label keeps them
        self._test: tuple[Any, Any, Any] = (None, None, None)  # class, module, instance
        self._hooks: dict[str, tuple[Any, int]] = {}
        self._counts = {"warnings": 0, "errors": 0}  # entries of run.log (see log.py)
        self._debug: bool | None = None  # whether DEBUG entries are written, once asked
        self._cache: Any = None
        self.outcome: dict[str, Any] | None = None  # how the test body went, once known
        settings = session.settings
        parent = layout.experiment_parent(
            settings.root,
            spec.experiment,
            session.stamp,
            testing=spec.testing,
            debug=settings.debug,
        )
        layout.create_root(settings.root)
        if settings.debug:
            debugfolder.claim(parent, session.stamp, session.controller)
        id_axes = dict(spec.axes if spec.id_axes is None else spec.id_axes)
        if spec.repeats > 1:
            id_axes["rep"] = spec.repeat
        if spec.attempt > 1:  # a pytest-rerunfailures rerun keeps the earlier attempts' folders
            id_axes["attempt"] = spec.attempt
        base_id = layout.run_id_for(id_axes, spec.callspec_id, explicit=spec.explicit_ids)
        self.path, self.run_id = layout.make_run_dir(parent, base_id)
        self.point = point_of(base_id)  # the grid point, repeats aside (gates/baselines.py)
        self._expects: list[Any] = []  # exp.expect's (name, bound, "code")
        self._gates: dict[str, Any] = {}  # summary.json's expectations and baseline, once checked
        _write_planned(parent, session.planned.get(spec.experiment))
        (self.path / layout.ARTIFACTS).mkdir()
        bases = tuple(
            t.__file__
            for t in spec.patch_targets
            if isinstance(t, types.ModuleType) and t.__file__ and t.__file__ != spec.module_path
        )
        self._code = snapshot.write_code(
            self.path, spec.module_path, session.rootdir, session.reproducible(), bases
        )
        self._tracker = Tracker(self.path, clock=_clock, helper=True)
        self._checkpoints = Checkpoints(self.path)
        self._on_preempt = []
        self._resumed = resume_from(spec.resumed, self._checkpoints, self._tracker)
        self._total: int | None = None  # exp.progress, track(total=) or the marker's steps=
        if spec.steps is not None:
            self._total = check_total(f"experiment(steps={spec.steps!r})", self._params[spec.steps])
        self._live: tuple[Any, ...] | None = None  # what live.json last said, and when
        self._hot = self._tracker.hot
        self.started = _now()
        self._usage = Usage(settings.sys_interval)
        self._log_file = open(self.path / layout.LOG, "a", encoding="utf-8", buffering=1)  # noqa: SIM115
        substituted = runreport.write_config(
            self.path / layout.CONFIG, self._config(), session.provenance()
        )
        self._counts["warnings"] += len(substituted)  # run.log has a warning for each
        self._write_summary(
            {"status": "running", "heartbeat": self.started, "log": self.log_counts()}
        )
        self._constants.apply(spec.patch_targets, spec.declared, self._params)
        if self._resumed:
            supersede(spec.resumed, f"{session.stamp}/{self.run_id}")
        FLUSHER.register(self)

    # -- parameters ----------------------------------------------------------

    @property
    def params(self) -> dict[str, Any]:
        """The resolved parameters of this run (a copy)."""
        return dict(self._params)

    def __getattr__(self, name: str) -> Any:
        params = self.__dict__.get("_params")
        if params is not None and name in params:
            return params[name]
        known = ", ".join(sorted(params or ())) or "none"
        raise AttributeError(f"exp has no parameter or attribute {name!r}; parameters: {known}")

    @property
    def rng(self) -> Any:
        """A numpy Generator seeded with exp.seed, made on first use."""
        if self._rng is None:
            import numpy as np

            self._rng = np.random.default_rng(self.seed)
        return self._rng

    # -- data store ----------------------------------------------------------

    def __setitem__(self, key: str, value: Any) -> None:
        self._store[key] = value

    def __getitem__(self, key: str) -> Any:
        return self._store[key]

    def __contains__(self, key: object) -> bool:
        return key in self._store

    # -- tracking ------------------------------------------------------------

    def track(
        self, name: str, value: Any, step: int | None = None, total: int | None = None
    ) -> None:
        """Record a point of a scalar series (or an image frame) under name.

        total: how many steps the run takes (as exp.progress), for the live view.
        """
        if type(value) is float and (step is None or type(step) is int) and total is None:
            try:
                self._hot[name]((value, step, _CLOCK))
                return
            except KeyError:  # a new series: validated on the slow path
                pass
        self._track_slow(name, value, step, total)

    def track_many(self, values: dict[str, Any], step: int | None = None) -> None:
        """Record one point of each series in a mapping."""
        track = self.track
        for name, value in values.items():
            track(name, value, step)

    def _track_slow(self, name: str, value: Any, step: Any, total: Any = None) -> None:
        if self._finished:
            raise RuntimeError(f"track({name!r}): run {self.run_id} has already finished")
        if total is not None:
            self._total = check_total(f"track({name!r}, total=...)", total)
        self._tracker.track_slow(name, value, step)

    def progress(self, total: int) -> None:
        """Say how many steps this run takes: the live view shows step of total and an ETA."""
        self._total = check_total("exp.progress", total)

    # -- artifacts -----------------------------------------------------------

    def commit_json(self, name: str, obj: Any) -> Path:
        """Store obj as a JSON artifact (numpy, Path, datetime and sets encoded)."""
        return artifacts.write(self.path, name, artifacts.json_bytes(name, obj))

    def commit_fig(self, name: str, fig: Any, **savefig: Any) -> Path:
        """Store a matplotlib figure as an artifact ('.png' unless the name says otherwise)."""
        artifacts.artifact_path(self.path, name)
        name, data = artifacts.figure_bytes(name, fig, **savefig)
        return artifacts.write(self.path, name, data)

    def commit_raw(self, name: str, content: str | bytes) -> Path:
        """Store text or bytes as an artifact."""
        if isinstance(content, str):
            content = content.encode("utf-8")
        if not isinstance(content, (bytes, bytearray, memoryview)):
            raise TypeError(f"commit_raw({name!r}): expected str or bytes, got {type(content)}")
        return artifacts.write(self.path, name, bytes(content))

    def open(self, name: str, mode: str = "w", **kwargs: Any) -> Any:
        """Open an artifact file; written files appear atomically when closed."""
        return artifacts.open_artifact(self.path, name, mode, **kwargs)

    # -- components ----------------------------------------------------------

    def component(self, name: str) -> Component:
        """Return the status record of a named component of this run."""
        found = self._components.get(name)
        if found is None:
            found = self._components[name] = Component(name, self._write_log)
        return found

    # -- lifecycle -----------------------------------------------------------

    def held(self) -> int:
        """Points tracked and not yet journaled (the flusher journals a backlog early)."""
        return self._tracker.held()

    def flush_points(self) -> None:
        """Journal the points tracked so far, out of memory (the flusher's thread)."""
        self._tracker.flush()

    def persist(self, now: float, heartbeat: bool) -> None:
        """Make what is tracked and stored durable; called by the flusher thread."""
        self._tracker.flush()
        with self._io_lock:
            if self._finished:
                return
            if now >= self._usage.due:  # every --exp-sys-interval: the sys/ series
                for name, value in self._usage.sample(now).items():
                    self._tracker.track_slow(name, value, None)
            if self._store.dirty or heartbeat:  # heartbeat: values changed in place too
                try:
                    tree = self._store.snapshot()
                except RuntimeError:  # changed while it was read; next time
                    return
                layout.atomic_write_text(self.path / layout.DATA, to_json(tree))
            self._write_live(now)
            if heartbeat:
                self._write_summary(
                    {"status": "running", "heartbeat": now, "log": self.log_counts()}
                )

    def _write_live(self, now: float) -> None:
        """Rewrite live.json when the step, total or a value changed, at most once a LIVE_EVERY."""
        step, values = self._tracker.live_state(self._spec.metric)
        state = (step, self._total, values)
        last = self._live
        if last is not None and (state == last[:3] or now - last[3] < LIVE_EVERY):
            return
        self._live = (*state, now)
        live = {
            "run_id": self.run_id,
            "step": step,
            "total": self._total,
            "values": values,
            "main": next(iter(values), None),
            "started": self.started,
            "updated": now,
            **this_process(),
        }
        layout.atomic_write_text(self.path / layout.LIVE, json.dumps(live, allow_nan=True))

    def _summary_base(self, extra: dict[str, Any]) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "experiment": self.experiment,
            "session": self._session.stamp,
            "node_id": self._spec.node_id,
            "attempt": self._spec.attempt,
            **this_process(),  # pid, host, pid_start, pid_ns: how readers tell it is alive
            "started": iso(self.started),
            "started_unix": self.started,
            **extra,
        }

    def _write_summary(self, extra: dict[str, Any]) -> None:
        layout.write_json(self.path / layout.SUMMARY, self._summary_base(extra))

    def _config(self) -> dict[str, Any]:
        spec, session = self._spec, self._session
        header = {
            "name": spec.experiment,
            "description": spec.description,
            "tags": list(dict.fromkeys([*spec.tags, *session.settings.tags])),
            "label": self._label,
            "notes": list(self._notes),
            "run_id": self.run_id,
            "point": self.point,
            "session": session.stamp,
            "timestamp": iso(self.started),
            "node_id": spec.node_id,
            "module": spec.module_path,
            "test_class": spec.test_class,
            "parent": spec.parent,
            "parent_module": spec.parent_module,
            **session.provenance(),
            "base_config": session.overrides.file_path,
            "cli_overrides": {k: encode_param(v) for k, v in spec.applied.items()},
            "axes": list(spec.axes),
            "order": spec.order,
            "repeat": spec.repeat,
            "repeats": spec.repeats,
            "seed": spec.seed,
            "attempt": spec.attempt,
            "main_metric": {"name": spec.metric, "mode": spec.mode} if spec.metric else None,
            **_search_header(spec, session.settings),
            **self._resumed,
            "source_hash": spec.source_hash,
            "code": self._code,
            "reproducible": session.settings.reproducible,
            "testing": spec.testing,
            "debug": session.settings.debug,
            "slurm": snapshot.slurm_ids(),
            "gpus": gpus.header(),
        }
        return {
            "experiment": header,
            "parameters": {k: encode_param(v) for k, v in self._params.items()},
        }

    def __repr__(self) -> str:
        return f"<Exp {self.experiment}/{self.run_id} at {self.path}>"


def _search_header(spec: RunSpec, settings: Any) -> dict[str, Any]:
    """A trial's number, study, space, sampler and pruner, for config.yaml (else nothing)."""
    if spec.trial is None:
        return {}
    space = {name: dist.text() for name, dist in spec.search.items()}
    pruner = pruner_of(settings.pruner, spec.repeats)
    return {"trial": spec.trial, "study": spec.study, "search": space,
            "sampler": settings.sampler, "pruner": pruner}  # fmt: skip


def finish_open_runs() -> None:
    """Finish runs pytest never tore down (an interrupt in another fixture's teardown).

    Each ends with the outcome of its test body when that is known, else interrupted.
    """
    interrupted = {
        "status": "interrupted",
        "reason": "the session ended before the run's teardown (an interrupt)",
    }
    for run in FLUSHER.active():
        if isinstance(run, Exp):
            run.finish(run.outcome or interrupted)


def preempt_open_runs() -> None:
    """Run each open run's preempt callbacks and hook (SLURM's USR1: save a checkpoint now)."""
    for run in FLUSHER.active():
        if isinstance(run, Exp):
            run.preempt()


def _write_planned(parent: Path, count: int | None) -> None:
    """Say how many runs the session means to make of this experiment (the live view's N)."""
    path = parent / layout.PLANNED
    if count and not path.exists():
        layout.atomic_write_bytes(path, json.dumps({"runs": count}).encode("utf-8"))
