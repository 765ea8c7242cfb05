"""The index as a cache that never loses a row and never blinds the archive (issue 11).

A reindex racing a session keeps the session's rows; a killed session's runs
are seen without a reindex; a damaged file hides its own run only, with one
warning naming it, and `expharness check` lists them all; a full disk or a
read-only archive never gets a good index moved aside, and can still be read.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import matplotlib.figure  # noqa: F401  (see tests/conftest.py)
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_expharness import Archive as RunArchive
from pytest_expharness import load_run
from pytest_expharness.catalog.damage import DamagedRun, problem_of, record_of
from pytest_expharness.catalog.index import IndexUnavailable, index_records
from pytest_expharness.catalog.indexrows import row_of
from pytest_expharness.catalog.records import record_from_folder
from pytest_expharness.cli import main as cli

from conftest import Archive

SWEEP = """
    import pytest

    @pytest.mark.parametrize("x", [1, 2, 3, 4])
    def test_fit(exp, x):
        exp.track("loss", float(x))
"""
SUBPROCESS = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist"]
SUBPROCESS += ["-p", "no:randomly"]  # the slow point must run last


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def raw_paths(root: Path) -> set[str]:
    """The rows of the index file itself, not caught up by any reader."""
    with contextlib.closing(sqlite3.connect(root / "index.sqlite")) as conn:
        return {p for (p,) in conn.execute("SELECT path FROM runs")}


def on_disk(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in Archive(root).runs()}


def no_traceback(err: str) -> bool:
    return "Traceback" not in err and all(
        line.startswith("expharness: ") for line in err.splitlines()
    )


# 4. reindex while a session commits


SESSION_LOOP = """
import shutil, sys
from pathlib import Path
from pytest_expharness.catalog.index import index_records
from pytest_expharness.catalog.records import record_from_folder

root, template, count, done = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
for i in range(count):
    stamp = f"2030-01-01_00-00-00_{i:04x}"
    records = []
    for run in sorted(template.iterdir()):
        if (run / "summary.json").exists():
            target = root / "fit" / stamp / run.name
            shutil.copytree(run, target)
            records.append(record_from_folder(target))
    index_records(root, records, stamp)  # what the end of a session does
Path(done).touch()  # at once: a reindex begun after the last commit would hide a loss
"""
REINDEX_LOOP = """
import contextlib, io, sys
from pathlib import Path
from pytest_expharness.cli import main as cli

root, done = sys.argv[1], Path(sys.argv[2])
while not done.exists():
    with contextlib.redirect_stdout(io.StringIO()):
        assert cli.main(["--root", root, "reindex"]) == 0
"""


@pytest.mark.slow
def test_reindex_keeps_every_row_a_session_commits_while_it_runs(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(test_exp=SWEEP)
    pytester.runpytest("-p", "no:xdist").assert_outcomes(passed=4)
    template = archive.runs()[0].parent
    shutil.copytree(template, pytester.path / "template")
    for name, text in (("session_loop.py", SESSION_LOOP), ("reindex_loop.py", REINDEX_LOOP)):
        (pytester.path / name).write_text(textwrap.dedent(text))
    done = pytester.path / "sessions-done"
    for attempt in range(3):  # three races, each over many commits
        reindexing = subprocess.Popen(
            [sys.executable, "reindex_loop.py", str(archive.root), str(done)], cwd=pytester.path
        )
        try:
            sessions = subprocess.run(
                [sys.executable, "session_loop.py", str(archive.root), "template", "25", done],
                cwd=pytester.path,
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert sessions.returncode == 0, sessions.stderr
        finally:
            done.touch()
            assert reindexing.wait(timeout=300) == 0
            done.unlink()
        lost = on_disk(archive.root) - raw_paths(archive.root)
        assert not lost, f"race {attempt}: {len(lost)} rows lost, e.g. {sorted(lost)[:3]}"
        for session in (archive.root / "fit").glob("2030-*"):  # the next race starts afresh
            shutil.rmtree(session)


# 5. the runs of a killed session


KILLED = """
    import time
    from pathlib import Path
    import pytest

    @pytest.mark.parametrize("i", [0, 1, 2])
    def test_slow(exp, i):
        exp.track("loss", float(i))
        if i == 2:
            Path("{marker}").write_text("started")
            time.sleep(120)
