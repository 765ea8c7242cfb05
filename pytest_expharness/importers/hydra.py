"""Reading Hydra multirun folders as sessions: one run per job, the swept overrides as axes.

A multirun folder (`multirun/<date>/<time>/`) holds multirun.yaml (the Hydra
config with `hydra.overrides.task`, the command line's overrides, sweeps
included) and a folder per job (`hydra.sweep.subdir`, the job number by
default) with `.hydra/config.yaml` (the composed config), `.hydra/overrides.yaml`
(this job's overrides), `.hydra/hydra.yaml` (job name, number, output dir), its
log (`<job name>.log`) and whatever the job wrote.

A job's parameters are its composed config flattened with dots
(`model.depth`), plus each overridden config group's choice (`db=mysql`).
The axes are the overrides multirun.yaml sweeps (`a=1,2,3`, `range(...)`,
`choice(...)`, `glob(...)`), and any key whose override differs between jobs.
Hydra records no status, no times and no metrics: a job is `completed`, or
`failed` when `--metrics` was given and none of its files is there (the job
may have failed before writing it); its start is when .hydra/config.yaml was
written and its end the newest file it wrote; its metrics are read from the
files the user names (metricfiles.py).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from ..archive import layout
from ..archive.safeyaml import CONFIG_FILE, YamlError, load_bounded
from .metricfiles import MetricsError, Series, parse
from .sources import (
    ImportRefused,
    Report,
    SourceRun,
    files_under,
    fingerprint,
    log_entries,
    read_bytes,
    readable_file,
    walk,
)

MULTIRUN = "multirun.yaml"
HYDRA_DIR = ".hydra"
SWEEP_FUNCTIONS = ("range(", "choice(", "glob(", "interval(", "sort(", "shuffle(", "tag(")
_STAMPED = re.compile(r"(\d{4}-\d\d-\d\d)/(\d\d-\d\d-\d\d)$")


def _is_job(folder: Path) -> bool:
    return os.path.lexists(folder / HYDRA_DIR / "config.yaml")


def find_sessions(top: Path, report: Report) -> dict[Path, list[Path]]:
    """Each multirun folder at or under top with its job folders (a lone run: its own)."""
    sessions: dict[Path, list[Path]] = {}
    for here, dirs, files in walk(top, top, report):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        if MULTIRUN in files:
            sessions.setdefault(here, [])
        if _is_job(here):
            owner = next((s for s in (here, *here.parents) if s in sessions), here)
            sessions.setdefault(owner, []).append(here)
            dirs.clear()  # a job's own output holds no jobs
    found = {folder: jobs for folder, jobs in sessions.items() if jobs}
    for folder in sessions:
        if folder not in found:
            report.notes.append(f"{folder}: {MULTIRUN} but no job folder (no job ran)")
    if not found:
        raise ImportRefused(
            f"{top}: no Hydra multirun here (a folder holding {MULTIRUN} and job folders "
            f"with {HYDRA_DIR}/config.yaml); give a multirun folder such as multirun/DATE/TIME"
        )
    return found


def _yaml(top: Path, path: Path, report: Report) -> tuple[Any, bytes]:
    if not readable_file(top, path, report):
        raise OSError(f"{path.name} is not a file inside {top}")
    data = read_bytes(path)
    return load_bounded(data.decode("utf-8"), str(path), CONFIG_FILE), data


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """A composed config as parameters: nested keys joined with dots, lists kept as values."""
    if not isinstance(tree, dict):
        return {prefix.rstrip("."): tree} if prefix else {}
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def override_key(text: str) -> tuple[str, str]:
    """(key, value) of an override: `+a.b=1`, `++a=1`, `~a` lose their prefix."""
    key, _, value = text.partition("=")
    return key.lstrip("+~").strip(), value.strip()


def is_sweep(value: str) -> bool:
    """Whether an override's value sweeps: a comma outside brackets and quotes, or a function."""
    if value.startswith(SWEEP_FUNCTIONS):
        return True
    depth, quote = 0, ""
    for char in value:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "[{(":
            depth += 1
        elif char in "]})":
            depth -= 1
        elif char == "," and depth == 0:
            return True
    return False


def _typed(value: str) -> Any:
    try:
        return load_bounded(value, "an override's value", CONFIG_FILE) if value else None
    except YamlError:
        return value


def _metrics(
    top: Path, job: Path, patterns: list[str], report: Report, problems: list[str]
) -> tuple[Series, bool]:
    series: Series = {}
    matched = False
    for pattern in patterns:
        for path in sorted(job.glob(pattern)):
            if not readable_file(top, path, report) or not path.resolve().is_relative_to(job):
                continue
            matched = True
            try:
                found, notes = parse(path.name, read_bytes(path).decode("utf-8"))
            except (OSError, UnicodeDecodeError, MetricsError) as error:
                report.unreadable.append(f"{path}: {error}")
                problems.append(f"metrics file {path.relative_to(job)}: {error}")
                continue
            problems.extend(notes)
            for name, points in found.items():
                if name in series:
                    problems.append(f"{path.relative_to(job)}: {name!r} read already; kept first")
                else:
                    series[name] = points
    return series, matched


