"""Names of archived runs: the one grammar every `expharness` command and `load_run` read.

FORMS (below; `expharness show -h` prints it) is the grammar. Paths of run
folders are tried before any name (loading.resolve); names are looked up in
the root's index, and "newest" is by the time runs started. A name that fits
more than one run raises AmbiguousRun, whose message lists the candidates by
their paths under the root (EXPERIMENT/SESSION/RUN), each a name that fits
only it. Testing runs (`_testing/`, an archive of their own) are named by
path, or under `--root <root>/_testing`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


class RunNotFound(LookupError):
    """No run, or more than one, matches what was asked for."""


class AmbiguousRun(RunNotFound):
    """More than one run fits a name; the message lists them (see `find`)."""


FORMS = """\
  latest                   the newest run of the archive
  EXPERIMENT/latest        the newest run of an experiment (SESSION/latest: of a session)
  EXPERIMENT/RUN           RUN in the newest session of EXPERIMENT that has one
  SESSION/RUN              that session's RUN
  EXPERIMENT/SESSION/RUN   one run exactly (its path under the root)
  RUN                      a run id
RUN may also be a unique prefix of a run id (tried when no id is equal), and a
bare name a prefix of SESSION/RUN. A name that fits several runs lists them.
"""
LATEST = "latest"
HELP = (
    "a run: latest, EXPERIMENT/latest, EXPERIMENT/RUN (its newest session's), SESSION/RUN, "
    "a run id, a unique prefix, or a run folder's path"
)
SHOWN = 10  # candidates an ambiguous name lists; the rest are counted
_COLUMNS = "path, experiment, session, run_id, started_unix"


@dataclass(frozen=True)
class Name:
    """A run name taken apart: up to two qualifiers (experiment and/or session), then the run."""

    text: str
    scope: tuple[str, ...]
    run: str

    @property
    def latest(self) -> bool:
        return self.run == LATEST


def parse(text: str) -> Name:
    """Split a name into its qualifiers and its run (`latest` or a run id or prefix)."""
    clean = text.strip().rstrip("/")
    *scope, run = clean.split("/") if clean else [""]
    return Name(clean, tuple(scope), run)


def find(name: str, base: Path) -> str:
    """Return the index path (under base) of the one run the name stands for."""
    from .index import query

    parsed = parse(name)
    if not base.is_dir():
        raise RunNotFound(f"no run matches {parsed.text!r}: no archive at {base}")
    if len(parsed.scope) > 2 or not parsed.run or not all(parsed.scope):
        raise RunNotFound(f"no run matches {parsed.text!r} under {base}")

    def rows(where: str, args: tuple[Any, ...], tail: str = "") -> list[dict[str, Any]]:
        sql = f"SELECT {_COLUMNS} FROM runs {where} ORDER BY started_unix DESC {tail}"
        keys = ("path", "experiment", "session", "run_id", "started_unix")
        return [dict(zip(keys, row, strict=True)) for row in query(base, sql, args)]

    if not parsed.scope:
        if parsed.latest:
            found = rows("", (), "LIMIT 1")
        else:
            found = rows("WHERE run_id = ?", (parsed.run,)) or _prefixed(parsed.run, rows)
        hint = ""
        if not found and rows("WHERE experiment = ? OR session = ?", (parsed.run,) * 2, "LIMIT 1"):
            hint = f"; {parsed.run}/latest names the newest run of {parsed.run!r}"
        return _one(parsed, found, base, hint)
    if len(parsed.scope) == 2:
        experiment, session = parsed.scope
        scoped = rows(
            "WHERE (experiment = ? AND session = ?) OR path LIKE ? ESCAPE '\\'",
            (experiment, session, _like(f"{experiment}/{session}/") + "%"),
        )
        return _one(parsed, _pick(parsed, scoped, newest_session=False), base, "")
    (qualifier,) = parsed.scope
    scoped = rows("WHERE session = ? OR experiment = ?", (qualifier, qualifier))
    of_session = [r for r in scoped if r["session"] == qualifier]
    of_experiment = [r for r in scoped if r["experiment"] == qualifier]
    found = _pick(parsed, of_session, newest_session=False)
    found += [r for r in _pick(parsed, of_experiment, newest_session=True) if r not in found]
    kinds = [k for k, of in (("experiment", of_experiment), ("session", of_session)) if of]
    hint = (
        f"; {' and '.join(kinds)} {qualifier!r} has no run {parsed.run!r}"
        if kinds
        else f"; no experiment or session is called {qualifier!r}"
    )
    return _one(parsed, found, base, hint)


def _like(text: str) -> str:
    """text as a LIKE pattern matching itself (ESCAPE '\\')."""
    return text.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")


def _prefixed(run: str, rows: Any) -> list[dict[str, Any]]:
    """The runs whose id, or SESSION/RUN, starts with run (a bare name, as before forms)."""
    like = _like(run) + "%"
    found: list[dict[str, Any]] = rows(
        "WHERE run_id LIKE ? ESCAPE '\\' OR (session || '/' || run_id) LIKE ? ESCAPE '\\'",
        (like, like),
    )
    return found


def _newest(row: dict[str, Any]) -> tuple[float, str, str]:
    return (float(row["started_unix"] or 0.0), str(row["session"] or ""), str(row["path"]))


def _pick(name: Name, rows: list[dict[str, Any]], newest_session: bool) -> list[dict[str, Any]]:
    """The rows of a scope the name's run stands for (equal ids first, else prefixes)."""
    if not rows:
        return []
    if name.latest:
        return [max(rows, key=_newest)]
    found = [r for r in rows if r["run_id"] == name.run] or [
        r for r in rows if str(r["run_id"] or "").startswith(name.run)
    ]
    if newest_session and found:  # EXPERIMENT/RUN: the newest session that has it
        session = max(found, key=_newest)["session"]
        found = [r for r in found if r["session"] == session]
    return found


def _one(name: Name, rows: list[dict[str, Any]], base: Path, hint: str) -> str:
    """The one row's path; RunNotFound when there is none, AmbiguousRun when there are more."""

    unique = {str(r["path"]): r for r in rows}
    if not unique:
        raise RunNotFound(f"no run matches {name.text!r} under {base}{hint}")
    if len(unique) == 1:
        return next(iter(unique))
    newest_first = sorted(unique.values(), key=_newest, reverse=True)
    raise AmbiguousRun(candidates_message(name.text, base, newest_first))


def candidates_message(text: str, base: Path, rows: list[dict[str, Any]]) -> str:
    """Say that text fits several runs and list them, newest first, as names that fit one."""
    lines = [
        f"{text!r} matches {len(rows)} runs under {base}; "
        "name one of them (EXPERIMENT/SESSION/RUN, as listed):"
    ]
    lines += [f"  {r['path']}" for r in rows[:SHOWN]]
    if len(rows) > SHOWN:
        lines.append(f"  ... and {len(rows) - SHOWN} more (expharness list shows them all)")
    return "\n".join(lines)
