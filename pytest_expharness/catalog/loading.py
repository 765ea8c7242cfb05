"""Loading archived runs back into Python: `load_run` and `Archive`.

from pytest_expharness import load_run, Archive
run = load_run("results/train/2026-11-23_15-40-00_c8fc/latent=vq")
run.params["EPOCHS"], run.metrics["loss"], run.metrics["loss"].steps
Archive("results").runs(experiment="train", status="completed")
"""

from __future__ import annotations

import contextlib
import json
import operator
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ..archive import layout
from .indexrows import COLUMNS
from .runnames import AmbiguousRun, RunNotFound

T = TypeVar("T")
_PLAIN = [c for c in COLUMNS if c not in ("tags", "params", "metrics", "results", "signature")]


@dataclass
class RunRecord:
    """One archived run, read from its folder (the truth)."""

    path: Path
    config: dict[str, Any]
    summary: dict[str, Any]
    data: dict[str, Any]
    metrics: dict[str, Any] = field(repr=False)

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.config.get("parameters") or {})

    @property
    def status(self) -> str:
        return str(self.summary.get("status"))

    @property
    def components(self) -> dict[str, Any]:
        return dict(self.summary.get("components") or {})

    @property
    def run_id(self) -> str:
        return str(self.config.get("experiment", {}).get("run_id"))

    @property
    def experiment(self) -> str:
        return str(self.config.get("experiment", {}).get("name"))

    @property
    def artifacts(self) -> list[Path]:
        base = self.path / layout.ARTIFACTS
        return [base / name for name in self.summary.get("artifacts") or []]


_SERIES: Any = None


def _series(values: Any, steps: Any) -> Any:
    """Return a series' values as a numpy array whose `.steps` holds their steps."""
    global _SERIES
    import numpy as np

    if _SERIES is None:

        class Series(np.ndarray):  # type: ignore[type-arg,unused-ignore]
            """A tracked series' values; `.steps` holds their steps."""

            steps: Any

        _SERIES = Series
    out = np.ascontiguousarray(values, dtype=float).view(_SERIES)
    out.steps = np.ascontiguousarray(steps, dtype=np.int64)
    return out


def read_folder(folder: Path) -> RunRecord:
    """Read a run folder (a dead run reads crashed); a damaged file raises DamagedRun naming it."""
    from .damage import read_config, read_data, read_metrics, read_summary

    if not layout.is_run_folder(folder):
        raise FileNotFoundError(f"{folder} is not a run folder (no config.yaml and summary.json)")
    config = read_config(folder)
    summary = read_summary(folder)
    data = read_data(folder)
    columns = read_metrics(folder)
    metrics = {name: _series(cols.values, cols.steps) for name, cols in columns.items()}
    return RunRecord(folder, config, summary, data, metrics)


def resolve(run: str | Path, root: str | Path | None = None) -> Path:
    """Find a run folder by path, or by name under root (see runnames.py for the forms).

    A path is a run folder as given, or under root. Names: `latest`,
    `EXPERIMENT/latest`, `EXPERIMENT/RUN` (its newest session's), `SESSION/RUN`,
    `EXPERIMENT/SESSION/RUN`, a run id, or a unique prefix. Without root, the
    archive is found as the `expharness` command finds it (layout.find_root:
    $EXPHARNESS_ROOT, else the project's results/ from the current folder up).
    No run raises RunNotFound; more than one raises AmbiguousRun, listing them.
    """
    from .runnames import find

    path = Path(run)
    if layout.is_run_folder(path):
        return path
    base = Path(root) if root is not None else layout.find_root(Path.cwd())
    if layout.is_run_folder(base / path):
        return base / path
    try:
        return base / find(str(run), base)
    except AmbiguousRun:
        raise
    except RunNotFound as error:
        if not path.is_dir():
            raise
        why = f"{path} is a folder but no run folder (no config.yaml and summary.json)"
        raise RunNotFound(f"{error}; {why}") from None


def load_run(run: str | Path, root: str | Path | None = None) -> RunRecord:
    """Load an archived run by path or name (`latest`, `EXP/RUN`, `SESSION/RUN`, id, prefix).

    Names are looked up under root (default: the project's archive); see resolve.
    """
    return read_folder(resolve(run, root))


