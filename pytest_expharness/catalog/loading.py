"""Loading archived runs back into Python: `load_run` and `Archive`.

from pytest_expharness import load_run, Archive
run = load_run("results/train/2026-11-23_15-40-00_c8fc/latent=vq")
run.params["EPOCHS"], run.metrics["loss"], run.metrics["loss"].steps
Archive("results").runs(experiment="train", status="completed")
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..archive import layout
from .runnames import AmbiguousRun, RunNotFound


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

        class Series(np.ndarray):
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


class Archive:
    """All runs under an archive root, found through the index."""

    def __init__(self, root: str | Path = "results") -> None:
        self.root = Path(root)

    def _rows(self, sql: str, args: tuple[Any, ...]) -> list[dict[str, Any]]:
        from .index import query
        from .indexrows import COLUMNS

        # the four JSON columns come back as one array: one json.loads a row, not four
        merged = (
            "'[' || "
            + " || ',' || ".join(
                f"COALESCE({c}, 'null')" for c in ("tags", "params", "metrics", "results")
            )
            + " || ']'"
        )
        plain = [c for c in COLUMNS if c not in ("tags", "params", "metrics", "results")]
        found = query(self.root, f"SELECT {', '.join(plain)}, {merged} FROM runs {sql}", args)
        rows = []
        loads = json.loads
        for values in found:
            row = dict(zip(plain, values, strict=False))  # values has one more
            row["tags"], row["params"], row["metrics"], row["results"] = loads(values[-1])
            rows.append(row)
        return rows

    def runs(
        self,
        experiment: str | None = None,
        status: str | None = None,
        tag: str | None = None,
        label: str | None = None,
        where: dict[str, Any] | None = None,
    ) -> RunTable:
        """Return the matching runs, newest first (`where`: parameters that must be equal)."""
        clauses, args = [], []
        for column, value in (("experiment", experiment), ("status", status), ("label", label)):
            if value is not None:
                clauses.append(f"{column} = ?")
                args.append(value)
        sql = ("WHERE " + " AND ".join(clauses) if clauses else "") + " ORDER BY started_unix DESC"
        rows = self._rows(sql, tuple(args))
        if tag is not None:
            rows = [r for r in rows if tag in (r["tags"] or [])]
        for name, value in (where or {}).items():
            rows = [r for r in rows if (r["params"] or {}).get(name) == value]
        return RunTable(self.root, rows)

    def latest(self, experiment: str) -> RunRecord:
        """Load the newest run of an experiment."""
        found = self.runs(experiment=experiment)
        if not found.rows:
            raise RunNotFound(f"no run of experiment {experiment!r} under {self.root}")
        return read_folder(self.root / found.rows[0]["path"])


class RunTable:
    """Index rows of some runs; load them one by one or as a DataFrame."""

    def __init__(self, root: Path, rows: list[dict[str, Any]]) -> None:
        self.root = root
        self.rows = rows

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
        flat = []
        for row in self.rows:
            entry = {k: v for k, v in row.items() if k not in ("params", "metrics", "results")}
            entry["tags"] = ",".join(row["tags"] or [])
            entry.update({f"param.{k}": v for k, v in (row["params"] or {}).items()})
            entry.update({f"metric.{k}": v for k, v in (row["metrics"] or {}).items()})
            entry.update({f"result.{k}": v for k, v in (row["results"] or {}).items()})
            flat.append(entry)
        return pd.DataFrame(flat)
