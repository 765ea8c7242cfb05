"""expharness export, import and gc, and the code/ snapshot of every run, as a user meets them."""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
import subprocess
import tarfile
from collections.abc import Sequence
from pathlib import Path

import matplotlib.figure  # noqa: F401  (see tests/conftest.py)
import numpy as np
import pytest

from pytest_expharness import load_run
from pytest_expharness.cli import main as cli

from conftest import XDIST_MODES, Archive

SWEEP = """
    import pytest

    EPOCHS = 3

    @pytest.mark.parametrize("x", [1, 2, 3, 4])
    def test_fit(exp, x):
        for step in range(exp.EPOCHS):
            exp.track("loss", x * (step + 1))
        assert x % 2, "even points fail"
"""
EXPERIMENT = """
import pytest

@pytest.mark.parametrize("x", [1, 2])
def test_fit(exp, x):
    exp.track("loss", x)
"""
TABLES = ("comparison.csv", "comparison.md", "comparison.json", "report.html")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()  # what earlier steps printed is not this command's output
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> bool:
    return err.startswith("expharness: ") and len(err.strip().splitlines()) == 1


def relative(root: Path) -> list[str]:
    return [p.relative_to(root).as_posix() for p in Archive(root).runs()]


def listed(capsys: pytest.CaptureFixture[str], root: Path) -> set[str]:
    code, out, _ = run(capsys, "--root", str(root), "list", "--json")
    return {r["path"] for r in json.loads(out)} if code == 0 else set()


@pytest.fixture
def sweep(pytester: pytest.Pytester, archive: Archive) -> Path:
    """A session of four runs, x=2 and x=4 failed; returns its session folder."""
    pytester.makepyfile(test_exp=SWEEP)
    pytester.runpytest("-p", "no:xdist").assert_outcomes(passed=2, failed=2)
    return archive.runs()[0].parent


# export and import


