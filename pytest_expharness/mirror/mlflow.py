"""Runs mirrored as MLflow runs, one MLflow experiment per experiment of ours.

Each run becomes an MLflow run with its parameters, every point of every
series (its step and time), tags (ours, its label, status, session, git
commit, notes) and artifacts (artifacts/, plots/, tracked/ frames and the run's
own files). Keys follow keys.py. A mirror is never made twice: every MLflow
run carries `expharness.run_id` and `expharness.session`, and a second export
finds it (one search per session) and brings its tags and status up to date.
Metric points and params are logged once, when the run is created, and
`expharness.mirrored: complete` is the last thing written: a mirror cut short
(an interrupted export, a server gone mid-way) lacks it, and the next export
deletes it and makes it again. A run still running is left for later.
Points travel in batches of at most 1000 (MLflow's limit for one log_batch).
With a sqlite store, a new experiment's artifacts go beside the database
(`mlartifacts/<experiment>/`), not into the current folder.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .extras import MirrorError, need
from .keys import Keys, metric_name, mlflow_key
from .source import Source, read

RUN_ID, SESSION, MIRRORED, OUR_TAGS = (
    "expharness.run_id", "expharness.session", "expharness.mirrored", "expharness.tags",
)  # fmt: skip
COMPLETE = "complete"
MAX_PARAM, MAX_TAG, PER_CALL = 6000, 8000, 100  # MLflow's limits: a param's value, a tag's
STATUS = {"completed": "FINISHED", "interrupted": "KILLED", "preempted": "KILLED"}
STATUS |= {"pruned": "KILLED", "reused": "FINISHED"}  # any other status: FAILED
RETRIES = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "20",
}
_PLAIN_SESSION = re.compile(r"[\w.-]+", re.ASCII)


@dataclass
class Mirrored:
    """What an export did: runs made, brought up to date, and left out (with why)."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def export(folders: Sequence[Path], uri: str, root: Path | None = None) -> Mirrored:
    """Mirror run folders to the MLflow tracking store at uri; see the module's docstring."""
    need("mlflow")
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    done = Mirrored()
    with _quiet():
        try:
            mirror = _Mirror(MlflowClient(tracking_uri=uri), uri, root)
        except (MlflowException, OSError) as error:
            raise MirrorError(f"no MLflow tracking store at {uri}: {_first(error)}") from None
        for folder in folders:
            try:
                mirror.run(read(folder), done)
            except (MlflowException, OSError) as error:
                raise MirrorError(f"MLflow at {uri} refused {folder}: {_first(error)}") from None
    return done


