"""report.html's gates: failed expectations and regressions marked, the summary lines."""

from __future__ import annotations

from typing import Any

from ...gates.text import DELTA, EXPECT
from ..table import SweepTable
from .parts import esc

FAILING = ("regressed", "changed")


def gate_failed(row: dict[str, Any]) -> bool:
    """Whether a comparison row failed a gate: an expectation, or its baseline."""
    expect, delta = str(row.get(EXPECT) or ""), str(row.get(DELTA) or "")
    return expect.startswith("failed") or any(word in delta for word in FAILING)


def gates_section(table: SweepTable) -> str:
    """A short section naming the rows that failed a gate, then the gates' summary lines."""
    if not table.gates:
        return ""
    failed = [str(row.get("run")) for row in table.rows if gate_failed(row)]
    head = (
        f"<p class='status-failed'><b>Failed a gate</b> (marked red in the comparison): "
        f"{esc(', '.join(failed))}</p>"
        if failed
        else "<p class='status-completed'>Every run met its expectations and baselines.</p>"
    )
    lines = "".join(f"<li>{esc(line)}</li>" for line in table.gates)
    return f"<h2>Expectations and baselines</h2>{head}<ul>{lines}</ul>"
