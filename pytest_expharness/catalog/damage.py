"""Damaged run folders: reading a run's files, or saying which one is damaged and why.

A run folder is the truth, but a file in it can be garbage (a disk that filled
mid-write by another tool, a hand edit, a character an older writer let through).
Readers must skip such a folder and go on, and say which file is wrong: every
reading here raises DamagedRun naming the file, never a YAML or JSON traceback.
A folder on a read-only archive is read without writing down what it infers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..archive import layout


class DamagedRun(ValueError):
    """A file of a run folder cannot be read as what it should be."""

    def __init__(self, path: Path, why: str) -> None:
        super().__init__(f"{path}: {why}")
        self.path = path
        self.why = why


def _yaml_problem(error: Exception, text: str) -> str:
    """One line for a YAML error: what is wrong, and at which line and column."""
    position = getattr(error, "position", None)
    mark = getattr(error, "problem_mark", None)
    if isinstance(position, int):  # a reader error: a character YAML refuses
        line = text.count("\n", 0, position) + 1
        column = position - (text.rfind("\n", 0, position) + 1) + 1
        problem = str(error).splitlines()[0]
    else:
        problem = str(getattr(error, "problem", None) or str(error).splitlines()[0])
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
    return f"not valid YAML: {problem}" + (f" (line {line}, column {column})" if line else "")


def _where(text: str) -> str | None:
    """Parse text without building anything, for the line and column of its first error."""
    import yaml

    try:
        for _ in yaml.parse(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
            pass
    except yaml.YAMLError as error:
        return _yaml_problem(error, text)
    return None


def read_config(folder: Path) -> dict[str, Any]:
    """Return a run's config.yaml, checked to hold its experiment header and parameters."""
    import yaml

    from ..archive.yamltext import load

    path = folder / layout.CONFIG
    try:
        text = path.read_text("utf-8")
    except UnicodeDecodeError as error:
        raise DamagedRun(path, f"not UTF-8 text ({error.reason} at byte {error.start})") from None
    except OSError as error:
        raise DamagedRun(path, f"cannot be read ({error.strerror or error})") from None
    try:
        config = load(text)
    except yaml.YAMLError as error:
        raise DamagedRun(path, _yaml_problem(error, text)) from None
    except RecursionError:
        raise DamagedRun(path, "nested too deeply to read") from None
    except ValueError as error:  # yamltext's YamlError: not YAML, or refused (a bomb, a depth)
        problem = str(getattr(error, "problem", None) or error)
        if not getattr(error, "invalid", False):
            raise DamagedRun(path, f"refused: {problem}") from None
        raise DamagedRun(path, _where(text) or f"not valid YAML: {problem}") from None
    if not isinstance(config, dict) or not isinstance(config.get("experiment"), dict):
        raise DamagedRun(path, "no 'experiment' header (expected a mapping with one)")
    if not isinstance(config.get("parameters") or {}, dict):
        raise DamagedRun(path, "'parameters' is not a mapping")
    if not isinstance(config["experiment"].get("tags") or [], list):
        raise DamagedRun(path, "'experiment: tags' is not a list")
    return config


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text("utf-8"))
    except UnicodeDecodeError as error:
        raise DamagedRun(path, f"not UTF-8 text ({error.reason} at byte {error.start})") from None
    except json.JSONDecodeError as error:
        raise DamagedRun(
            path, f"not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})"
        ) from None
    except OSError as error:
        raise DamagedRun(path, f"cannot be read ({error.strerror or error})") from None
    except (ValueError, RecursionError) as error:
        raise DamagedRun(path, f"not valid JSON ({error})") from None


def read_summary(folder: Path, repair: bool = True) -> dict[str, Any]:
    """Return a run's summary as it really is (a dead run reads `crashed`: reading.read_run).

    With repair a certain crash is written down, as reading.read_run does; where
    the folder cannot be written (a read-only archive, a full disk) it is only reported.
    """
    from .reading import read_run

    path = folder / layout.SUMMARY
    summary = _read_json(path)
    if not isinstance(summary, dict):
        raise DamagedRun(path, f"not a JSON object (found {type(summary).__name__})")
    for key in ("metrics", "results", "components"):
        if not isinstance(summary.get(key) or {}, dict):
            raise DamagedRun(path, f"'{key}' is not an object")
    if not all(isinstance(s, dict) for s in (summary.get("metrics") or {}).values()):
        raise DamagedRun(path, "a series in 'metrics' is not an object")
    if summary.get("status") != "running":
        return summary
    try:
        return read_run(folder, repair=repair)
    except OSError:  # read-only or full: say it crashed, write nothing
        if not repair:
            raise
    except ValueError as error:  # replaced by garbage since it was read above
        raise DamagedRun(path, f"not valid JSON ({error})") from None
    return read_run(folder, repair=False)


def record_of(folder: Path, repair: bool = True) -> dict[str, Any]:
    """Return a run folder's record (records.make_record), or raise DamagedRun."""
    from .records import make_record

    config = read_config(folder)
    summary = read_summary(folder, repair)
    return make_record(config, summary, folder)


def read_data(folder: Path) -> dict[str, Any]:
    """Return a run's data.json ({} when it has none)."""
    path = folder / layout.DATA
    if not path.exists():
        return {}
    data = _read_json(path)
    if not isinstance(data, dict):
        raise DamagedRun(path, f"not a JSON object (found {type(data).__name__})")
    return data


def read_metrics(folder: Path) -> dict[str, Any]:
    """Return a run's series as columns: from series/ when it has one, else metrics.csv.

    series/ (archive/seriesfiles.py) reads as numpy arrays, fast; metrics.csv is
    read for runs written before it existed. {} when the run has neither.
    """
    from ..archive import seriesfiles
    from ..archive.metricsfile import columns_from_csv

    try:
        found = seriesfiles.read(folder)
    except (OSError, ValueError) as error:
        raise DamagedRun(
            folder / seriesfiles.FOLDER, f"not readable series files ({error})"
        ) from None
    if found is not None:
        return found
    path = folder / layout.METRICS
    if not path.exists():
        return {}
    try:
        return columns_from_csv(path)
    except UnicodeDecodeError as error:
        raise DamagedRun(path, f"not UTF-8 text ({error.reason} at byte {error.start})") from None
    except (ValueError, TypeError) as error:
        raise DamagedRun(path, f"not step,name,value,time rows ({error})") from None
    except OSError as error:
        raise DamagedRun(path, f"cannot be read ({error.strerror or error})") from None


def problem_of(folder: Path) -> DamagedRun | None:
    """Return what is damaged in a run folder (every file a reader reads), or None."""
    try:
        read_config(folder)
        read_summary(folder, repair=False)
        read_data(folder)
        read_metrics(folder)
    except DamagedRun as damage:
        return damage
    return None
