"""The end of a run: its final files, written step by step so that the summary always is.

`finish` closes what is open and writes series/ and metrics.csv (streamed from
the journal, archive/seriesfiles.py), data.json, analysis.py
(runscript.py), the plots, summary.json and REPORT.md. Each step that can fail
is attempted on its own and a failure is named in the summary's `problems`.
Once metrics.csv, data.json and analysis.py are written, summary.json says
`finishing` (see catalog/reading.py): a process that dies after that point loses
nothing, the rest is remade from the folder. `amend` changes the outcome of a
finished run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from ..archive import layout
from ..archive.locks import update_summary
from ..archive.logline import append_entry
from ..archive.metricsfile import Columns, series_stats
from ..archive.values import scalars, to_json
from ..catalog import records
from ..report import runreport, runscript
from . import artifacts
from .components import Component
from .relay import ConstantPatch
from .store import DataStore
from .tracking import Tracker

_now = time.time


def iso(ts: float) -> str:
    """A time as summary.json and config.yaml write it (local, with its offset)."""
    return dt.datetime.fromtimestamp(ts).astimezone().isoformat(timespec="milliseconds")


class RunEnd:
    """finish and amend of a run; Exp provides the state these use."""

    _flusher: Any
    _finished: bool
    _io_lock: threading.Lock
    _checkpoints: Any
    _hot: dict[str, Any]
    _constants: ConstantPatch
    _tracker: Tracker
    _store: DataStore
    _components: dict[str, Component]
    _cache: Any
    _gates: dict[str, Any]
    _usage: Any
    _log_file: TextIO
    path: Path
    started: float
    record: dict[str, Any] | None

    def _write_log(self, level: str, text: str) -> None:
        raise NotImplementedError

    def log_counts(self) -> dict[str, int]:
        raise NotImplementedError

    def _config(self) -> dict[str, Any]:
        raise NotImplementedError

    def _summary_base(self, extra: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def _write_summary(self, extra: dict[str, Any]) -> None:
        raise NotImplementedError

    def finish(self, outcome: dict[str, Any]) -> None:
        """Write the final files of the run: metrics.csv, data, plots, summary, report.

        Each step that can fail is attempted on its own, so the final summary is
        always written; a failed step is named in its `problems`. A second Ctrl-C
        during the slow steps skips them, and is raised again once the summary is safe.
        """
        if self._finished:
            return
        self._flusher.unregister(self)
        with self._io_lock:
            self._finished = True
        self._hot = {}
        with contextlib.suppress(OSError):  # a path handed out for a checkpoint, now written
            self._checkpoints.commit()
        self._constants.restore()
        ended = _now()
        problems: list[str] = []
        interrupted = False

        def attempt(what: str, step: Callable[[], Any], default: Any = None) -> Any:
            nonlocal interrupted
            try:
                return step()
            except KeyboardInterrupt:
                interrupted = True
                problems.append(f"{what}: skipped after a second Ctrl-C")
            except Exception as error:
                problems.append(f"{what}: {type(error).__name__}: {error}")
            return default

        for name in attempt("closing open artifacts", self._close_artifacts, []):
            self._write_log("WARNING", f"artifact {name} was still open at the end; closed it")
        attempt("journaling the last points", self._tracker.close)
        before = len(problems)
        columns = attempt("metrics.csv", self._write_metrics, {})
        metrics_written = len(problems) == before
        written = attempt("data.json", lambda: self._write_data(problems))
        data = written or {}
        config = self._config()
        attempt(runscript.SCRIPT, lambda: runscript.write(self.path, config["experiment"]))
        error = outcome.get("error")
        if error and error.get("traceback"):
            self._write_log("ERROR", f"run failed:\n{error['traceback'].rstrip()}")
        summary: dict[str, Any] = {
            **outcome,
            "ended": iso(ended),
            "duration": round(ended - self.started, 6),
            "metrics": {name: series_stats(cols) for name, cols in columns.items()},
            "frames": dict(self._tracker.frames),
            "components": {name: c.record() for name, c in self._components.items()},
            "cache": self._cache.summary() if self._cache is not None else None,
            "data_file": layout.DATA if data else None,
            "results": dict(scalars(data)),
            "artifacts": attempt("listing artifacts", lambda: layout.artifact_names(self.path), []),
            "log": self.log_counts(),
            "resources": attempt("resources", lambda: self._usage.final(ended)),
            **self._gates,  # expectations and baseline, checked as the body returned
        }
        if metrics_written and written is not None:  # what is left is remade from the folder
            final = {**summary, "plots": [], "problems": list(problems), "heartbeat": _now()}
            final.update(status="running", finishing=outcome["status"])  # see catalog/reading.py
            attempt("marking the data final", lambda: self._write_summary(final))
        plots, plot_problem = attempt(
            "plots", lambda: runreport.make_plots(self.path, columns), ([], None)
        )
        gifs, gif_problem = attempt(
            "animations", lambda: runreport.make_gifs(self.path, self._tracker.frames), ([], None)
        )
        problems.extend(p for p in (plot_problem, gif_problem) if p)
        summary.update(plots=[*plots, *gifs], problems=problems)
        for problem in problems:
            self._write_log("WARNING", problem)
        summary["log"] = self.log_counts()  # the problems just written count
        self._write_summary(summary)
        with contextlib.suppress(OSError):  # summary.json is the truth now
            (self.path / layout.LIVE).unlink(missing_ok=True)
        self.record = records.make_record(config, self._summary_base(summary), self.path)
        attempt(
            "REPORT.md",
            lambda: runreport.write_report(self.path, config, self._summary_base(summary)),
        )
        self._write_log("INFO", f"run {outcome['status']} in {ended - self.started:.3f} s")
        self._log_file.close()
        if interrupted:
            raise KeyboardInterrupt

    def amend(self, outcome: dict[str, Any]) -> None:
        """Change a finished run's outcome (an error after it ended, in a fixture's teardown)."""

        def change(found: dict[str, Any]) -> None:
            found.update(outcome)
            counts = found.get("log")
            if isinstance(counts, dict):  # the entry written below
                counts["errors"] = int(counts.get("errors") or 0) + 1

        summary = update_summary(self.path, change)
        config = self._config()
        self.record = records.make_record(config, summary, self.path)
        text = str(outcome.get("error", {}).get("traceback", "")).rstrip()
        append_entry(self.path, "ERROR", f"after the run: {text}")
        runreport.write_report(self.path, config, summary)

    def _close_artifacts(self) -> list[str]:
        return artifacts.close_open_files(self.path)

    def _write_metrics(self) -> dict[str, Columns]:
        """Write series/ and metrics.csv, streamed; return each series' plot sample and summary."""
        columns = self._tracker.write_files()
        self._tracker.discard_journal()
        return columns

    def _write_data(self, problems: list[str]) -> dict[str, Any]:
        found: list[str] = []
        data = self._store.snapshot(found)
        problems.extend(f"{problem}; data.json holds its repr" for problem in found)
        if data:
            layout.atomic_write_text(self.path / layout.DATA, to_json(data))
        return data
