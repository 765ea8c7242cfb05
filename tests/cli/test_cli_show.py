"""`expharness show`: everything a run stored, with paths a user can paste."""

from __future__ import annotations

import json
import os
from pathlib import Path

import matplotlib.figure  # noqa: F401  (see tests/conftest.py)
import pytest

from pytest_expharness.cli import main as cli

from conftest import Archive

EXPERIMENT = """
    def test_model(exp):
        for step in range(3):
            exp.track("loss", 1.0 / (step + 1))
        exp["results/accuracy"] = 0.93
        exp["results/best/epoch"] = 2
        exp["notes"] = "plain"
        with exp.component("prior") as c:
            c.data["k_eff"] = 8.5
            c.data["modes"] = [1, 2]
        exp.component("tau").disable("USE_TAU=false", hint="set USE_TAU=True")
        with exp.component("decoder"):
            raise RuntimeError("boom")
        exp.commit_json("weights.json", {"w": [1, 2]})
        exp.commit_raw("logs/extra.txt", "more")
"""


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()  # what earlier steps printed is not this command's output
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def folder(pytester: pytest.Pytester, archive: Archive, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The one run of a session of EXPERIMENT, labelled keep with a note."""
    monkeypatch.delenv("EXPHARNESS_ROOT", raising=False)  # the archive is found from here
    pytester.makeini("[pytest]\n")
    pytester.makepyfile(test_exp=EXPERIMENT)
    pytester.runpytest("-p", "no:xdist").assert_outcomes(passed=1)
    assert cli.main(["label", "model/run", "keep", "--note", "the one"]) == 0
    return archive.run()


def section(out: str, title: str) -> list[str]:
    """The indented lines under `title:` in show's output."""
    lines = out.splitlines()
    start = lines.index(f"{title}:") + 1
    found = []
    for line in lines[start:]:
        if not line.startswith("  "):
            break
        found.append(line.strip())
    return found


def table_row(out: str, first: str) -> list[str]:
    """The cells of the table row whose first cell is `first` (cells split on 2+ spaces)."""
    import re

    for line in out.splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if cells[0] == first:
            return cells
    raise AssertionError(f"no row {first!r} in\n{out}")


def test_show_prints_results_components_and_the_files_of_a_run(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "show", "latest")
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == f"model / run  ({folder.relative_to(Path.cwd())})"
    assert "label: keep" in out and "the one" in out and "note 20" in out, "a timed note"
    assert table_row(out, "results/accuracy")[1] == "0.93"
    assert table_row(out, "results/best/epoch")[1] == "2"
    assert table_row(out, "notes")[1] == "plain", "stored data that is not under results/ too"
    assert table_row(out, "prior")[1:] == ["success", "k_eff=8.5, modes=[1,2]"]
    assert table_row(out, "tau")[1:] == ["disabled", "USE_TAU=false", "set USE_TAU=True"]
    assert table_row(out, "decoder")[1:] == ["failed", "RuntimeError: boom"]
    artifacts, plots = section(out, "artifacts"), section(out, "plots")
    assert [Path(p).relative_to(folder.relative_to(Path.cwd())).as_posix() for p in artifacts] == [
        "artifacts/logs/extra.txt",
        "artifacts/weights.json",
    ]
    assert [Path(p).name for p in plots] == ["loss.svg"]
    assert all(Path(p).is_file() and not Path(p).is_absolute() for p in artifacts + plots)


def test_paths_shown_can_be_pasted_from_where_the_command_ran(
    folder: Path,
    pytester: pytest.Pytester,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    places = {  # relative below the current folder, else absolute
        pytester.path: False,
        pytester.path / "results" / "model": False,
        pytester.path / "notebooks" / "draft": True,
        tmp_path_factory.mktemp("elsewhere"): True,
    }
    for where, absolute in places.items():
        where.mkdir(parents=True, exist_ok=True)
        monkeypatch.chdir(where)
        code, out, _ = run(capsys, "show", "model/run", "--root", str(pytester.path / "results"))
        header = out.splitlines()[0]
        shown = header.rsplit("  (", 1)[1].removesuffix(")")
        listed = [shown, *section(out, "artifacts"), *section(out, "plots")]
        assert code == 0 and len(listed) == 4, out
        assert all(os.path.isabs(p) == absolute and Path(p).exists() for p in listed), (where, out)
        assert Path(shown).resolve() == folder.resolve()


def test_show_json_keeps_its_keys_and_adds_data_notes_and_files(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "show", "model/latest", "--json")
    shown = json.loads(out)
    assert code == 0 and {"path", "config", "summary"} <= set(shown)
    assert Path(shown["path"]).resolve() == folder.resolve()
    assert shown["config"]["experiment"]["label"] == "keep"
    assert shown["summary"]["results"]["results/accuracy"] == 0.93
    assert shown["summary"]["components"]["tau"]["hint"] == "set USE_TAU=True"
    assert shown["data"]["results"]["best"] == {"epoch": 2}
    assert [n["note"] for n in shown["notes"]] == ["the one"]
    assert [Path(p).name for p in shown["artifacts"]] == ["extra.txt", "weights.json"]
    assert [Path(p).name for p in shown["plots"]] == ["loss.svg"]
    assert all(Path(p).is_file() for p in shown["artifacts"] + shown["plots"])


def test_show_warns_in_one_line_each_never_with_python_source(
    pytester: pytest.Pytester, archive: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    pytester.makepyfile(test_exp="import pytest\n\n@pytest.mark.parametrize('x', [1, 2])\n"
                        "def test_fit(exp, x):\n    exp.track('loss', x)\n")  # fmt: skip
    pytester.runpytest("-p", "no:xdist").assert_outcomes(passed=2)
    _, second = archive.runs()
    (second / "summary.json").write_text('{"status": ')  # damaged
    for index in archive.root.glob("index.sqlite*"):
        index.unlink()
    code, out, err = run(capsys, "show", "x=1")
    assert code == 0 and "status: completed" in out
    lines = err.splitlines()
    assert lines and all(line.startswith("expharness: warning: ") for line in lines), err
    assert any("summary.json" in line and "run not indexed" in line for line in lines), err
    assert "warnings.warn" not in err and "Warning:" not in err and "File " not in err
