"""Labels and notes on a run's config.yaml header: one rule for `exp.label` and `expharness label`.

A run has one label (keep, baseline, exploratory, failed) and a list of notes,
each `{"at": ISO time, "label": label or None, "note": text}`, oldest first.
Headers written before notes were lists carry one `label_note`; `notes_of`
reads it as a note without a time.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from .layout import LABELS


def check_label(label: str) -> str:
    """Return label if it is one of LABELS, else raise a ValueError naming them."""
    if label not in LABELS:
        raise ValueError(f"label {label!r}: use one of {', '.join(LABELS)}")
    return label


def notes_of(header: dict[str, Any]) -> list[dict[str, Any]]:
    """Return a header's notes, oldest first (an old single `label_note` included)."""
    found = [dict(n) for n in header.get("notes") or [] if isinstance(n, dict)]
    old = header.get("label_note")
    if old and not any(n.get("note") == old for n in found):
        found.insert(0, {"at": None, "label": header.get("label"), "note": str(old)})
    return found


def change_label(header: dict[str, Any], label: str | None, note: str | None) -> None:
    """Set the header's label (when given) and append a timed note (when given), in place."""
    if label is not None:
        header["label"] = check_label(label)
    if note is not None:
        notes = notes_of(header)
        at = dt.datetime.now().astimezone().isoformat(timespec="seconds")
        notes.append({"at": at, "label": header.get("label"), "note": note})
        header["notes"] = notes
        header.pop("label_note", None)


def last_note(header: dict[str, Any]) -> str | None:
    """The newest note's text, or None."""
    notes = notes_of(header)
    return notes[-1]["note"] if notes else None