def test_export_then_import_keeps_ids_paths_and_tables(
    sweep: Path, archive: Archive, pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    root, other, packed = archive.root, pytester.path / "other", pytester.path / "s.tar.gz"
    code, out, _ = run(
        capsys, "--root", str(root), "export", "--session", sweep.name, "--to", str(packed)
    )
    assert code == 0 and out.strip() == f"exported 4 runs to {packed}"
    code, out, _ = run(capsys, "--root", str(other), "import", str(packed))
    assert code == 0 and out.strip() == f"imported 4 runs into {other}"
    assert relative(other) == relative(root), "same ids, same relative paths"
    assert listed(capsys, other) == set(relative(root)), "the index of the new root knows them"
    for name in TABLES:
        assert (other / sweep.relative_to(root) / name).read_bytes() == (sweep / name).read_bytes()
    for path in relative(root):
        before, after = load_run(root / path), load_run(path, root=other)
        assert after.params == before.params == {"EPOCHS": 3, "x": before.params["x"]}
        assert (after.status, after.metrics.keys()) == (before.status, before.metrics.keys())
        np.testing.assert_array_equal(after.metrics["loss"], before.metrics["loss"])
    picked, second = pytester.path / "two.tgz", pytester.path / "second"
    code, out, _ = run(capsys, "--root", str(root), "export", "x=1", "x=2", "--to", str(picked))
    assert code == 0 and out.strip() == f"exported 2 runs to {picked}"
    assert run(capsys, "--root", str(second), "import", str(picked))[0] == 0
    assert [p.rsplit("/", 1)[1] for p in relative(second)] == ["x=1", "x=2"]
    assert load_run("x=2", root=second).status == "failed"
    assert not list(second.rglob("comparison.*")), "tables travel with --session only"


def test_a_second_import_skips_every_run_and_changes_nothing(
    sweep: Path, archive: Archive, pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    other, packed = pytester.path / "other", pytester.path / "s.tar.gz"
    run(capsys, "--root", str(archive.root), "export", "--session", sweep.name, "--to", str(packed))
    assert run(capsys, "--root", str(other), "import", str(packed))[0] == 0
    assert run(capsys, "--root", str(other), "label", "x=3", "keep", "--note", "mine")[0] == 0
    table = other / sweep.relative_to(archive.root) / "comparison.md"
    table.write_text("my notes")
    code, out, _ = run(capsys, "--root", str(other), "import", str(packed))
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0] == f"imported 0 runs into {other}"
    assert sorted(lines[1:]) == [
        f"  skipped {path}: already in {other} (left as it is)" for path in relative(other)
    ]
    assert load_run("x=3", root=other).config["experiment"]["notes"][-1]["note"] == "mine"
    code, out, _ = run(capsys, "--root", str(other), "list", "--label", "keep")
    assert code == 0 and "x=3" in out
    assert table.read_text() == "my notes"


def test_export_errors(
    sweep: Path, archive: Archive, pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    root = str(archive.root)
    taken = pytester.path / "taken.tar.gz"
    taken.write_bytes(b"mine")
    code, out, err = run(capsys, "--root", root, "export", "x=1", "--to", str(taken))
    assert (code, out) == (2, "") and one_error_line(err) and "exists" in err
    assert taken.read_bytes() == b"mine", "an existing file is never overwritten"
    code, _, err = run(
        capsys, "--root", root, "export", "x=1", "--to", str(pytester.path / "a.zip")
    )
    assert code == 2 and one_error_line(err) and ".tar.gz" in err
    code, _, err = run(capsys, "--root", root, "export", "--to", str(pytester.path / "b.tar.gz"))
    assert code == 2 and one_error_line(err)
    code, _, err = run(
        capsys, "--root", root, "export", "nope", "--to", str(pytester.path / "c.tar.gz")
    )
    assert code == 1 and one_error_line(err) and "'nope'" in err
    assert not list(pytester.path.glob("[abc].*")), "no archive, not even a partial one"


def tar_entry(
    name: str, link: str | None = None, data: bytes = b"x"
) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    if link is not None:
        info.type, info.linkname = tarfile.SYMTYPE, link
    else:
        info.size = len(data)
    return info, data


def craft(
    target: Path,
    manifest: dict | bytes | None,
    entries: Sequence[tuple[tarfile.TarInfo, bytes]] = (),
    run: Path | None = None,
    root: Path | None = None,
) -> Path:
    """Write a .tar.gz by hand: a manifest (or none), a real run folder, then raw entries."""
    with tarfile.open(target, "w:gz") as tar:
        if manifest is not None:
            text = manifest if isinstance(manifest, bytes) else json.dumps(manifest).encode()
            entries = [tar_entry("expharness-export.json", data=text), *entries]
        if run is not None and root is not None:
            tar.add(run, arcname=run.relative_to(root).as_posix())
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return target


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "no such file"),
        ("not-a-tarball", "not a .tar.gz export"),
        ("no-manifest", "no expharness-export.json"),
        ("manifest-not-json", "unreadable expharness-export.json"),
    ],
)
def test_import_of_a_file_that_is_no_export_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, message: str
) -> None:
    source = tmp_path / "in.tar.gz"
    if case == "not-a-tarball":
        source.write_text("hello")
    elif case == "no-manifest":
        craft(source, None, [tar_entry("fit/s/x=1/config.yaml")])
    elif case == "manifest-not-json":
        craft(source, b"{not json")
    code, out, err = run(capsys, "--root", str(tmp_path / "other"), "import", str(source))
    assert (code, out) == (2, "") and one_error_line(err) and message in err
    assert not list((tmp_path / "other").rglob("config.yaml"))


# extra manifest runs, manifest files, hand-made members ("name -> link" is a symlink), error
UNSAFE = {
    "run-with-dotdot": (["../outside/s/x"], [], ["../outside/s/x/config.yaml"], "unsafe path"),
    "absolute-run": (["{out}/s/x"], [], ["{out}/s/x/config.yaml"], "unsafe path"),
    "symlink-member": ([], [], ["{run}/code/out -> {out}", "{run}/code/out/f"], "link or device"),
    "dotdot-only-in-manifest": (["zz/../../outside"], [], [], "unsafe path"),
    "file-with-dotdot": ([], ["../outside"], ["../outside"], "unsafe"),
    "absolute-file": ([], ["{out}"], ["{out}"], "unsafe"),
    "cache-file": ([], [".cache/x/v.pkl"], [".cache/x/v.pkl"], "unsafe"),
    "file-inside-a-run": ([], ["{run}/code/test_exp.py"], ["{run}/code/test_exp.py"], "table"),
}