"""


def _start_and_wait(pytester: pytest.Pytester, marker: str) -> subprocess.Popen[bytes]:
    pytester.makepyfile(test_slow=KILLED.format(marker=marker))
    session = subprocess.Popen(
        [*SUBPROCESS, "test_slow.py"], cwd=pytester.path, stdout=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    while not (pytester.path / marker).exists():
        assert session.poll() is None and time.monotonic() < deadline, "the session never began"
        time.sleep(0.05)
    return session


def _kill(session: subprocess.Popen[bytes]) -> None:
    session.send_signal(signal.SIGKILL)
    session.wait(timeout=30)


def _statuses(root: Path) -> dict[str, str]:
    return {r["run_id"]: r["status"] for r in RunArchive(root).runs(experiment="slow")}


@pytest.mark.slow
def test_a_killed_sessions_runs_are_seen_by_every_reader_without_reindex(
    pytester: pytest.Pytester, archive: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    pytester.makepyfile(test_exp=SWEEP)
    pytester.runpytest("-p", "no:xdist").assert_outcomes(passed=4)
    assert (archive.root / "index.sqlite").exists(), "an index already present"
    _kill(_start_and_wait(pytester, "started"))
    root = str(archive.root)

    assert _statuses(archive.root) == {"i=0": "completed", "i=1": "completed", "i=2": "crashed"}
    code, out, _ = run(capsys, "--root", root, "list", "--experiment", "slow")
    assert code == 0 and sum("slow" in line for line in out.splitlines()) == 3
    code, out, _ = run(capsys, "--root", root, "show", "i=2")
    assert code == 0 and "status: crashed" in out
    assert load_run("i=1", root=root).status == "completed"
    session = load_run("i=0", root=root).config["experiment"]["session"]
    target = pytester.path / "killed.html"
    code, out, err = run(
        capsys, "--root", root, "report", "--session", session, "--to", str(target)
    )
    assert code == 0 and "(3 runs)" in out and target.is_file(), err
    code, out, _ = run(capsys, "--root", root, "gc", "--status", "crashed", "--dry-run")
    assert code == 0 and "i=2" in out and "would delete 1 run" in out


@pytest.mark.slow
def test_a_run_seen_running_reads_crashed_once_its_session_is_killed(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(test_exp=SWEEP)
    pytester.runpytest("-p", "no:xdist").assert_outcomes(passed=4)
    session = _start_and_wait(pytester, "started")
    try:  # a reader while the session runs: its runs so far, the last one running
        assert _statuses(archive.root) == {
            "i=0": "completed",
            "i=1": "completed",
            "i=2": "running",
        }
    finally:
        _kill(session)
    assert _statuses(archive.root)["i=2"] == "crashed"
    assert len(RunArchive(archive.root).runs()) == 7


# 6. damaged files


def _damage(runs: list[Path]) -> dict[str, str]:
    """Damage three of four runs in three ways; return each damaged file and its problem."""
    config = runs[0] / "config.yaml"
    text = config.read_text()
    config.write_text(text.replace("name: fit", 'name: "fi\x7ft"', 1))  # a raw DEL character
    (runs[1] / "summary.json").write_text('{"status": "completed", ')
    (runs[2] / "config.yaml").write_text("- a list\n- not a config\n")
    return {
        f"{runs[0].name}/config.yaml": "not valid YAML",
        f"{runs[1].name}/summary.json": "not valid JSON",
        f"{runs[2].name}/config.yaml": "no 'experiment' header",
    }


def test_damaged_files_hide_only_their_run_with_one_warning_each_and_check_lists_them(
    pytester: pytest.Pytester, archive: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    pytester.makepyfile(test_exp=SWEEP)
    pytester.runpytest("-p", "no:xdist").assert_outcomes(passed=4)
    runs = archive.runs()
    damaged = _damage(runs)
    root = str(archive.root)

    code, out, err = run(capsys, "--root", root, "reindex")
    assert code == 0 and out.startswith(
        f"indexed 1 new or changed of 4 run folders under {root}; skipped 3 damaged"
    ), out
    assert no_traceback(err) and len(err.splitlines()) == 3, err
    for file, problem in damaged.items():
        assert sum(file in line and problem in line for line in err.splitlines()) == 1, err
    assert "#x007f" in err and "(line 2, column 12)" in err, "where the DEL is"

    for name in ("index.sqlite", "index.sqlite-wal", "index.sqlite-shm"):
        (archive.root / name).unlink(missing_ok=True)
    past = time.time() - 60  # a session that ended a minute ago (one changing now is read again)
    os.utime(runs[0].parent, (past, past))
    code, out, err = run(capsys, "--root", root, "list", "--json")
    assert code == 0 and [r["run_id"] for r in json.loads(out)] == ["x=4"]
    assert no_traceback(err) and len(err.splitlines()) == 4, "three skipped, one rebuilt"
    code, out, err = run(capsys, "--root", root, "list")
    assert code == 0 and err == "", "said once: the index now knows those folders"

    code, out, err = run(capsys, "--root", root, "show", str(runs[1]))
    assert code == 1 and out == "" and no_traceback(err) and len(err.splitlines()) == 1
    assert f"{runs[1]}/summary.json: not valid JSON" in err
    with pytest.raises(DamagedRun, match=r"config.yaml: not valid YAML: unacceptable character"):
        load_run(runs[0])
    code, out, err = run(capsys, "--root", root, "gc", "--older-than", "0s", "--dry-run")
    assert code == 0 and no_traceback(err) and "would delete 1 run" in out

    code, out, err = run(capsys, "--root", root, "check")
    assert code == 1 and err == ""
    lines = [line for line in out.splitlines() if line.startswith("damaged ")]
    assert len(lines) == 3
    for file, problem in damaged.items():
        assert sum(file in line and problem in line for line in lines) == 1, out
    assert f"{root}: 4 run folders, 3 damaged; index: 1 rows" in out
    code, out, _ = run(capsys, "--root", root, "check", "--json")
    assert code == 1 and len(json.loads(out)[0]["damaged"]) == 3


def test_check_of_a_sound_archive_exits_0(
    pytester: pytest.Pytester, archive: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    pytester.makepyfile(test_exp=SWEEP)
    pytester.runpytest("-p", "no:xdist").assert_outcomes(passed=4)
    code, out, err = run(capsys, "--root", str(archive.root), "check")
    assert (code, err) == (0, "")
    assert out.strip() == f"{archive.root}: 4 run folders, 0 damaged; index: 4 rows"


SEED_CONFIG = {
    "experiment": {"name": "fit", "run_id": "x=1", "session": "s", "tags": []},
    "parameters": {"x": 1},
}
SEED_SUMMARY = {"status": "completed", "metrics": {"loss": {"final": 1.0}}, "results": {}}
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    which=st.sampled_from(["config.yaml", "summary.json", "data.json", "metrics.csv"]),
    content=st.binary(max_size=200)
    | st.text(max_size=200).map(str.encode)
    | JSON.map(lambda v: json.dumps(v).encode()),
)
def test_any_bytes_in_a_run_file_read_back_or_name_the_file(
    tmp_path_factory: pytest.TempPathFactory, which: str, content: bytes
) -> None:
    folder = tmp_path_factory.mktemp("run")
    (folder / "config.yaml").write_text(json.dumps(SEED_CONFIG))
    (folder / "summary.json").write_text(json.dumps(SEED_SUMMARY))
    (folder / which).write_bytes(content)
    damage = problem_of(folder)
    if damage is not None:
        assert damage.path == folder / which and damage.why
        assert "\n" not in str(damage), "one line"
    try:
        record = record_of(folder, repair=False)
    except DamagedRun as error:
        assert error.path == folder / which
    else:
        assert record["path"] == str(folder)
        row_of(record, folder.parent)  # the index can hold what was read


# 10. full disk and read-only archives


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    """A real 4 MB tmpfs (skipped where mounting is not permitted)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(folder: Path) -> Path:
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)
    return filler


