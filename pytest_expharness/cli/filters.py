"""What the names on an `expharness` command line mean, and when they mean nothing.

A filter (`lr<0.01`, `latent=vq`) is parsed, never evaluated. Its NAME is
resolved once against the runs selected (after --experiment, --status, --tag,
--label), the most specific reading first:

1. as written: a parameter, a final metric or a stored value of that name
   (`results/elbo`, `best`), or the name in upper case (`lr` finds `LR`, the
   module constants); in a run holding several, a parameter before a metric
   before a stored value;
2. as a result's short name: `elbo` finds `results/elbo` (then `results/ELBO`);
3. as the end of one result's name: `acc` finds `results/val/acc` when it is
   the only `results/.../acc` among the runs selected.

Each run is read by the first of readings 1 and 2 it holds: in a run holding a
metric `elbo` and `results/elbo` the metric wins (as a main metric `elbo` does
in the sweep tables), and a run holding only `results/elbo` is read by that.
Reading 3 is tried only when no selected run holds reading 1 or 2, so
`results/elbo` wins over `results/val/elbo`. A run holding none of the
readings simply does not match. A NAME no selected run knows is a usage error
naming the names they know; one whose only readings are two results
(`results/train/elbo`, `results/val/elbo`) is ambiguous, an error naming both.

The options follow one rule too: a value no run could have is a usage error
naming those there are (an experiment or a tag no run in the archive has, a
status or a label the harness never writes); a query that could match but
matches nothing exits 1.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .common import UsageError, runs_text

EXPRESSION = re.compile(r"^\s*([A-Za-z_][\w./]*)\s*(<=|>=|!=|==|=|<|>)\s*(.+?)\s*$")
OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "=": operator.eq,
    "==": operator.eq,
    "!=": operator.ne,
}
RESULTS = "results/"
# every status a run folder can hold (reading.py adds stale, a suspicion it never writes)
STATUSES = (
    "completed", "pruned", "failed", "skipped", "interrupted", "preempted", "crashed", "stale",
    "running",
)  # fmt: skip
SHOWN_NAMES = 20


class FilterError(UsageError, ValueError):
    """A filter, or an option's value, that cannot mean anything (a usage error: exit 2)."""


def parse_expression(text: str) -> tuple[str, Callable[[Any, Any], bool], Any]:
    """Parse `name<op>value`; the value is read as YAML (never eval'd)."""
    from ..plan.params import read_value

    match = EXPRESSION.match(text)
    if match is None:
        raise FilterError(
            f"filter {text!r}: expected NAME<op>VALUE with op one of < <= > >= = != "
            "(for example lr<0.01 or latent=vq)"
        )
    name, op, raw = match.groups()
    if raw[0] in "<>=!":
        raise FilterError(f"filter {text!r}: one comparison, e.g. {name}{op}{raw.lstrip('<>=!')}")
    try:
        value = read_value(raw)
    except Exception as error:
        first = str(error).splitlines()[0]
        raise FilterError(f"filter {text!r}: the value is not valid YAML ({first})") from None
    return name, OPERATORS[op], value


MISSING = object()


@dataclass(frozen=True)
class Names:
    """The names the selected runs know: parameters, final metrics, stored values."""

    runs: int
    params: frozenset[str]
    metrics: frozenset[str]
    stored: frozenset[str]

    @classmethod
    def of(cls, rows: list[dict[str, Any]]) -> Names:
        params: set[str] = set()
        metrics: set[str] = set()
        stored: set[str] = set()
        for row in rows:
            params.update(row["params"] or ())
            metrics.update(row["metrics"] or ())
            stored.update(row["results"] or ())
        return cls(len(rows), frozenset(params), frozenset(metrics), frozenset(stored))

    @classmethod
    def held(cls, runs: int, by_source: dict[int, frozenset[str]]) -> Names:
        """The names from Archive.names: a count and the keys by source (catalog.indexrows)."""
        empty: frozenset[str] = frozenset()
        return cls(runs, *(by_source.get(source, empty) for source in (0, 1, 2)))

    @property
    def every(self) -> frozenset[str]:
        return self.params | self.metrics | self.stored

    def sources(self) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
        return self.params, self.metrics, self.stored


