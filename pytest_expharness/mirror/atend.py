"""`--exp-mlflow URI`: the controller mirrors its session's runs to MLflow when the session ends.

Never on a run's path: workers and SLURM tasks do nothing, and the controller
(or the lone process) exports once its tables and index are written, after
the tables are printed (the wrapper of pytest_terminal_summary; without a
terminal reporter, at pytest_unconfigure). A missing extra is a usage error
when the session starts, before any run. A failed export changes nothing in
the archive (a mirror only reads it) and is one warning line, never a
traceback; `expharness export --mlflow URI --session S` does it again.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pytest

Ended = Callable[[], tuple[Any, Any]]  # (the tables written at the end or None, session state)


def watch(config: pytest.Config, ended: Ended) -> None:
    """Check the extra is there (a usage error if not) and mirror when the session has ended."""
    if hasattr(config, "workerinput") or config.getoption("exp_slurm_task"):
        return  # the controller exports, once
    import importlib.util

    try:
        found = importlib.util.find_spec("mlflow") is not None
    except (ImportError, ValueError):  # ValueError: sys.modules holds None for it
        found = False
    if not found:
        raise pytest.UsageError(
            "--exp-mlflow needs the 'mlflow' extra: pip install 'pytest-expharness[mlflow]'"
        )
    config.pluginmanager.register(AtEnd(config.getoption("exp_mlflow"), ended), "expharness-mlflow")


def session_runs(root: Path, stamp: str) -> list[Path]:
    """The run folders of one session (testing runs too), in path order."""
    from ..archive.layout import is_run_folder

    found = []
    for base in (root, root / "_testing"):
        for sweep in sorted(base.glob(f"*/{stamp}")):
            found += [p for p in sorted(sweep.iterdir()) if p.is_dir() and is_run_folder(p)]
    return found


class AtEnd:
    """The plugin object that mirrors the session's runs once, at its very end."""

    def __init__(self, uri: str, ended: Ended) -> None:
        self.uri, self.ended, self.done = uri, ended, False

    def mirror(self) -> str | None:
        """Export the session's runs; return the line to show (None: nothing to export)."""
        self.done = True
        tables, state = self.ended()
        if tables is None or state is None or state.slurm_task:
            return None  # no experiment ran, or the session stopped before its tables
        from .extras import MirrorError
        from .mlflow import export

        folders = session_runs(state.settings.root, state.stamp)
        try:
            done = export(folders, self.uri, state.settings.root)
        except (MirrorError, OSError) as error:
            return f"expharness: warning: runs not mirrored to MLflow: {error}"
        except Exception as error:  # a store's own failure: the archive is whole, say it once
            first = (str(error).strip().splitlines() or [""])[0]
            return (
                f"expharness: warning: runs not mirrored to MLflow at {self.uri}: "
                f"{type(error).__name__}: {first}"
            )
        from .commands import said

        return said(done, f"MLflow at {self.uri}")

    @pytest.hookimpl(wrapper=True)
    def pytest_terminal_summary(self, terminalreporter: Any) -> Generator[None, None, None]:
        """Mirror after the tables are printed, and say how it went."""
        yield
        line = self.mirror()
        for text in (line or "").splitlines():
            terminalreporter.write_line(text, yellow=text.startswith("expharness: warning"))

    def pytest_unconfigure(self) -> None:
        """Mirror here when no terminal reporter did (-p no:terminal)."""
        if not self.done:
            line = self.mirror()
            if line:
                print(line, file=sys.stderr)