Condition = tuple[Sequence[tuple[int, str]], str, Any]
"""A filter for Archive.runs: where to look, in order ((source, key): the first a run holds is
its value), the operator (< <= > >= = == !=) and the value; indexrows.compare_sql says how
values compare."""
_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
    "=": operator.eq, "==": operator.eq, "!=": operator.ne,
}  # fmt: skip
_FEW = 2000  # matches up to which gathering them beats walking the runs newest first
_SELECTED = (
    "'[' || "
    + " || ',' || ".join(f"COALESCE({c}, 'null')" for c in ("tags", "params", "metrics", "results"))
    + " || ']'"
)  # the four JSON columns as one array: one json.loads a row, not four


class Archive:
    """All runs under an archive root, found through the index."""

    def __init__(self, root: str | Path = "results") -> None:
        self.root = Path(root)
        self._conn: sqlite3.Connection | None = None

    def runs(
        self,
        experiment: str | None = None,
        status: str | None = None,
        tag: str | None = None,
        label: str | None = None,
        where: dict[str, Any] | None = None,
        conditions: Sequence[Condition] = (),
        limit: int = 0,
    ) -> RunTable:
        """Return the matching runs, newest first (`where`: parameters that must be equal).

        Filters are answered by SQL; `limit` > 0 keeps the newest that many, and
        RunTable.total still counts every match.
        """
        from .indexrows import PARAMS, TAGS, condition_sql, count_matches, sql_comparable

        tests = [*conditions, *(([(PARAMS, k)], "=", v) for k, v in (where or {}).items())]
        clauses, args = self._selection(experiment, status, label)
        if tag is not None:
            clauses.append("r.path IN (SELECT path FROM vals WHERE source = ? AND key = ?)")
            args += [TAGS, tag]
        in_python = [test for test in tests if not sql_comparable(test[2])]
        in_sql = [test for test in tests if sql_comparable(test[2])]
        plain = list(clauses)
        page = limit if limit > 0 and not in_python else 0

        def sql(correlated: bool) -> tuple[str, list[Any]]:
            found, more = list(plain), list(args)
            for candidates, op, value in in_sql:
                clause, values = condition_sql(candidates, op, value, correlated)
                found.append(clause)
                more += values
            return ("WHERE " + " AND ".join(found) if found else ""), more

        def read(conn: sqlite3.Connection) -> tuple[list[Any], int | None]:
            where_sql, more = sql(False)
            total = None
            if page:  # the count first: it says which way the newest matches are quickest found
                total = count_matches(conn, where_sql, more, in_sql if not plain else None)
                if total > _FEW:  # many match: walk the runs newest first, stop at the page
                    where_sql, more = sql(True)
            found = conn.execute(
                f"SELECT {', '.join('r.' + c for c in _PLAIN)}, {_SELECTED} FROM runs r "
                f"{where_sql} ORDER BY r.started_unix DESC{' LIMIT ?' if page else ''}",
                (*more, *([page] if page else [])),
            ).fetchall()
            return found, total

        found, total = self._ask(read)
        rows = _as_rows(found)
        if in_python:
            rows = [r for r in rows if all(_holds(r, *test) for test in in_python)]
        total = len(rows) if total is None else total  # every match, counted before the page
        return RunTable(self.root, rows[:limit] if limit > 0 else rows, total)

    def names(
        self,
        experiment: str | None = None,
        status: str | None = None,
        tag: str | None = None,
        label: str | None = None,
    ) -> tuple[int, dict[int, frozenset[str]]]:
        """Return how many runs are selected, and the keys they hold by source (indexrows)."""
        from .indexrows import TAGS

        clauses, args = self._selection(experiment, status, label)
        if tag is not None:
            clauses.append("r.path IN (SELECT path FROM vals WHERE source = ? AND key = ?)")
            args += [TAGS, tag]
        where_sql = "WHERE " + " AND ".join(clauses) if clauses else ""

        def read(conn: sqlite3.Connection) -> tuple[int, list[tuple[int, str]]]:
            count = conn.execute(f"SELECT COUNT(*) FROM runs r {where_sql}", args).fetchone()[0]
            if clauses:
                keys = conn.execute(
                    f"SELECT DISTINCT v.source, v.key FROM runs r JOIN vals v ON v.path = r.path "
                    f"{where_sql} AND v.source < ?",
                    (*args, TAGS),
                ).fetchall()
            else:  # every run: one step of the index per distinct key, whatever the runs
                keys = []
                for source in range(TAGS):
                    last = ""
                    while step := conn.execute(
                        "SELECT key FROM vals WHERE source = ? AND key > ? ORDER BY key LIMIT 1",
                        (source, last),
                    ).fetchone():
                        last = step[0]
                        keys.append((source, last))
            return count, keys

        count, keys = self._ask(read)
        by_source: dict[int, set[str]] = {}
        for source, key in keys:
            by_source.setdefault(source, set()).add(key)
        return count, {source: frozenset(found) for source, found in by_source.items()}

    def _selection(self, *columns: str | None) -> tuple[list[str], list[Any]]:
        clauses, args = [], []
        for column, value in zip(("experiment", "status", "label"), columns, strict=True):
            if value is not None:
                clauses.append(f"r.{column} = ?")
                args.append(value)
        return clauses, args

    def _ask(self, questions: Callable[[sqlite3.Connection], T]) -> T:
        from .index import ask

        if self._conn is not None:
            return questions(self._conn)
        return ask(self.root, questions)

    @contextlib.contextmanager
    def reading(self) -> Iterator[Archive]:
        """Answer every question inside from one caught-up look at the index."""
        from .index import read_index

        self._conn = read_index(self.root)
        try:
            yield self
        finally:
            self._conn.close()
            self._conn = None

    def latest(self, experiment: str) -> RunRecord:
        """Load the newest run of an experiment."""
        found = self.runs(experiment=experiment, limit=1)
        if not found.rows:
            raise RunNotFound(f"no run of experiment {experiment!r} under {self.root}")
        return read_folder(self.root / found.rows[0]["path"])