def read_job(
    top: Path, job: Path, patterns: list[str], report: Report
) -> tuple[SourceRun, list[str]] | None:
    """One job as a run (its axes left to read_session) and its overrides; None if unreadable."""
    problems: list[str] = []
    try:
        config, config_bytes = _yaml(top, job / HYDRA_DIR / "config.yaml", report)
        overrides: Any = []
        override_bytes = b""
        if os.path.lexists(job / HYDRA_DIR / "overrides.yaml"):
            overrides, override_bytes = _yaml(top, job / HYDRA_DIR / "overrides.yaml", report)
        if not isinstance(overrides, list) or not all(isinstance(o, str) for o in overrides):
            raise ValueError("overrides.yaml is not a list of overrides")
        hydra: Any = {}
        hydra_bytes = b""
        if os.path.lexists(job / HYDRA_DIR / "hydra.yaml"):
            found, hydra_bytes = _yaml(top, job / HYDRA_DIR / "hydra.yaml", report)
            hydra = found.get("hydra") if isinstance(found, dict) else None
    except (OSError, ValueError) as error:
        report.unreadable.append(f"{job}: {error}")
        return None
    params = flatten(config)
    for text in overrides:  # a config group's choice (db=mysql) beside the keys it gave
        key, value = override_key(text)
        if key and key not in params and not text.startswith("~"):
            params[key] = _typed(value)
    job_info = hydra.get("job") if isinstance(hydra, dict) else None
    job_info = job_info if isinstance(job_info, dict) else {}
    name = str(job_info.get("name") or job.parent.name)
    series, matched = _metrics(top, job, patterns, report, problems)
    status, reason = "completed", None
    if patterns and not matched:
        status = "failed"
        reason = f"no file matched --metrics {' '.join(patterns)} (Hydra records no status)"
    log: list[tuple[str, str, str]] = []
    log_file = job / f"{name}.log"
    if readable_file(top, log_file, report):
        try:
            log = log_entries(read_bytes(log_file).decode("utf-8", "replace"))
        except OSError as error:
            problems.append(f"{log_file.name} could not be read ({error})")
    run = SourceRun(
        tool="hydra",
        source=job,
        source_id=fingerprint(job, config_bytes, override_bytes, hydra_bytes),
        experiment=layout.safe_name(name) or "hydra",
        name=job.name,
        params=params,
        status=status,
        reason=reason,
        series=series,
        log=log,
        problems=problems,
        extra={"job": job_info.get("num"), "overrides": list(overrides)},
    )
    num = job_info.get("num")
    run.order = num if isinstance(num, int) else (int(job.name) if job.name.isdigit() else 0)
    _files_and_times(top, job, run, log_file.name, report)
    return run, list(overrides)


def _files_and_times(top: Path, job: Path, run: SourceRun, log: str, report: Report) -> None:
    """The job's files as artifacts (.hydra/ as hydra/, its log aside); when it began and ended."""
    files = files_under(top, job, report)
    for path in files:
        relative = path.relative_to(job).as_posix()
        if relative.startswith(HYDRA_DIR + "/"):
            run.artifacts["hydra/" + relative[len(HYDRA_DIR) + 1 :]] = path
        elif relative != log:
            run.artifacts[relative] = path
    try:
        run.started = os.lstat(job / HYDRA_DIR / "config.yaml").st_mtime
        stamps = [os.lstat(p).st_mtime for p in files if HYDRA_DIR not in p.parts]
        run.ended = max([run.started, *stamps])
    except OSError:
        pass


def _swept(session: Path, top: Path, report: Report) -> list[str]:
    """The keys multirun.yaml's task overrides sweep, in their order ([] without the file)."""
    path = session / MULTIRUN
    if not os.path.lexists(path):
        return []
    try:
        found, _ = _yaml(top, path, report)
        task = ((found or {}).get("hydra") or {}).get("overrides", {}).get("task") or []
    except (OSError, ValueError, AttributeError) as error:
        report.unreadable.append(f"{path}: {error}; axes taken from the jobs' overrides")
        return []
    keys = [override_key(str(t)) for t in task if isinstance(t, str)]
    return [key for key, value in keys if is_sweep(value)]


def session_name(session: Path) -> str:
    """Our session stamp for a multirun: its date and time when named so, and a short hash."""
    tail = fingerprint(session)[:4]
    stamped = _STAMPED.search(session.as_posix())
    if stamped:
        return f"{stamped[1]}_{stamped[2]}_{tail}"
    return f"{layout.safe_name(session.name)}_{tail}"


def read_session(
    top: Path, session: Path, jobs: list[Path], patterns: list[str], report: Report
) -> list[SourceRun]:
    """The runs of one multirun, each with the session's axes and stamp."""
    read = [found for job in jobs if (found := read_job(top, job, patterns, report)) is not None]
    axes = _swept(session, top, report)
    values: dict[str, set[str]] = {}
    for _, overrides in read:
        for key, value in map(override_key, overrides):
            values.setdefault(key, set()).add(value)
    axes = [a for a in axes if a in values]
    axes += [key for key, seen in values.items() if len(seen) > 1 and key not in axes]
    stamp = session_name(session)
    runs = []
    for run, _ in sorted(read, key=lambda found: (found[0].order, found[0].name)):
        run.axes = [a for a in axes if a in run.params]
        run.session_hint = stamp
        run.description = f"Hydra multirun {session}"
        runs.append(run)
    return runs


def axes_summary(runs: list[SourceRun]) -> str:
    """`a (3 values), b (3 values)`: what the import says of a multirun's grid."""
    names = list(dict.fromkeys(a for r in runs for a in r.axes))
    counts = {n: len({json.dumps(r.params.get(n), default=str) for r in runs}) for n in names}
    return ", ".join(f"{n} ({counts[n]} values)" for n in names) or "no axes"
