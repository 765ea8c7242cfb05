"""pytest-expharness: computational experiments as pytest tests.

Importing this package is cheap; the public names load on first use.
The plugin holds no asserts, so pytest need not rewrite it: PYTEST_DONT_REWRITE.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AnalysisWarning",
    "Archive",
    "DirtyTreeWarning",
    "Exp",
    "ExperimentWarning",
    "IndexWarning",
    "analysis",
    "hook",
    "load_run",
    "read_run",
    "sweep_analysis",
]
# the warnings a user filters (`-W ignore::pytest_expharness.DirtyTreeWarning`), and where they live
_WARNINGS = {
    "AnalysisWarning": "sweep.analyses",
    "DirtyTreeWarning": "session.gitpolicy",
    "ExperimentWarning": "session.citizen",
    "IndexWarning": "catalog.indexrows",
}


def __getattr__(name: str) -> Any:
    if name == "__version__":
        return _version()
    if name == "Exp":
        from .run.exp import Exp

        return Exp
    if name in ("load_run", "Archive"):
        from .catalog import loading

        return getattr(loading, name)
    if name == "hook":
        from .plan.variants import hook

        return hook
    if name in ("analysis", "sweep_analysis"):
        from .sweep import analyses

        return getattr(analyses, name)
    if name in _WARNINGS:
        from importlib import import_module

        return getattr(import_module(f"{__name__}.{_WARNINGS[name]}"), name)
    if name == "read_run":
        from .catalog.reading import read_run

        return read_run
    raise AttributeError(f"module 'pytest_expharness' has no attribute {name!r}")


def _version() -> str:
    """The installed distribution's version (read on first use: importlib.metadata is not free)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("pytest-expharness")
    except PackageNotFoundError:  # imported from a source tree that was never installed
        found = "0+unknown"
    globals()["__version__"] = found
    return found