def _archive_on(
    pytester: pytest.Pytester, archive: Archive, mount: Path, with_index: bool = True
) -> Path:
    pytester.makepyfile(test_exp=SWEEP)
    pytester.runpytest("-p", "no:xdist").assert_outcomes(passed=4)
    root = mount / "results"
    ignore = shutil.ignore_patterns("report.html", "plots", *([] if with_index else ["index.*"]))
    shutil.copytree(archive.root, root, ignore=ignore)
    return root


def test_a_full_disk_never_moves_a_good_index_aside_and_the_archive_stays_readable(
    pytester: pytest.Pytester,
    archive: Archive,
    tiny_fs: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = _archive_on(pytester, archive, tiny_fs)
    late = root / "fit" / "2030-01-01_00-00-00_beef"  # a session the index has not seen
    shutil.copytree(archive.runs()[0], late / "x=1")
    filler = _fill(tiny_fs)

    code, out, err = run(capsys, "--root", str(root), "list", "--json")
    assert code == 0 and len(json.loads(out)) == 5, "the late session read from its folder"
    assert no_traceback(err) and len(err.splitlines()) == 1 and "the disk is full" in err
    assert str(root / "index.sqlite") in err
    code, out, err = run(capsys, "--root", str(root), "show", "x=3")
    assert code == 0 and "status: completed" in out
    code, out, err = run(capsys, "--root", str(root), "reindex")
    assert code == 1 and out == "" and len(err.splitlines()) == 1 and no_traceback(err)
    assert err.startswith(f"expharness: cannot write {root / 'index.sqlite'}: the disk is full")
    records = [record_from_folder(late / "x=1", repair=False)]
    with pytest.raises(IndexUnavailable, match="the disk is full"):
        index_records(root, records, late.name)  # the end of a session
    assert not list(root.glob("index.sqlite.corrupt-*")), "a good index is never moved aside"

    filler.unlink()
    code, out, err = run(capsys, "--root", str(root), "list", "--json")
    assert (code, err) == (0, "") and len(json.loads(out)) == 5
    assert len(raw_paths(root)) == 5, "caught up once there is room"


def test_a_read_only_archive_can_be_listed_shown_compared_and_reported(
    pytester: pytest.Pytester,
    archive: Archive,
    tiny_fs: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = _archive_on(pytester, archive, tiny_fs)
    bare = _archive_on(pytester, archive, tiny_fs / "bare", with_index=False)
    dead = sorted(bare.glob("fit/*/x=4"))[-1]
    summary = json.loads((dead / "summary.json").read_text())
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], text=True,
                          capture_output=True, check=True)  # fmt: skip
    summary.update(status="running", pid=int(gone.stdout), heartbeat=time.time() - 3600)
    summary.pop("pid_start", None)
    (dead / "summary.json").write_text(json.dumps(summary))
    before = (dead / "summary.json").read_bytes()
    subprocess.run(["mount", "-o", "remount,ro", str(tiny_fs)], check=True)

    for base, count in ((root, 4), (bare, 8)):  # bare: no index at all, two sessions
        code, out, err = run(capsys, "--root", str(base), "list", "--json")
        assert (code, err) == (0, "") and len(json.loads(out)) == count
        code, out, err = run(capsys, "--root", str(base), "compare", "--session", _session(base))
        assert (code, err) == (0, "") and "x=1" in out
    code, out, err = run(capsys, "--root", str(root), "show", "x=2")
    assert (code, err) == (0, "") and "status: completed" in out
    code, out, err = run(capsys, "--root", str(bare), "show", str(dead))
    assert (code, err) == (0, "") and "status: crashed" in out, "inferred, not written"
    assert (dead / "summary.json").read_bytes() == before
    target = pytester.path / "colleague.html"
    code, out, err = run(
        capsys, "--root", str(root), "report", "--session", _session(root), "--to", str(target)
    )
    assert code == 0 and target.is_file(), err
    code, out, err = run(capsys, "--root", str(root), "reindex")
    assert code == 1 and len(err.splitlines()) == 1 and "the archive is read-only" in err


def _session(root: Path) -> str:
    return sorted(root.glob("fit/*"))[0].name