def _first(error: Exception) -> str:
    """An error's first line (MLflow's messages run to a traceback's length)."""
    text = str(getattr(error, "message", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """MLflow quieter and quicker to give up while we export; as it was after.

    MLflow and alembic announce each table they make at INFO, and MLflow retries
    an unreachable server for about four minutes: here twice, in seconds, unless
    the user set MLFLOW_HTTP_REQUEST_* themselves.
    """
    loggers = [logging.getLogger(name) for name in ("mlflow", "alembic")]
    levels = [logger.level for logger in loggers]
    unset = [name for name in RETRIES if name not in os.environ]
    os.environ.update({name: RETRIES[name] for name in unset})
    for logger in loggers:
        logger.setLevel(max(logging.WARNING, logger.level))
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
        for name in unset:
            os.environ.pop(name, None)


def param_text(value: Any) -> str:
    """A parameter's value as MLflow keeps it: text (JSON for anything but a string)."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def tags_of(source: Source, root: Path | None) -> dict[str, str]:
    """The MLflow tags of a run: ours, its label, status, session, git commit, notes."""
    header = source.header
    ours = [str(tag) for tag in header.get("tags") or []]
    where = source.folder.resolve()
    if root is not None and root.resolve() in where.parents:
        where = where.relative_to(root.resolve())
    tags = {
        "mlflow.runName": source.run_id,
        RUN_ID: source.run_id,
        SESSION: source.session,
        "expharness.experiment": source.experiment,
        "expharness.status": source.status,
        "expharness.path": where.as_posix(),
        OUR_TAGS: json.dumps(ours),
    }
    for key in ("label", "node_id", "git_commit", "git_branch", "git_dirty", "host", "testing"):
        if header.get(key) is not None:
            tags[f"expharness.{key}"] = str(header[key])
    if header.get("git_commit"):
        tags["mlflow.source.git.commit"] = str(header["git_commit"])
    if header.get("description"):
        tags["mlflow.note.content"] = str(header["description"])
    if header.get("notes"):
        tags["expharness.notes"] = json.dumps(header["notes"], default=str)
    reason = source.summary.get("reason") or source.summary.get("error")
    if reason:
        tags["expharness.reason"] = str(reason)
    for tag in ours:
        tags[_tag_key(tag)] = "true"
    return {key: _cut(value, MAX_TAG) for key, value in tags.items()}


def _tag_key(tag: str) -> str:
    key = mlflow_key(tag)
    return f"tag.{key}" if key.startswith(("mlflow.", "expharness.", "tag.")) else key


def _ms(seconds: Any) -> int | None:
    return int(float(seconds) * 1000) if isinstance(seconds, (int, float)) else None


class _Mirror:
    """One export's client, experiments and the mirrors found per session."""

    def __init__(self, client: Any, uri: str, root: Path | None) -> None:
        self.client, self.uri, self.root = client, uri, root
        self.experiments: dict[str, str] = {}
        self.found: dict[tuple[str, str], dict[str, list[Any]]] = {}

    def run(self, source: Source, done: Mirrored) -> None:
        name = f"{source.experiment}/{source.session}/{source.run_id}"
        if source.status == "running":
            done.skipped.append((name, "still running; export it when it has ended"))
            return
        experiment = self._experiment(source.experiment)
        mirrors = self._mirrors(experiment, source.session).get(source.run_id, [])
        complete = [m for m in mirrors if m.data.tags.get(MIRRORED) == COMPLETE]
        kept = complete[0].info.run_id if complete else None
        for cut_short in [m.info.run_id for m in mirrors if m.info.run_id != kept]:
            self.client.delete_run(cut_short)  # cut short, or a twin a concurrent export made
        if complete:
            self._update(complete[0], source)
            done.updated.append(name)
        else:
            self._create(experiment, source)
            done.added.append(name)

    def _experiment(self, name: str) -> str:
        from mlflow.exceptions import MlflowException

        if name not in self.experiments:
            found = self.client.get_experiment_by_name(name)
            if found is None:
                with contextlib.suppress(MlflowException):  # made meanwhile by another export
                    self.client.create_experiment(name, artifact_location=self._artifacts(name))
                found = self.client.get_experiment_by_name(name)
            if found.lifecycle_stage != "active":
                raise MirrorError(
                    f"the MLflow experiment {name!r} at {self.uri} is deleted; restore it "
                    "(mlflow experiments restore) or remove it for good (mlflow gc)"
                )
            self.experiments[name] = found.experiment_id
        return self.experiments[name]

    def _artifacts(self, name: str) -> str | None:
        """A sqlite store's artifacts beside its database (MLflow's default: the current folder)."""
        if not self.uri.startswith("sqlite:///"):
            return None
        database = Path(self.uri[len("sqlite:///") :].split("?", 1)[0])
        return (database.resolve().parent / "mlartifacts" / name).as_uri()

    def _mirrors(self, experiment: str, session: str) -> dict[str, list[Any]]:
        """The MLflow runs of one session of ours, by our run id (one search, page by page)."""
        key = (experiment, session)
        if key not in self.found:
            plain = _PLAIN_SESSION.fullmatch(session) is not None
            query = f"tags.`{SESSION}` = '{session}'" if plain else ""
            by_id: dict[str, list[Any]] = {}
            token = None
            while True:
                page = self.client.search_runs(
                    [experiment], query, max_results=1000, page_token=token
                )
                for found in page:
                    if found.data.tags.get(SESSION) == session:
                        by_id.setdefault(found.data.tags.get(RUN_ID, ""), []).append(found)
                token = page.token
                if not token:
                    break
            self.found[key] = by_id
        return self.found[key]

    def _create(self, experiment: str, source: Source) -> None:
        from mlflow.entities import Metric, Param

        client, summary = self.client, source.summary
        started = _ms(summary.get("started_unix"))
        made = client.create_run(experiment, start_time=started, tags=tags_of(source, self.root))
        run_id = made.info.run_id
        keys = Keys(source.params)
        params = [Param(keys[k], _cut(param_text(v), MAX_PARAM)) for k, v in source.params.items()]
        for i in range(0, len(params), PER_CALL):
            client.log_batch(run_id, params=params[i : i + PER_CALL], synchronous=True)
        names = Keys(metric_name(n) for n in source.series_names())
        for batch in source.points():  # at most 1000 points a call
            metrics = [Metric(names[metric_name(n)], v, int(t * 1000), s) for n, v, s, t in batch]
            client.log_batch(run_id, metrics=metrics, synchronous=True)
        for path, inside in source.files():
            client.log_artifact(run_id, str(path), inside or None)
        duration = summary.get("duration")
        ended = (
            started + int(float(duration) * 1000)
            if started is not None and isinstance(duration, (int, float))
            else None
        )
        client.set_terminated(run_id, STATUS.get(source.status, "FAILED"), end_time=ended)
        client.set_tag(run_id, MIRRORED, COMPLETE)

    def _update(self, mirror: Any, source: Source) -> None:
        """Bring a complete mirror's tags and status up to date (a label, a tag, a note later)."""
        client, run_id, old = self.client, mirror.info.run_id, dict(mirror.data.tags)
        new = tags_of(source, self.root)
        for key, value in new.items():
            if old.get(key) != value:
                client.set_tag(run_id, key, value)
        try:
            had = [str(t) for t in json.loads(old.get(OUR_TAGS) or "[]")]
        except ValueError:
            had = []
        ours = {key for key in old if key.startswith("expharness.") and key != MIRRORED}
        for key in sorted(({_tag_key(t) for t in had} | ours) - set(new)):
            if key in old:
                client.delete_tag(run_id, key)
        status = STATUS.get(source.status, "FAILED")
        if mirror.info.status != status:
            client.update_run(run_id, status=status)