@pytest.mark.parametrize(
    "case",
    [
        "run-with-dotdot",
        "absolute-run",
        "symlink-member",
        "dotdot-only-in-manifest",
        "file-with-dotdot",
        "absolute-file",
        "cache-file",
        "file-inside-a-run",
    ],
)
def test_import_refuses_unsafe_archives_and_writes_nothing(
    pytester: pytest.Pytester, archive: Archive, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    pytester.makepyfile(test_exp="def test_one(exp):\n    exp.track('loss', 1.0)\n")
    pytester.runpytest("-p", "no:xdist").assert_outcomes(passed=1)
    real = relative(archive.root)[0]
    other, outside = pytester.path / "other", pytester.path / "outside"
    runs, files, members, message = UNSAFE[case]
    fill = [[m.format(run=real, out=outside) for m in found] for found in (runs, files, members)]
    manifest = {"format": 1, "runs": [real, *fill[0]], "files": fill[1]}
    entries = [tar_entry(*m.split(" -> ")) for m in fill[2]]
    source = craft(pytester.path / "evil.tar.gz", manifest, entries, archive.run(), archive.root)
    code, _, err = run(capsys, "--root", str(other), "import", str(source))
    assert not outside.exists(), "nothing is written outside the root"
    assert code == 2 and one_error_line(err) and message in err
    assert not list(other.rglob("config.yaml")), "a refused archive imports no run"


# gc


def test_gc_deletes_matching_runs_but_never_labelled_ones(
    sweep: Path, archive: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    root = str(archive.root)
    everything = set(relative(archive.root))
    code, out, _ = run(capsys, "--root", root, "gc", "--status", "failed", "--dry-run")
    assert code == 0 and "dry run: would delete 2 runs" in out
    assert {line.split()[2] for line in out.splitlines() if line.startswith("fit ")} == {
        "x=2",
        "x=4",
    }
    assert set(relative(archive.root)) == everything == listed(capsys, archive.root)
    assert run(capsys, "--root", root, "label", "x=4", "baseline")[0] == 0
    code, out, _ = run(capsys, "--root", root, "gc", "--status", "failed")
    assert code == 0 and out.strip().splitlines()[-1].startswith("deleted 1 run (")
    assert f"kept {sweep.relative_to(archive.root).as_posix()}/x=4: labelled baseline" in out
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == ["x=1", "x=3", "x=4"]
    assert {p.rsplit("/", 1)[1] for p in listed(capsys, archive.root)} == {"x=1", "x=3", "x=4"}
    assert run(capsys, "--root", root, "label", "x=3", "keep")[0] == 0
    code, out, _ = run(capsys, "--root", root, "gc", "--older-than", "0s")
    assert code == 0 and "deleted 1 run" in out and "labelled keep" in out
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == ["x=3", "x=4"]
    assert all((sweep / name).is_file() for name in TABLES), "the session keeps its tables"
    code, out, _ = run(capsys, "--root", root, "gc", "--status", "failed,completed")
    assert code == 1 and "deleted 0 runs" in out, "only protected runs match: nothing to do"


def test_gc_keep_last_spares_the_newest_matching_runs_per_experiment(
    pytester: pytest.Pytester, archive: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    pytester.makepyfile(
        test_exp="""
        import pytest
        @pytest.mark.parametrize("x", [1, 2, 3, 4])
        def test_a(exp, x):
            assert x == 4
        @pytest.mark.parametrize("x", [1, 2, 3])
        def test_b(exp, x):
            assert False
        """
    )
    pytester.runpytest("-p", "no:xdist").assert_outcomes(passed=1, failed=6)
    code, out, _ = run(
        capsys, "--root", str(archive.root), "gc", "--status", "failed", "--keep-last", "1"
    )
    assert code == 0 and "deleted 4 runs" in out
    left = sorted(p.split("/")[0] + "/" + p.split("/")[2] for p in relative(archive.root))
    assert left == ["a/x=3", "a/x=4", "b/x=3"], "a completed run does not count among the kept"


def test_gc_usage_errors_and_nothing_old_enough(
    sweep: Path, archive: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    root = str(archive.root)
    code, out, _ = run(capsys, "--root", root, "gc", "--older-than", "30d")
    assert code == 1 and "deleted 0 runs" in out
    for argv in ([], ["--older-than", "3x"], ["--status", "failed", "--keep-last", "-1"]):
        code, out, err = run(capsys, "--root", root, "gc", *argv)
        assert (code, out) == (2, "") and one_error_line(err), argv
    assert len(relative(archive.root)) == 4 == len(listed(capsys, archive.root))


def test_gc_drops_stale_rows_and_prunes_empty_folders(
    pytester: pytest.Pytester, archive: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    pytester.makepyfile(test_exp=EXPERIMENT)
    pytester.runpytest("-p", "no:xdist").assert_outcomes(passed=2)
    session = archive.runs()[0].parent
    shutil.rmtree(session / "x=1")  # by hand, behind the index's back
    assert len(listed(capsys, archive.root)) == 1, "list notices the folder is gone"
    for name in TABLES:  # a session without tables is emptied by gc
        (session / name).unlink()
    root = str(archive.root)
    code, out, err = run(
        capsys, "--root", root, "gc", "--older-than", "0s", "--status", "completed"
    )
    assert (code, err) == (0, "") and "deleted 1 run" in out
    assert not session.exists() and not session.parent.exists(), "empty folders are removed"
    conn = sqlite3.connect(archive.root / "index.sqlite")
    try:
        assert conn.execute("SELECT COUNT(*) FROM runs").fetchone() == (0,), "stale row dropped"
    finally:
        conn.close()
    assert run(capsys, "--root", root, "list")[0] == 1


# the code/ snapshot and collection


def test_a_run_keeps_a_copy_of_its_module(pytester: pytest.Pytester, archive: Archive) -> None:
    pytester.makepyfile(conftest="")
    (pytester.path / "exps").mkdir()
    module = pytester.path / "exps" / "test_exp.py"
    module.write_text(EXPERIMENT)
    pytester.runpytest("-p", "no:xdist").assert_outcomes(passed=2)
    for folder in archive.runs():
        assert (folder / "code" / "exps" / "test_exp.py").read_bytes() == module.read_bytes()
        header = archive.config(folder)["experiment"]
        assert (header["code"], header["reproducible"]) == (["exps/test_exp.py"], False)
        assert sorted(p.name for p in (folder / "code").rglob("*") if p.is_file()) == [
            "test_exp.py"
        ]


def git(cwd: Path, *args: str) -> str:
    command = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args]
    return subprocess.run(command, cwd=cwd, check=True, capture_output=True, text=True).stdout


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_reproducible_runs_keep_conftests_packages_and_a_patch_that_applies(
    pytester: pytest.Pytester,
    archive: Archive,
    tmp_path_factory: pytest.TempPathFactory,
    mode: list[str],
) -> None:
    pytester.makepyfile(conftest="# the rootdir conftest\n")
    (pytester.path / "exps").mkdir()
    (pytester.path / "exps" / "conftest.py").write_text("# the folder's conftest\n")
    (pytester.path / "exps" / "test_exp.py").write_text(EXPERIMENT)
    (pytester.path / "notes.txt").write_text("v1\n")
    git(pytester.path, "init", "-q")
    git(pytester.path, "add", "-A")
    git(pytester.path, "commit", "-qm", "first")
    (pytester.path / "notes.txt").write_text("v2\n")
    (pytester.path / "extra.txt").write_text("not committed\n")
    pytester.runpytest(*mode, "--exp-reproducible").assert_outcomes(passed=2)
    clone = tmp_path_factory.mktemp("clone") / "repo"
    git(clone.parent, "clone", "-q", str(pytester.path), str(clone))
    for folder in archive.runs():
        code = folder / "code"
        for name in ("conftest.py", "exps/conftest.py", "exps/test_exp.py"):
            assert (code / name).read_bytes() == (pytester.path / name).read_bytes(), name
        assert f"pytest=={pytest.__version__}\n" in (code / "requirements.txt").read_text()
        header = archive.config(folder)["experiment"]
        assert header["reproducible"] is True and header["code"][0] == "exps/test_exp.py"
        assert {"conftest.py", "exps/conftest.py", "requirements.txt", "uncommitted.patch"} <= set(
            header["code"]
        )
        assert header["git_commit"] == git(clone, "rev-parse", "HEAD").strip()
        patch = (code / "uncommitted.patch").read_text()
        assert "results/" not in patch, "the archive is not part of the patch"
        git(clone, "apply", "--check", str(code / "uncommitted.patch"))
    git(clone, "apply", str(archive.runs()[0] / "code" / "uncommitted.patch"))
    assert (clone / "notes.txt").read_text() == "v2\n"
    assert (clone / "extra.txt").read_text() == "not committed\n"


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_a_second_session_never_collects_an_archive(
    pytester: pytest.Pytester, archive: Archive, mode: list[str]
) -> None:
    pytester.makepyfile(test_exp=EXPERIMENT, conftest="")
    pytester.runpytest(*mode, "--exp-reproducible").assert_outcomes(passed=2)
    assert len(list(archive.root.rglob("code/test_exp.py"))) == 2
    for extra in ([], ["--exp-root", "elsewhere"]):
        result = pytester.runpytest(*mode, *extra)
        result.assert_outcomes(passed=2)
        assert "import file mismatch" not in result.stdout.str() + result.stderr.str()
    assert len(Archive(pytester.path / "elsewhere").runs()) == 2
    assert len(archive.runs()) == 4
