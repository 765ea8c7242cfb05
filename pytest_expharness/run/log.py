"""A run's log: run.log lines with a level, the same records for Python logging, and counts.

Every entry of run.log is `<date> <time.ms> <LEVEL> <text>` (see archive/logline.py),
LEVEL one of DEBUG, INFO, WARNING, ERROR, CRITICAL. `exp.log(msg,
level="warning")` writes one (the level by name, any case, or number), sends a
record of that level to the `pytest_expharness.run` logger (shown in a failure
report, or live with log_cli) and prints it with -s.

DEBUG entries (`exp.log(..., level="debug")`, a hook's calls after its first)
are written only when the session asks for them the way it would of Python
logging: pytest's `--log-level` / `log_level` or `--log-cli-level` /
`log_cli_level` at DEBUG. Otherwise they are dropped, so a hook called every
epoch leaves one line, not one an epoch.

summary.json `log: {"warnings": N, "errors": M}` counts the WARNING entries,
and the ERROR and CRITICAL ones, that the run wrote until its summary was
final: exp.log lines, relayed Python warnings, component failures, cache and
config.yaml warnings, problems while finishing and the traceback of a failed
run (`grep -c` of the level finds as many). An error after the run (a later
fixture's teardown) adds one. Entries appended later by others are not
counted: an @analysis outcome (summary.json `analysis` records it), a note of
the controller (a record that could not travel, a run finished from its folder).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable
from typing import Any, TextIO

from ..archive.logline import entry
from .relay import relaying_warnings

LOGGER = logging.getLogger("pytest_expharness.run")
LOGGER.setLevel(logging.INFO)
WORDS = {
    logging.DEBUG: "DEBUG",
    logging.INFO: "INFO",
    logging.WARNING: "WARNING",
    logging.ERROR: "ERROR",
    logging.CRITICAL: "CRITICAL",
}
LEVELS = {word.lower(): number for number, word in WORDS.items()} | {"warn": logging.WARNING}
MAX_SHOWN = 200  # characters of a parameter's value in log_parameters


def level_of(level: str | int) -> int:
    """Return the logging number of a level given by name (any case) or number."""
    if isinstance(level, str):
        found = LEVELS.get(level) or LEVELS.get(level.strip().lower())
        if found is not None:
            return found
    elif isinstance(level, int) and not isinstance(level, bool) and level in WORDS:
        return int(level)
    names = ", ".join(LEVELS)
    numbers = ", ".join(f"logging.{w} ({n})" for n, w in WORDS.items())
    raise ValueError(f"exp.log: level {level!r}: use one of {names}, or {numbers}")


def debug_wanted(config: Any) -> bool:
    """Whether pytest's log_level or log_cli_level asks for DEBUG records."""
    if config is None:
        return False
    from _pytest.config.exceptions import UsageError
    from _pytest.logging import get_log_level_for_setting

    try:
        levels = [
            get_log_level_for_setting(config, name) for name in ("log_level", "log_cli_level")
        ]
    except (ValueError, UsageError):  # -p no:logging; a bad level pytest itself reports
        return False
    return any(level is not None and level <= logging.DEBUG for level in levels)


def shown(value: Any) -> str:
    """A parameter's value on one line of the log, at most MAX_SHOWN characters."""
    try:
        text = " ".join(repr(value).split("\n"))
    except Exception as error:  # a value whose repr raises still gets a line
        text = f"<{type(value).__name__}: repr failed: {type(error).__name__}>"
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


class RunLog:
    """exp.log, exp.log_parameters and run.log of a run; Exp provides the state these use."""

    _session: Any
    _params: dict[str, Any]
    _log_file: TextIO
    _counts: dict[str, int]  # {"warnings": N, "errors": M}
    _debug: bool | None

    def log(self, message: object, level: str | int = "info") -> None:
        """Write an entry to run.log and to pytest's output (live with -s or log_cli).

        level: debug, info (the default), warning (or warn), error, critical,
        or a `logging` level number. DEBUG entries need pytest's --log-level=DEBUG.
        """
        self._log(level_of(level), str(message))

    def log_parameters(self, names: Iterable[str] | str | None = None) -> None:
        """Write the run's parameters to run.log, one `NAME = value` line each, as declared.

        names: only these (a name or several); a name that is not a parameter raises.
        """
        params = self._params
        chosen = list(params) if names is None else [names] if isinstance(names, str) else [*names]
        unknown = [name for name in chosen if name not in params]
        if unknown:
            from ..plan.params import suggest

            known = ", ".join(params) or "none"
            hint = suggest(str(unknown[0]), params)
            raise ValueError(
                f"exp.log_parameters: no parameter {unknown[0]!r}{hint}; parameters: {known}"
            )
        self._log(logging.INFO, "parameters:")
        for name in chosen:
            self._log(logging.INFO, f"  {name} = {shown(params[name])}")

    def relaying_warnings(self) -> contextlib.AbstractContextManager[None]:
        """Copy warnings raised inside the block into run.log (see relay.py)."""
        return relaying_warnings(self._write_log)

    def log_counts(self) -> dict[str, int]:
        """The WARNING and ERROR (with CRITICAL) entries written so far."""
        return dict(self._counts)

    def _log(self, number: int, text: str) -> None:
        if number == logging.DEBUG and not self._debug_wanted():
            return
        word = WORDS[number]
        self._write_log(word, text)
        if number >= logging.INFO:
            LOGGER.log(number, text, stacklevel=3)  # the record names the caller of exp.log
        else:  # asked for by the session: under the logger's own level, so handed over as is
            LOGGER.handle(LOGGER.makeRecord(LOGGER.name, number, __file__, 0, text, (), None))
        if self._session.live_log:
            print(text if number == logging.INFO else f"{word} {text}", flush=True)

    def _write_log(self, level: str, text: str) -> None:
        if level == "DEBUG" and not self._debug_wanted():
            return
        if not self._log_file.closed:
            self._log_file.write(entry(level, text))
            if level == "WARNING":
                self._counts["warnings"] += 1
            elif level == "ERROR" or level == "CRITICAL":
                self._counts["errors"] += 1

    def _debug_wanted(self) -> bool:
        if self._debug is None:
            self._debug = debug_wanted(self._session.pytest_config)
        return self._debug