@dataclass(frozen=True)
class Key:
    """What a NAME means among the runs selected: the spellings to try in each run, in order."""

    name: str
    full: tuple[str, ...] = ()  # looked up in parameters, metrics, then stored values
    stored: tuple[str, ...] = ()  # looked up in stored values only

    def of(self, row: dict[str, Any]) -> Any:
        """Return the run's value for this key, or MISSING."""
        sources = (row["params"] or {}, row["metrics"] or {}, row["results"] or {})
        for spelling in self.full:
            for source in sources:
                if spelling in source:
                    return source[spelling]
        stored = sources[2]
        for spelling in self.stored:
            if spelling in stored:
                return stored[spelling]
        return MISSING

    def candidates(self, names: Names) -> list[tuple[int, str]]:
        """Where `of` looks, in its order, as (source, key) pairs some selected run holds."""
        found = [
            (source, spelling)
            for spelling in self.full
            for source, known in enumerate(names.sources())
            if spelling in known
        ]
        found += [(2, spelling) for spelling in self.stored if spelling in names.stored]
        return list(dict.fromkeys(found))


def op_text(compare: Callable[[Any, Any], bool]) -> str:
    """Return the operator's text (for Archive.runs conditions)."""
    return next(text for text, known in OPERATORS.items() if known is compare)


def _cased(name: str) -> tuple[str, ...]:
    return (name,) if name == name.upper() else (name, name.upper())


def resolve(name: str, names: Names, text: str | None = None) -> Key:
    """Return what `name` means among the selected runs (see the module's docstring).

    Raises FilterError naming the known names when no run knows it, and the
    candidates when it could be more than one result.
    """
    where = f"filter {text!r}" if text is not None else repr(name)
    full = tuple(s for s in _cased(name) if s in names.every)
    short = tuple(s for s in (RESULTS + c for c in _cased(name)) if s in names.stored)
    if full or short:
        return Key(name, full, short)
    for spelling in _cased(name):
        ends = sorted(
            k for k in names.stored if k.startswith(RESULTS) and k.endswith(f"/{spelling}")
        )
        if len(ends) == 1:
            return Key(name, stored=(ends[0],))
        if ends:
            raise FilterError(
                f"{where}: {name!r} could be {' or '.join(ends)}; write the one meant"
            )
    raise FilterError(
        f"{where}: no parameter, metric or result {name!r} in the {runs_text(names.runs)} "
        f"selected{_suggestion(name, names.every)}; known: {listing(names.every)}"
    )


def matches(row: dict[str, Any], key: Key, compare: Callable[[Any, Any], bool], value: Any) -> bool:
    found = key.of(row)
    if found is MISSING:
        return False
    try:
        return bool(compare(found, value))
    except TypeError:  # e.g. a string parameter compared with a number
        return False


def listing(names: Iterable[str], cap: int = SHOWN_NAMES) -> str:
    """Sorted names, comma-separated, at most `cap` of them ('... and N more')."""
    found = sorted(set(names), key=lambda n: (n.lower(), n))
    if not found:
        return "(none)"
    more = f" ... and {len(found) - cap} more" if len(found) > cap else ""
    return ", ".join(found[:cap]) + more


def _suggestion(name: str, candidates: Iterable[str]) -> str:
    import difflib

    shown = {c.lower(): c for c in candidates}
    shown.update({c[len(RESULTS) :].lower(): c for c in candidates if c.startswith(RESULTS)})
    close = difflib.get_close_matches(name.lower(), list(shown), n=1, cutoff=0.75)
    return f" (did you mean {shown[close[0]]}?)" if close else ""


def check_selection(
    root: str | Path,
    experiment: str | None = None,
    status: str | None = None,
    tag: str | None = None,
    label: str | None = None,
) -> None:
    """Raise FilterError for an option's value that no run could have (call when none matched).

    An experiment or a tag is known when some run in the archive has it; a
    status or a label when the harness writes it (or some run has it). An
    archive without runs has nothing to name: then nothing is wrong.
    """
    import json

    from ..archive.layout import LABELS
    from ..catalog.index import query

    if experiment is None and status is None and tag is None and label is None:
        return
    found = query(Path(root), "SELECT DISTINCT experiment, status, label, tags FROM runs")
    if not found:
        return
    checks = (
        ("--experiment", experiment, {r[0] for r in found}, f"no such experiment under {root}"),
        ("--status", status, {*STATUSES, *(r[1] for r in found)}, "not a run status"),
        ("--label", label, {*LABELS, *(r[2] for r in found)}, "not a label"),
        (
            "--tag",
            tag,
            {t for r in found for t in json.loads(r[3] or "[]")},
            f"no run under {root} has this tag",
        ),
    )
    for option, given, known, why in checks:
        known.discard(None)
        if given is not None and given not in known:
            hint = _suggestion(given, known)
            raise FilterError(f"{option} {given!r}: {why}{hint}; known: {listing(known)}")
