"""What Exp offers for writing experiments: hooks, the cache, labels, checkpoints (a mixin)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..archive import layout
from ..archive.labels import change_label, check_label
from ..archive.locks import update_config
from ..checkpoints.store import CheckpointError, Checkpoints, check_keep, check_step
from ..plan.variants import HOOK_ATTR
from .tracking import Tracker


class _NoDefault:
    def __repr__(self) -> str:
        return "<no default>"


_NO_DEFAULT: Any = _NoDefault()  # apply_hook called without default=


class Authoring:
    """Hooks, cache and label of a run; Exp provides the state these use."""

    _test: tuple[Any, Any, Any]
    _cache: Any
    _label: str
    _notes: list[dict[str, Any]]
    _hooks: dict[str, tuple[Any, int]]  # name -> (what find_marked found, calls so far)
    _session: Any
    _checkpoints: Checkpoints
    _tracker: Tracker
    experiment: str
    testing: bool
    path: Path

    def _write_log(self, level: str, text: str) -> None:
        raise NotImplementedError

    def bind_test(self, cls: Any, module: Any, instance: Any) -> None:
        """Tell the run which test class, module and instance it belongs to (for hooks)."""
        self._test = (cls, module, instance)
        self._hooks = {}

    def apply_hook(self, name: str, default: Any = _NO_DEFAULT, **kwargs: Any) -> Any:
        """Call the hook registered as name (see `hook`) with exp and kwargs; else the default.

        run.log names the hook at its first call (INFO) and at every later one
        (DEBUG). A name no class or module of the lineage declares is an error
        unless a default is given.
        """
        from ..plan.variants import bind, find_marked

        cls, module, instance = self._test
        known = self._hooks.get(name)
        found, calls = (
            known if known is not None else (find_marked(HOOK_ATTR, name, cls, module), 0)
        )
        self._hooks[name] = (found, calls + 1)
        if found is None:
            if default is _NO_DEFAULT:
                raise _not_found(name, cls, module)
            return default
        if calls:
            self._write_log("DEBUG", f"hook {name}: {found[1]} (call {calls + 1})")
        else:
            self._write_log("INFO", f"hook {name}: {found[1]}")
        return bind(found, cls, instance)(self, **kwargs)

    @property
    def cache(self) -> Any:
        """The cache shared by runs and workers under <root>/.cache/ (see cache.py).

        Testing runs have their own, under <root>/_testing/.cache/.
        """
        if self._cache is None:
            from .cache import Cache

            enabled = not self._session.settings.no_cache
            root = self._session.settings.root
            if self.testing:  # smoke-sized results never reach real runs
                root = root / layout.TESTING_DIR
            self._cache = Cache(root, self.experiment, enabled, self._write_log)
        return self._cache

    def label(self, label: str, note: str | None = None) -> None:
        """Label this run (keep, baseline, exploratory, failed), with an optional timed note."""
        check_label(label)

        def change(config: dict[str, Any]) -> None:  # on the file: `expharness label` may write too
            header = config["experiment"]
            change_label(header, label, note)
            self._label, self._notes = header["label"], list(header.get("notes") or [])

        update_config(self.path, change)

    # -- preemption (cluster/preempt.py) ------------------------------------------

    _on_preempt: list[Any]

    def on_preempt(self, callback: Any) -> None:
        """Call callback(exp) when SLURM says the job must stop soon (save a checkpoint)."""
        if not callable(callback):
            raise TypeError(f"exp.on_preempt: expected a callable, got {type(callback).__name__}")
        self._on_preempt.append(callback)

    def preempt(self) -> None:
        """Run the preempt callbacks, then the `preempt` hook if the experiment has one."""
        for callback in list(self._on_preempt):
            try:
                callback(self)
            except Exception as error:  # the run still ends preempted, with what it has
                self._write_log("ERROR", f"preempt callback failed: {error!r}")
        try:
            self.apply_hook("preempt", None)
        except Exception as error:
            self._write_log("ERROR", f"preempt hook failed: {error!r}")

    # -- checkpoints (checkpoints/store.py) ---------------------------------------

    def checkpoint(self, state: Any, step: int | None = None, keep: int | None = None) -> Path:
        """Save state (pickled) as this run's checkpoint at `step`; the newest `keep` stay."""
        return self._checkpoints.save(state, self._checkpoint_step(step, keep, "checkpoint"), keep)

    def checkpoint_path(self, step: int | None = None, keep: int | None = None) -> Path:
        """A path to save a checkpoint of `step` to yourself (e.g. torch.save); it counts once
        written, when the next checkpoint is asked for or the run ends."""
        return self._checkpoints.path(self._checkpoint_step(step, keep, "checkpoint_path"), keep)

    def restore(self) -> tuple[Any, int] | None:
        """(state, step) of the newest checkpoint (a path for checkpoint_path's), or None."""
        return self._checkpoints.restore()

    def _checkpoint_step(self, step: Any, keep: Any, what: str) -> int:
        try:
            if keep is not None:
                check_keep(keep)
            self.flush_points()  # the points a checkpoint stands for are on disk before it
            return check_step(step) if step is not None else self._tracker.last_step()
        except CheckpointError as error:
            raise CheckpointError(f"exp.{what}: {error}") from None

    def flush_points(self) -> None:
        raise NotImplementedError

    # -- gates (gates/) ------------------------------------------------------------

    _expects: list[Any]
    _gates: dict[str, Any]
    _spec: Any
    _store: Any
    point: str
    repeat: int

    def expect(self, name: str, op: str, bound: float) -> None:
        """Expect the final value of `name` (a series or a results/ key) to be `op bound`.

        Checked when the test body returns, beside the marker's `expect=`; a
        failed expectation fails the test and leaves the run completed.
        """
        from ..gates.bounds import make_bound

        if not isinstance(name, str) or not name:
            raise TypeError(f"exp.expect: name a metric, not {name!r}")
        self._expects.append((name, make_bound(op, bound, f"exp.expect({name!r})"), "code"))

    def check_gates(self, properties: list[tuple[str, object]]) -> None:
        """Check expectations and the baseline; record them; raise GateFailed if one failed."""
        from ..archive.values import scalars
        from ..gates.check import GateFailed, RunFacts, check

        spec, options = self._spec, self._session.settings.gates
        expects = [(n, b, "marker") for n, b in spec.expect.items()] + self._expects
        if not expects and options.baseline is None:
            return
        self.flush_points()
        facts = RunFacts(
            experiment=self.experiment,
            point=self.point,
            testing=self.testing,
            module_path=spec.module_path,
            metric=spec.metric,
            mode=spec.mode,
            repeat=self.repeat,
            repeats=spec.repeats,
            sweep=self.path.parent,
            root=self._session.settings.root,
            finals={**dict(scalars(self._store.snapshot([]))), **self._tracker.latest},
            expectations=expects,
            tolerances=spec.tolerance,
            search=bool(spec.search),
        )
        done = check(facts, options)
        self._gates = done.summary
        properties.extend(done.properties)
        if done.failures:
            raise GateFailed("\n".join(done.failures))


def _not_found(name: str, cls: Any, module: Any) -> Exception:
    from ..plan.variants import HookNotFound, declared_hooks

    declared = declared_hooks(cls, module)
    if cls is not None:
        where = f"{cls.__qualname__}, its base classes or their modules"
    elif module is not None:
        where = f"module {getattr(module, '__expharness_name__', module.__name__)}"
    else:
        where = "this run (it has no test class or module)"
    listed = ", ".join(f"{hook} ({found})" for hook, found in declared.items()) or "none"
    return HookNotFound(
        f"exp.apply_hook({name!r}): no hook {name!r} in {where}; declared hooks: {listed}. "
        f"Declare one with @hook({name!r}), or pass default=... to make it optional"
    )
