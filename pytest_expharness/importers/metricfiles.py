"""The metrics files `import-hydra --metrics` reads (Hydra records none): JSON and CSV.

- JSON: an object; a number is a series of one point (step 0), a list of
  numbers a series (step = position); nested objects give slash names
  (`{"loss": {"train": [...]}}` is `loss/train`). Other values (text, true,
  null) are no metric and are named in the notes.
- CSV, long: a header `step,name,value` (a fourth `time` column, as our
  metrics.csv has, is allowed and not used).
- CSV, wide: a header naming the series (`epoch,loss,acc`); a first column
  named step, epoch, iteration, iter or global_step gives the steps, else the
  row number does. An empty cell is no point.

A cell that is not a number is an error naming the file, the line and the
column: a file is read whole or not at all.
"""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any

Series = dict[str, list[tuple[int, float]]]
STEP_COLUMNS = ("step", "epoch", "iteration", "iter", "global_step")
LONG = ["step", "name", "value"]


class MetricsError(ValueError):
    """A metrics file that cannot be read as a whole."""


def parse(name: str, text: str) -> tuple[Series, list[str]]:
    """The series of one metrics file (by its name's suffix), and notes on what was left out."""
    lower = name.lower()
    if lower.endswith(".json"):
        return _json(name, text)
    if lower.endswith(".csv"):
        return _csv(name, text), []
    raise MetricsError(f"{name}: not a .json or .csv file")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _json(name: str, text: str) -> tuple[Series, list[str]]:
    try:
        found = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise MetricsError(f"{name}: not JSON ({error})") from None
    if not isinstance(found, dict):
        raise MetricsError(f"{name}: a JSON object of metric names is needed")
    series: Series = {}
    notes: list[str] = []
    _walk(name, found, "", series, notes)
    return series, notes


def _walk(name: str, tree: dict[str, Any], prefix: str, series: Series, notes: list[str]) -> None:
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            _walk(name, value, path + "/", series, notes)
        elif _is_number(value):
            series[path] = [(0, float(value))]
        elif isinstance(value, list) and value and all(_is_number(v) for v in value):
            series[path] = [(i, float(v)) for i, v in enumerate(value)]
        else:
            notes.append(f"{name}: {path!r} is no number or list of numbers; not a metric")


def _float(name: str, line: int, column: str, cell: str) -> float:
    try:
        return float(cell)
    except ValueError:
        raise MetricsError(
            f"{name}: line {line}: {cell!r} in column {column!r} is not a number"
        ) from None


def _step(name: str, line: int, column: str, cell: str) -> int:
    value = _float(name, line, column, cell)
    if not math.isfinite(value) or value != int(value):
        raise MetricsError(f"{name}: line {line}: step {cell!r} is not a whole number")
    return int(value)


def _csv(name: str, text: str) -> Series:
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as error:
        raise MetricsError(f"{name}: not CSV ({error})") from None
    if not rows or not rows[0]:
        raise MetricsError(f"{name}: no header line (step,name,value or epoch,loss,...)")
    head = [cell.strip() for cell in rows[0]]
    series: Series = {}
    if [h.lower() for h in head[:3]] == LONG and len(head) in (3, 4):
        for line, row in enumerate(rows[1:], start=2):
            if not row:
                continue
            if len(row) != len(head):
                raise MetricsError(f"{name}: line {line}: {len(row)} cells, need {len(head)}")
            step = _step(name, line, "step", row[0])
            series.setdefault(row[1], []).append((step, _float(name, line, "value", row[2])))
        return series
    if len(set(head)) != len(head) or "" in head:
        raise MetricsError(f"{name}: the header needs distinct, non-empty column names")
    stepped = head[0].lower() in STEP_COLUMNS
    names = head[1:] if stepped else head
    for line, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != len(head):
            raise MetricsError(f"{name}: line {line}: {len(row)} cells, need {len(head)}")
        step = _step(name, line, head[0], row[0]) if stepped else line - 2
        cells = row[1:] if stepped else row
        for column, cell in zip(names, cells, strict=True):
            if cell.strip():
                series.setdefault(column, []).append((step, _float(name, line, column, cell)))
    return series
