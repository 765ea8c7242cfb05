"""Naming runs and finding the archive, the same way in every `expharness` command and load_run."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import matplotlib.figure  # noqa: F401  (see tests/conftest.py)
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from pytest_expharness import load_run
from pytest_expharness.catalog.runnames import AmbiguousRun, RunNotFound, parse
from pytest_expharness.cli import main as cli

from conftest import Archive

EXPERIMENTS = """
    import pytest

    @pytest.mark.parametrize("x", [1, 2])
    def test_fit(exp, x):
        exp.track("loss", float(x))

    def test_ssvae(exp):
        exp.track("loss", 0.5)

    def test_vae(exp):
        exp["results/elbo"] = -1.0

    @pytest.mark.parametrize("k", range(12))
    def test_wide(exp, k):
        pass
"""


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()  # what earlier steps printed is not this command's output
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def shown(capsys: pytest.CaptureFixture[str], root: str, name: str) -> str:
    """The path under root of the run `expharness show NAME` shows."""
    code, out, err = run(capsys, "show", name, "--json", "--root", root)
    assert code == 0, err
    return Path(json.loads(out)["path"]).relative_to(root).as_posix()


class Sessions:
    """Two sessions: the first runs everything, the second only fit[x=1] (the newest run)."""

    def __init__(self, pytester: pytest.Pytester, archive: Archive) -> None:
        pytester.makeini("[pytest]\n")  # the project's top, where results/ goes
        pytester.makepyfile(test_exp=EXPERIMENTS)
        pytester.runpytest("-p", "no:xdist").assert_outcomes(passed=16)
        pytester.runpytest("-p", "no:xdist", "test_exp.py::test_fit[1]").assert_outcomes(passed=1)
        self.root = str(archive.root)
        # stamps of one second differ only in a random suffix: the first session is the one with x=2
        runs = archive.runs("fit")
        first = next(p.parent.name for p in runs if p.name == "x=2")
        (second,) = {p.parent.name for p in runs} - {first}
        self.first, self.second = first, second

    def path(self, experiment: str, session: str, run_id: str) -> str:
        return f"{experiment}/{getattr(self, session)}/{run_id}"


@pytest.fixture
def sessions(pytester: pytest.Pytester, archive: Archive) -> Sessions:
    return Sessions(pytester, archive)


PART = st.text(st.characters(blacklist_characters="/", blacklist_categories=("Cs",)), min_size=1)


@given(st.lists(PART.filter(lambda p: p.strip() == p), min_size=1, max_size=4))
def test_a_name_parts_into_its_qualifiers_and_its_run(parts: list[str]) -> None:
    name = parse("/".join(parts) + "/")
    assert (name.scope, name.run, name.latest) == (
        tuple(parts[:-1]),
        parts[-1],
        parts[-1] == "latest",
    )


def test_a_missing_archive_is_said_and_never_made(tmp_path: Path) -> None:
    with pytest.raises(RunNotFound, match=r"no run matches 'latest': no archive at .*nowhere$"):
        load_run("latest", root=tmp_path / "nowhere")
    assert not (tmp_path / "nowhere").exists()


# 1. the archive: --root before or after the subcommand, EXPHARNESS_ROOT, the walk up


def test_root_goes_before_or_after_any_subcommand(
    sessions: Sessions, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = sessions.root
    before = run(capsys, "--root", root, "list", "--experiment", "fit")
    after = run(capsys, "list", "--experiment", "fit", "--root", root)
    assert before == after and before[0] == 0
    assert sum("x=1" in line for line in before[1].splitlines()) == 2, "both sessions' x=1"
    for argv in (
        ["show", "latest", "--root", root],
        ["diff", "fit/x=1", "fit/x=2", "--root", root],
        ["compare", "--session", sessions.first, "--root", root],
        ["tag", "latest", "both-ways", "--root", root],
        ["untag", "--root", root, "latest", "both-ways"],
        ["label", "ssvae/run", "keep", "--root", root],
        ["check", "--root", root],
        ["reindex", "--root", root],
    ):
        code, _, err = run(capsys, *argv)
        assert code == 0 and "unrecognized arguments" not in err, (argv, err)
    monkeypatch.setenv("EXPHARNESS_ROOT", str(Path(root).parent / "nowhere"))
    assert run(capsys, "list", "--label", "keep", "--root", root)[0] == 0, "--root wins"


def test_expharness_root_names_the_archive_from_anywhere(
    sessions: Sessions,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")  # no project, no archive
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("EXPHARNESS_ROOT", sessions.root)
    code, out, _ = run(capsys, "list", "--experiment", "ssvae")
    assert code == 0 and "ssvae" in out
    code, out, _ = run(capsys, "show", "ssvae/run")
    assert code == 0 and "ssvae / run" in out
    assert load_run("ssvae/run").experiment == "ssvae", "load_run finds the archive the same way"
    monkeypatch.setenv("EXPHARNESS_ROOT", os.path.relpath(sessions.root))  # from the current folder
    code, out, _ = run(capsys, "show", "vae/latest")
    assert code == 0 and "vae / run" in out


def test_without_root_the_archive_is_found_from_a_subfolder_upward(
    sessions: Sessions,
    pytester: pytest.Pytester,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("EXPHARNESS_ROOT", raising=False)
    deeper = pytester.path / "src" / "models"
    deeper.mkdir(parents=True)
    monkeypatch.chdir(deeper)
    code, out, _ = run(capsys, "list", "--experiment", "vae")
    assert code == 0 and "vae" in out
    code, out, _ = run(capsys, "show", "latest")
    assert code == 0 and "fit / x=1" in out
    assert load_run("fit/latest").path.resolve() == (
        Path(sessions.root) / sessions.path("fit", "second", "x=1")
    )
    monkeypatch.chdir(Path(sessions.root) / "fit")  # inside the archive itself
    assert run(capsys, "show", "vae/run")[0] == 0


# 2. names


def test_every_form_of_a_name_finds_its_run(
    sessions: Sessions, capsys: pytest.CaptureFixture[str]
) -> None:
    root, path = sessions.root, sessions.path
    expected = {
        "latest": path("fit", "second", "x=1"),
        "fit/latest": path("fit", "second", "x=1"),
        "ssvae/latest": path("ssvae", "first", "run"),
        "ssvae/run": path("ssvae", "first", "run"),
        "fit/x=1": path("fit", "second", "x=1"),  # the newest session that has it
        "fit/x=2": path("fit", "first", "x=2"),  # the second session has no x=2
        f"{sessions.first}/x=1": path("fit", "first", "x=1"),
        f"{sessions.second}/x=1": path("fit", "second", "x=1"),
        f"{sessions.second}/latest": path("fit", "second", "x=1"),
        f"fit/{sessions.first}/x=1": path("fit", "first", "x=1"),
        f"fit/{sessions.first}/latest/": path("fit", "first", "x=2"),
        "x=2": path("fit", "first", "x=2"),
        "k=11": path("wide", "first", "k=11"),
        "k=1": path("wide", "first", "k=1"),  # an equal id wins over the ids it begins (k=10)
        "wide/k=0": path("wide", "first", "k=0"),
        f"{sessions.second}/x": path("fit", "second", "x=1"),  # a unique prefix in a session
    }
    for name, where in expected.items():
        assert shown(capsys, root, name) == where, name
        assert load_run(name, root=root).path == Path(root) / where, name
    for where in expected.values():  # a path, under the root or as the shell has it
        assert shown(capsys, root, where) == where
        assert shown(capsys, root, str(Path(root) / where)) == where


def test_a_name_that_fits_several_runs_lists_them(
    sessions: Sessions, capsys: pytest.CaptureFixture[str]
) -> None:
    root, path = sessions.root, sessions.path
    code, out, err = run(capsys, "--root", root, "show", "x=1")
    lines = err.splitlines()
    assert (code, out) == (2, ""), "ambiguous is a usage error"
    assert lines[0] == (
        f"expharness: 'x=1' matches 2 runs under {root}; "
        "name one of them (EXPERIMENT/SESSION/RUN, as listed):"
    )
    assert lines[1:] == [f"  {path('fit', 'second', 'x=1')}", f"  {path('fit', 'first', 'x=1')}"]
    for line in lines[1:]:  # each candidate, pasted, is a name of one run
        assert shown(capsys, root, line.strip()) == line.strip()
    code, _, err = run(capsys, "--root", root, "show", f"{sessions.first}/run")
    assert code == 2, "one session holds the run of both ssvae and vae"
    assert sorted(err.splitlines()[1:]) == [
        f"  {path('ssvae', 'first', 'run')}",
        f"  {path('vae', 'first', 'run')}",
    ]
    code, _, err = run(capsys, "--root", root, "show", "k=")
    lines = err.splitlines()
    assert code == 2 and lines[0].startswith("expharness: 'k=' matches 12 runs under")
    assert len(lines) == 12 and lines[-1] == "  ... and 2 more (expharness list shows them all)"
    assert all(line.startswith("  wide/") for line in lines[1:11])
    with pytest.raises(AmbiguousRun, match=r"'run' matches 2 runs under") as raised:
        load_run("run", root=root)
    assert isinstance(raised.value, RunNotFound), "callers catching RunNotFound still do"


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("nope", ""),
        ("nope/x=1", "; no experiment or session is called 'nope'"),
        ("fit/x=9", "; experiment 'fit' has no run 'x=9'"),
        ("fit", "; fit/latest names the newest run of 'fit'"),
        ("a/b/c/d", ""),
    ],
)
def test_a_name_that_fits_no_run_says_what_is_missing(
    sessions: Sessions, capsys: pytest.CaptureFixture[str], name: str, why: str
) -> None:
    code, out, err = run(capsys, "--root", sessions.root, "show", name)
    assert (code, out) == (1, "")
    assert err == f"expharness: no run matches {name!r} under {sessions.root}{why}\n"


def test_a_folder_that_is_no_run_folder_says_so(
    sessions: Sessions, capsys: pytest.CaptureFixture[str]
) -> None:
    session = Path(sessions.root) / "fit" / sessions.first
    code, _, err = run(capsys, "--root", sessions.root, "show", str(session))
    assert code == 1 and err.strip().endswith(
        f"; {session} is a folder but no run folder (no config.yaml and summary.json)"
    )


def test_every_command_that_takes_a_run_takes_its_name(
    sessions: Sessions,
    pytester: pytest.Pytester,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root, path = sessions.root, sessions.path
    code, out, err = run(capsys, "--root", root, "diff", "fit/x=2", "latest", "--json")
    assert code == 0, err
    assert {"kind": "parameter", "name": "x", "first": 2, "second": 1} in json.loads(out)
    code, out, err = run(capsys, "--root", root, "compare", "fit/x=2", "fit/latest", "--json")
    assert code == 0 and [r["x"] for r in json.loads(out)] == [2, 1], err
    assert run(capsys, "--root", root, "label", "fit/x=2", "keep")[0] == 0
    assert run(capsys, "--root", root, "tag", f"{sessions.second}/x=1", "second")[0] == 0
    assert run(capsys, "--root", root, "tag", "ssvae/latest", "gone")[0] == 0
    assert run(capsys, "--root", root, "untag", "ssvae/run", "gone")[0] == 0
    header = Archive.config(Path(root) / path("fit", "first", "x=2"))["experiment"]
    assert header["label"] == "keep"
    assert (
        "second" in Archive.config(Path(root) / path("fit", "second", "x=1"))["experiment"]["tags"]
    )
    assert (
        "gone"
        not in Archive.config(Path(root) / path("ssvae", "first", "run"))["experiment"]["tags"]
    )
    packed = pytester.path / "two.tar.gz"
    code, out, err = run(
        capsys, "--root", root, "export", "ssvae/run", f"{sessions.first}/x=2", "--to", str(packed)
    )
    assert code == 0 and out.strip() == f"exported 2 runs to {packed}", err
    page = pytester.path / "two.html"
    code, out, err = run(
        capsys, "--root", root, "report", "fit/latest", "vae/run", "--to", str(page)
    )
    assert code == 0 and "(2 runs)" in out and page.is_file(), err
    code, _, err = run(capsys, "--root", root, "analyze", "vae/latest")
    assert code == 1 and err.startswith(f"results/{path('vae', 'first', 'run')}: no @analysis")
    before = {p: p.read_bytes() for p in Path(root).rglob("config.yaml")}
    for argv in (
        ["tag", "x=1", "t"],
        ["untag", "x=1", "t"],
        ["label", "run", "keep"],
        ["export", "x=1", "--to", str(pytester.path / "no.tar.gz")],
        ["report", "run", "--to", str(pytester.path / "no.html")],
        ["analyze", "x=1"],
        ["diff", "x=1", "x=2"],
    ):
        code, out, err = run(capsys, "--root", root, *argv)
        assert (code, out) == (2, "") and " matches 2 runs under " in err, argv
    assert {p: p.read_bytes() for p in Path(root).rglob("config.yaml")} == before
    assert not (pytester.path / "no.tar.gz").exists() and not (pytester.path / "no.html").exists()


# 3. labels, notes and tags


def test_label_adds_timed_notes_and_untag_removes_a_tag(
    pytester: pytest.Pytester, archive: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    pytester.makepyfile(test_exp="def test_one(exp):\n    exp.track('loss', 1.0)\n")
    pytester.runpytest("-p", "no:xdist", "--exp-tag", "grid").assert_outcomes(passed=1)
    root, folder = str(archive.root), archive.run()

    def header() -> dict[str, object]:
        return Archive.config(folder)["experiment"]

    code, out, _ = run(capsys, "--root", root, "label", "one/run", "keep", "--note", "why")
    assert code == 0 and out.strip() == f"{folder.relative_to(pytester.path)}: label keep (why)"
    code, out, _ = run(capsys, "--root", root, "label", "one/run", "--note", "second thought")
    assert code == 0 and out.strip().endswith(": noted (second thought); label stays keep")
    code, out, _ = run(capsys, "--root", root, "label", "one/run", "baseline")
    assert code == 0 and out.strip().endswith(": label baseline")
    notes = header()["notes"]
    assert isinstance(notes, list)
    assert [(n["label"], n["note"]) for n in notes] == [("keep", "why"), ("keep", "second thought")]
    assert all(dt.datetime.fromisoformat(n["at"]).tzinfo is not None for n in notes)
    assert header()["label"] == "baseline" and "label_note" not in header()
    code, out, _ = run(capsys, "--root", root, "list", "--label", "baseline")
    assert code == 0 and "run" in out, "the index row follows"
    code, out, err = run(capsys, "--root", root, "label", "one/run")
    assert (code, out) == (2, "") and err.startswith("expharness: label needs a label (keep")
    assert len(err.strip().splitlines()) == 1
    code, _, err = run(capsys, "--root", root, "label", "one/run", "--note", " ")
    assert code == 2 and "--note needs a text" in err and len(header()["notes"]) == 2

    assert run(capsys, "--root", root, "tag", "latest", "ablation")[0] == 0
    code, out, _ = run(capsys, "--root", root, "untag", "latest", "grid")
    assert code == 0 and out.strip().endswith(": untagged grid")
    assert header()["tags"] == ["ablation"]
    code, out, _ = run(capsys, "--root", root, "list", "--json")
    assert code == 0 and json.loads(out)[0]["tags"] == ["ablation"], "the index row follows"
    code, out, _ = run(capsys, "--root", root, "untag", "latest", "grid")
    assert code == 0 and out.strip().endswith(": was not tagged grid; nothing changed")
    assert header()["tags"] == ["ablation"]


def test_a_note_written_before_notes_were_a_list_is_kept(
    pytester: pytest.Pytester, archive: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    pytester.makepyfile(test_exp="def test_one(exp):\n    exp.label('keep', note='old')\n")
    pytester.runpytest("-p", "no:xdist").assert_outcomes(passed=1)
    config_file = archive.run() / "config.yaml"
    config = yaml.safe_load(config_file.read_text())
    config["experiment"].pop("notes", None)
    config["experiment"]["label_note"] = "old"  # as runs wrote it before notes were a list
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))
    assert run(capsys, "--root", str(archive.root), "label", "latest", "--note", "new")[0] == 0
    header = Archive.config(archive.run())["experiment"]
    assert [n["note"] for n in header["notes"]] == ["old", "new"]


def test_testing_runs_are_labelled_and_tagged_in_their_own_index(
    pytester: pytest.Pytester, archive: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    pytester.makepyfile(test_exp="def test_one(exp):\n    exp.track('loss', 1.0)\n")
    pytester.runpytest("-p", "no:xdist", "--exp-testing").assert_outcomes(passed=1)
    root, testing = str(archive.root), str(archive.root / "_testing")
    folder = archive.run()
    inside = folder.relative_to(archive.root).as_posix()
    assert inside.startswith("_testing/one/")
    for name in (inside, str(folder)):  # a path under the root, or as the shell has it
        assert run(capsys, "--root", root, "label", name, "keep", "--note", "smoke")[0] == 0
        assert run(capsys, "--root", root, "tag", name, "ci")[0] == 0
        assert run(capsys, "--root", root, "untag", name, "ci")[0] == 0
    assert run(capsys, "--root", testing, "tag", "one/latest", "named")[0] == 0
    header = Archive.config(folder)["experiment"]
    assert (header["label"], header["tags"]) == ("keep", ["named"])
    code, out, _ = run(capsys, "--root", testing, "list", "--label", "keep", "--tag", "named")
    assert code == 0 and "one" in out, "the testing index knows"
    assert run(capsys, "--root", root, "list")[0] == 1, "the main index does not list them"
