"""Copying the warnings a run raises into its run.log.

pytest reports a test's warnings only after its fixtures are torn down, when the
run has already closed its log; so they are caught while the test body runs,
under the filters already in force (so `-W error` still fails the run), written
to the log as they happen, and re-emitted unchanged for pytest's summary.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Callable, Iterator
from typing import Any, TextIO


@contextlib.contextmanager
def relaying_warnings(write_log: Callable[[str, str], None]) -> Iterator[None]:
    """Write warnings raised inside the block to `write_log`, then pass them on."""
    caught: list[tuple[Any, ...]] = []

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        where = f"{os.path.basename(filename)}:{lineno}"
        write_log("WARNING", f"{category.__name__}: {message} ({where})")
        caught.append((message, category, filename, lineno))

    try:
        with warnings.catch_warnings():  # the filters in force stay as they are
            warnings.showwarning = show
            yield
    finally:
        for message, category, filename, lineno in caught:
            warnings.warn_explicit(message, category, filename, lineno)


class ConstantPatch:
    """Module (and class) constants holding a run's parameter values while it runs."""

    def __init__(self) -> None:
        self._saved: list[tuple[Any, str, Any]] = []

    def apply(self, targets: list[Any], names: Any, values: dict[str, Any]) -> None:
        """Set each declared name found in a target to the run's value."""
        for target in targets:
            namespace = vars(target)
            for name in names:
                if name in namespace and namespace[name] is not values[name]:
                    self._saved.append((target, name, namespace[name]))
                    setattr(target, name, values[name])

    def restore(self) -> None:
        """Put the original values back."""
        for target, name, old in reversed(self._saved):
            setattr(target, name, old)
        self._saved.clear()


def notify(message: str, category: type[Warning] = UserWarning) -> None:
    """Warn (pytest shows it in its summary) without ever raising.

    Under `-W error` or `filterwarnings = error` a plain warnings.warn would
    raise: a failing analysis would then fail the run it must not touch. So
    an "error" filter shows the warning instead; an "ignore" filter (`-W
    ignore::pytest.PytestWarning`) still hides it.
    """
    with warnings.catch_warnings():  # the user's filters hold, but "error" only shows it
        shown = [("always", *f[1:]) if f[0] == "error" else f for f in warnings.filters]
        warnings.filters[:] = shown  # type: ignore[index]  # a list at run time
        warnings.warn(message, category, stacklevel=3)
