"""--exp-resume: an archived, completed run of the same grid point, or one to go on from.

A point is the same when the experiment name, the resolved parameters, the
repeat index and the hash of the experiment's module all match. Each process
scans an experiment's archived run folders once, on its first lookup.

An archived run is data, and may come from someone else's archive (an import):
its record keeps what it measured, but never the module, class or node id its
config.yaml names. A reused run's record names the test of this session that
reused it, so code found from records (a @sweep_analysis) is always this
session's collected code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..archive import layout
from ..archive.yamltext import load
from ..catalog.records import record_from_folder


def point_key(params: dict[str, Any], repeat: int, source: str | None) -> str:
    """Return the identity of a grid point, as text."""
    return json.dumps(
        {"params": params, "repeat": repeat, "source": source}, sort_keys=True, default=repr
    )


class ResumeIndex:
    """Completed runs of each experiment under one archive root, by grid point."""

    def __init__(self, root: Path, stamp: str, own_session: bool = False) -> None:
        self.root = root
        self.stamp = stamp
        self.own_session = own_session  # a requeued SLURM task: this session's runs count
        self._found: dict[tuple[str, bool], dict[str, Path]] = {}
        self._checkpointed: dict[tuple[str, bool], list[tuple[Path, dict[str, Any]]]] = {}

    def _counts(self, session: str) -> bool:
        """Whether runs of this session folder count: never the debug folder, and this
        session's only for a requeued SLURM task."""
        return session != layout.DEBUG_DIR and (session != self.stamp or self.own_session)

    def checkpointed(self, experiment: str, testing: bool) -> list[tuple[Path, dict[str, Any]]]:
        """Runs of earlier sessions with a checkpoints/ folder, and their config (scanned once)."""
        key = (experiment, testing)
        if key not in self._checkpointed:
            base = self.root / layout.TESTING_DIR if testing else self.root
            found = []
            for folder in base.glob(f"{layout.safe_name(experiment)}/*/*/checkpoints"):
                run = folder.parent
                if not self._counts(run.parent.name):
                    continue
                try:
                    found.append((run, load((run / layout.CONFIG).read_text("utf-8"))))
                except Exception:  # a broken folder is nothing to resume from
                    continue
            self._checkpointed[key] = found
        return self._checkpointed[key]

    def find(
        self,
        experiment: str,
        testing: bool,
        params: dict[str, Any],
        repeat: int,
        source: str | None,
    ) -> Path | None:
        """Return the newest completed run of this point, if there is one."""
        key = (experiment, testing)
        if key not in self._found:
            self._found[key] = self._scan(experiment, testing)
        return self._found[key].get(point_key(params, repeat, source))

    def _scan(self, experiment: str, testing: bool) -> dict[str, Path]:
        base = self.root / layout.TESTING_DIR if testing else self.root
        found: dict[str, tuple[str, Path]] = {}
        for summary_path in base.glob(f"{layout.safe_name(experiment)}/*/*/{layout.SUMMARY}"):
            folder = summary_path.parent
            if not self._counts(folder.parent.name):
                continue
            try:
                summary = json.loads(summary_path.read_text("utf-8"))
                if summary.get("status") != "completed":
                    continue
                config = load((folder / layout.CONFIG).read_text("utf-8"))
                header = config["experiment"]
                if header.get("name") != experiment:
                    continue
                key = point_key(
                    config["parameters"], header.get("repeat", 0), header.get("source_hash")
                )
                started = str(summary.get("started", ""))
            except Exception:  # a broken folder is no completed run: its point runs again
                continue
            if key not in found or started > found[key][0]:
                found[key] = (started, folder)
        return {key: folder for key, (_, folder) in found.items()}


def reused_record(folder: Path, sweep: Path) -> dict[str, Any]:
    """Return the record of an archived run reused in the sweep at `sweep` (naming no code)."""
    record = record_from_folder(folder)
    record.update(
        status="reused",
        reason=f"from session {folder.parent.name}",
        sweep=str(sweep),
        module=None,  # where the archive says code is: never used
        test_class=None,
        node_id=None,
    )
    return record


def reusable(
    built: Any, root: Path, stamp: str, debug: bool, index: ResumeIndex
) -> dict[str, Any] | None:
    """Return the record of a completed archived run of this point, or None to run it."""
    from ..archive.values import encode_param

    params = {name: encode_param(value) for name, value in built.params.items()}
    found = index.find(built.experiment, built.testing, params, built.repeat, built.source_hash)
    if found is None:
        return None
    sweep = layout.experiment_parent(
        root, built.experiment, stamp, testing=built.testing, debug=debug
    )
    try:
        record = reused_record(found, sweep)
    except Exception:  # deleted or broken since it was indexed: run the point again
        return None
    record.update(
        module=built.module_path,  # this session's test, collected here
        test_class=built.test_class,
        node_id=built.node_id,
        axes={name: params[name] for name in built.axes},
        order=built.order,
        repeat=built.repeat,
        repeats=built.repeats,
        seed=built.seed,
    )
    return record


RESUMABLE = ("crashed", "interrupted", "preempted")  # ended early; `failed` runs again whole
SUPERSEDED = "superseded"  # the label of a run another run resumed


def resumable(built: Any, index: ResumeIndex) -> dict[str, Any] | None:
    """The newest run of this grid point that ended early and left a checkpoint, if any.

    The point is the same experiment, axis values and repeat; the other
    parameters and the code may have changed since (they are recorded as
    `config_changes`). Returns the old folder, its run id and the changes.
    """
    from ..archive.values import encode_param
    from ..catalog.reading import read_run
    from ..checkpoints.store import newest

    params = {name: encode_param(value) for name, value in built.params.items()}
    axes = {name: params[name] for name in built.axes}
    best: tuple[str, Path, dict[str, Any]] | None = None
    for folder, config in index.checkpointed(built.experiment, built.testing):
        try:
            header, old = config["experiment"], config["parameters"]
            if (
                header.get("name") != built.experiment
                or header.get("label") == SUPERSEDED
                or header.get("repeat", 0) != built.repeat
                or sorted(header.get("axes") or []) != sorted(axes)
                or any(old.get(name) != value for name, value in axes.items())
                or newest(folder) is None
            ):
                continue
            summary = read_run(folder)  # a dead process's run is recorded crashed here
        except Exception:  # a broken folder is nothing to resume from
            continue
        started = str(summary.get("started", ""))
        if summary.get("status") in RESUMABLE and (best is None or started > best[0]):
            best = (started, folder, old)
    if best is None:
        return None
    _, folder, old = best
    changes = {
        name: {"was": old.get(name), "now": value}
        for name, value in params.items()
        if old.get(name) != value
    }
    return {"folder": folder, "run_id": f"{folder.parent.name}/{folder.name}", "changes": changes}


def reused_or_resumed(built: Any, state: Any) -> dict[str, Any] | None:
    """A completed run of this point to reuse (its record), else None; a run that ended early
    with a checkpoint is put in `built.resumed` to go on from."""
    settings = state.settings
    record = reusable(built, settings.root, state.stamp, settings.debug, state.resume_index())
    if record is None:
        built.resumed = resumable(built, state.resume_index())
    return record
