"""REPORT.md: a run's git state said plainly, its label and every timed note."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_expharness.report import runreport as report

from conftest import Archive


def _write(tmp_path: Path, **head: Any) -> list[str]:
    config = {
        "experiment": {"name": "toy", "session": "s1", "node_id": "test_toy.py::test_toy", **head},
        "parameters": {"LR": 0.1, "CLIP": None},
    }
    summary = {"run_id": "lr=0.1", "status": "completed", "started": "2026-12-01T10:00:00"}
    report.write_report(tmp_path, config, summary)
    return (tmp_path / "REPORT.md").read_text().splitlines()


@pytest.mark.parametrize(
    ("head", "line"),
    [
        ({"git_commit": "abc123", "git_dirty": False}, "- git: abc123"),
        ({"git_commit": "abc123", "git_dirty": True}, "- git: abc123 (dirty)"),
        ({"git_commit": None, "git_note": "no commits yet"}, "- git: no commits yet"),
        ({"git_commit": None, "git_note": "not a git repository"}, "- git: not a git repository"),
        ({"git_commit": None}, "- git: not a git repository"),  # written before git_note
    ],
    ids=["commit", "dirty", "no-commits", "no-repository", "old-header"],
)
def test_git_line(tmp_path: Path, head: dict[str, Any], line: str) -> None:
    assert line in _write(tmp_path, **head)


def test_timed_notes_oldest_first(tmp_path: Path) -> None:
    notes = [
        {"at": "2026-12-01T10:00:00+00:00", "label": "exploratory", "note": "first look"},
        {"at": "2026-12-02T09:30:00+00:00", "label": "keep", "note": "a | pipe\nand a newline"},
        {"at": "2026-12-02T09:31:00+00:00", "label": None, "note": "no label here"},
    ]
    lines = _write(tmp_path, label="keep", notes=notes)
    start = lines.index("- label: keep")
    assert lines[start + 1 : start + 5] == [
        "- notes:",
        "  - 2026-12-01T10:00:00+00:00, exploratory: first look",
        "  - 2026-12-02T09:30:00+00:00, keep: a \\| pipe<br>and a newline",
        "  - 2026-12-02T09:31:00+00:00: no label here",
    ]


def test_an_old_label_note_is_a_note_without_time(tmp_path: Path) -> None:
    lines = _write(tmp_path, label="baseline", label_note="paper")
    assert lines[lines.index("- label: baseline") + 1 :][:2] == ["- notes:", "  - baseline: paper"]


def test_no_label_no_notes(tmp_path: Path) -> None:
    lines = _write(tmp_path)
    assert not [line for line in lines if line.startswith(("- label", "- notes"))]


def test_a_run_that_labels_itself(pytester: pytest.Pytester, archive: Archive) -> None:
    pytester.makepyfile(
        test_toy="""
        def test_toy(exp):
            exp.track("loss", 1.0)
            exp.label("keep", "promising")
        """
    )
    pytester.runpytest("-p", "no:xdist").assert_outcomes(passed=1)
    text = (archive.run() / "REPORT.md").read_text()
    assert "- label: keep\n- notes:\n  - " in text
    note = text.split("- notes:\n  - ")[1].splitlines()[0]
    assert note.endswith("keep: promising"), note