def _holds(row: dict[str, Any], candidates: Sequence[tuple[int, str]], op: str, value: Any) -> bool:
    """Python's answer to a filter whose value SQL does not compare (a list, a mapping)."""
    sources = (row["params"] or {}, row["metrics"] or {}, row["results"] or {})
    for source, key in candidates:
        if key in sources[source]:
            try:
                return bool(_OPERATORS[op](sources[source][key], value))
            except TypeError:
                return False
    return False


def _as_rows(found: list[Any]) -> list[dict[str, Any]]:
    rows = []
    decoded = json.loads("[" + ",".join([values[-1] for values in found]) + "]")  # one call
    for values, (tags, params, metrics, results) in zip(found, decoded, strict=True):
        row = dict(zip(_PLAIN, values, strict=False))  # values has one more
        row["tags"], row["params"], row["metrics"], row["results"] = tags, params, metrics, results
        rows.append(row)
    return rows


class RunTable:
    """Index rows of some runs; load them one by one or as a DataFrame."""

    def __init__(self, root: Path, rows: list[dict[str, Any]], total: int | None = None) -> None:
        self.root = root
        self.rows = rows
        self.total = len(rows) if total is None else total  # every match, beyond a limit

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Any:
        return iter(self.rows)

    def load(self) -> list[RunRecord]:
        """Read every run's folder, skipping a damaged one with a warning naming its file."""
        import warnings

        from .damage import DamagedRun
        from .indexrows import IndexWarning

        loaded = []
        for row in self.rows:
            try:
                loaded.append(read_folder(self.root / row["path"]))
            except DamagedRun as damage:
                warnings.warn(f"{damage}; run not loaded", IndexWarning, stacklevel=2)
        return loaded

    def to_dataframe(self) -> Any:
        """One row per run: identity columns, `param.*`, `metric.*` and `result.*` columns."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError(
                "Archive(...).runs().to_dataframe() needs pandas: "
                "pip install 'pytest-expharness[pandas]' (or pip install pandas)"
            ) from None
        return pd.DataFrame(_columns(self.rows))


def _columns(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """The frame's columns, in the order pandas gives a list of per-run dicts (NaN where absent)."""
    count, missing = len(rows), float("nan")
    columns: dict[str, list[Any]] = {}
    get = columns.get
    for i, row in enumerate(rows):
        for key, value in row.items():
            if key == "params" or key == "metrics" or key == "results":
                continue
            column = get(key) or columns.setdefault(key, [missing] * count)
            column[i] = ",".join(value or []) if key == "tags" else value
        for prefix, held in (("param.", "params"), ("metric.", "metrics"), ("result.", "results")):
            for key, value in (row.get(held) or {}).items():
                name = prefix + key
                column = get(name) or columns.setdefault(name, [missing] * count)
                column[i] = value
    return columns
