"""Liveness and locks (issue 11): a live run is never called crashed or deleted, and
concurrent label/tag commands lose nothing."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import matplotlib.figure  # noqa: F401  (see tests/conftest.py)
import numpy  # noqa: F401
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_expharness.catalog import cleanup
from pytest_expharness.catalog.processes import parse_stat
from pytest_expharness.catalog.reading import read_run
from pytest_expharness.cli import main as cli

from conftest import Archive

NO_XDIST = ["-p", "no:xdist", "-p", "no:randomly"]
LINUX = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
HOUR = 3600.0
STOP_MODES = [  # the run's process: the session itself, or an xdist worker (a session costs more)
    pytest.param(NO_XDIST, id="no-xdist"),
    pytest.param(["-n", "2"], id="xdist-2", marks=pytest.mark.slow),
]

PLAIN = """
    import pytest

    @pytest.mark.parametrize("x", [1, 2, 3])
    def test_fit(exp, x):
        exp.track("loss", float(x))
"""

LIVE = """
    import time
    from pathlib import Path

    def test_long(exp):
        for step in range(3):
            exp.track("loss", 1.0 / (step + 1), step=step)
        exp.commit_raw("notes.txt", "written before the pause")
        Path("ready").write_text("")
        while not Path("go").exists():
            time.sleep(0.05)
        for step in range(3, 6):
            exp.track("loss", 1.0 / (step + 1), step=step)
"""


def cmd(capsys: pytest.CaptureFixture[str], root: Path, *argv: str) -> tuple[int, str, str]:
    """Run one `expharness` command in this process; return its code, stdout and stderr."""
    capsys.readouterr()
    code = cli.main(["--root", str(root), *argv])
    out, err = capsys.readouterr()
    return code, out, err


def listed(capsys: pytest.CaptureFixture[str], root: Path, *argv: str) -> list[dict[str, object]]:
    code, out, _ = cmd(capsys, root, "list", "--json", *argv)
    return list(json.loads(out)) if code == 0 else []


def pretend_running(folder: Path, **fields: object) -> None:
    """Make a finished run's summary say `running`, as its process would have left it."""
    summary = Archive.summary(folder)
    summary.update(status="running", **fields)
    (folder / "summary.json").write_text(json.dumps(summary))


def files_of(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def own_start() -> int:
    found = parse_stat(Path("/proc/self/stat").read_text())
    assert found is not None
    return found[1]


@pytest.fixture
def runs(pytester: pytest.Pytester, archive: Archive) -> list[Path]:
    """Three finished runs of one sweep (indexed), made in this very process."""
    pytester.makepyfile(test_exp=PLAIN)
    pytester.runpytest(*NO_XDIST).assert_outcomes(passed=3)
    return archive.runs()


# -- a live run is never crashed, whatever its heartbeat ----------------------------


@pytest.fixture
def stopped_run(
    pytester: pytest.Pytester, archive: Archive, request: pytest.FixtureRequest
) -> Iterator[tuple[Path, subprocess.Popen[bytes]]]:
    """A real run in a pytest session of its own, stopped (SIGSTOP) mid-run."""
    pytester.makepyfile(test_live=LIVE)
    mode = request.param
    session = pytester.popen(
        [sys.executable, "-m", "pytest", *mode, "-p", "no:randomly", "test_live.py"],
        stdin=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    pid = None
    try:
        deadline = time.monotonic() + 60
        while not (pytester.path / "ready").exists():
            assert session.poll() is None, session.stdout.read() if session.stdout else ""
            assert time.monotonic() < deadline, "the run never got going"
            time.sleep(0.05)
        run = archive.run("long")
        pid = Archive.summary(run)["pid"]
        os.kill(pid, signal.SIGSTOP)
        yield run, session
    finally:
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):  # it may have ended already
                os.kill(pid, signal.SIGCONT)
        (pytester.path / "go").write_text("")
        if session.poll() is None:
            try:
                session.wait(timeout=60)
            except subprocess.TimeoutExpired:
                session.kill()
                session.wait()


@pytest.mark.parametrize("stopped_run", STOP_MODES, indirect=True)
def test_a_stopped_run_with_an_old_heartbeat_is_left_alone_and_finishes(
    stopped_run: tuple[Path, subprocess.Popen[bytes]],
    archive: Archive,
    pytester: pytest.Pytester,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run, session = stopped_run
    root = archive.root
    summary = Archive.summary(run)
    summary["heartbeat"] = time.time() - 2 * HOUR  # as if it had been stopped for two hours
    (run / "summary.json").write_text(json.dumps(summary))
    before = files_of(run)

    assert read_run(run)["status"] == "running"
    assert cmd(capsys, root, "reindex")[0] == 0
    assert [r["status"] for r in listed(capsys, root)] == ["running"]
    assert listed(capsys, root, "--status", "crashed") == []
    assert listed(capsys, root, "--status", "stale") == []
    code, out, _ = cmd(capsys, root, "show", str(run))
    assert code == 0 and "status: running" in out, out
    code, out, _ = cmd(capsys, root, "gc", "--status", "crashed")
    assert code == 1 and "deleted 0 runs" in out, out
    for gc in (["--status", "crashed,stale,running"], ["--older-than", "0s"]):
        code, out, _ = cmd(capsys, root, "gc", *gc)
        assert code == 1 and "deleted 0 runs" in out, (gc, out)
        assert f"kept {run.relative_to(root).as_posix()}: still running" in out, (gc, out)
    assert files_of(run) == before, "nothing in a live run's folder was written or removed"

    os.kill(summary["pid"], signal.SIGCONT)
    (pytester.path / "go").write_text("")
    output = session.communicate(timeout=60)[0].decode()
    assert session.returncode == 0 and "1 passed" in output, output
    done = Archive.summary(run)
    assert done["status"] == "completed"
    assert [step for step, name, *_ in Archive.metrics(run) if name == "loss"] == list(range(6))
    assert (run / "artifacts" / "notes.txt").read_text() == "written before the pause"
    assert (run / "run.log").exists() and (run / "config.yaml").exists()


@LINUX
def test_a_live_pid_is_running_however_old_its_heartbeat(
    runs: list[Path], archive: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    run = runs[0]  # ran in this process: its pid and start time are ours
    assert Archive.summary(run)["pid"] == os.getpid()
    assert Archive.summary(run)["pid_start"] == own_start()
    pretend_running(run, heartbeat=time.time() - 2 * HOUR)
    before = files_of(run)
    assert read_run(run)["status"] == "running"
    code, out, _ = cmd(capsys, archive.root, "gc", "--status", "crashed")
    assert code == 1 and "deleted 0 runs" in out, out
    # a summary written before start times were recorded: a live pid is enough
    pretend_running(run, pid_start=None)
    assert read_run(run)["status"] == "running"
    assert files_of(run).keys() == before.keys()


@LINUX
def test_a_reused_pid_is_a_certain_crash_and_recorded(runs: list[Path], archive: Archive) -> None:
    run = runs[0]
    # our pid, but a process that started at another moment: the run's process is gone
    pretend_running(run, pid=os.getpid(), pid_start=own_start() + 1, heartbeat=time.time())
    summary = read_run(run)
    assert summary["status"] == "crashed"
    assert summary["crash"]["reason"].startswith(f"process {os.getpid()} on ")
    assert Archive.summary(run)["status"] == "crashed"  # certain: recorded


@LINUX
def test_an_exited_but_unreaped_process_is_gone(runs: list[Path], archive: Archive) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        stat = Path(f"/proc/{child.pid}/stat")
        deadline = time.monotonic() + 30
        while (parse_stat(stat.read_text()) or ("?",))[0] != "Z":  # a zombie until reaped
            assert time.monotonic() < deadline
            time.sleep(0.02)
        pretend_running(runs[0], pid=child.pid, pid_start=None, heartbeat=time.time())
        assert read_run(runs[0])["status"] == "crashed"
    finally:
        child.wait()


def test_an_old_heartbeat_on_another_host_is_stale_and_nothing_is_written(
    runs: list[Path], archive: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    root, run = archive.root, runs[1]
    path = run.relative_to(root).as_posix()
    pretend_running(run, host="gpu-node-17", pid=4242, heartbeat=time.time() - 120)
    before = files_of(run)
    summary = read_run(run)
    assert summary["status"] == "stale"
    assert re.search(r"no heartbeat for 12\d s from process 4242 on gpu-node-17", summary["reason"])
    assert files_of(run) == before, "a suspicion is reported, never written"

    assert cmd(capsys, root, "reindex")[0] == 0
    assert [r["path"] for r in listed(capsys, root, "--status", "stale")] == [path]
    assert listed(capsys, root, "--status", "crashed") == []
    code, out, _ = cmd(capsys, root, "show", path)
    assert code == 0 and "status: stale (no heartbeat for" in out, out
    for status in ("crashed", "stale"):  # younger than an hour: spared whatever is asked
        code, out, _ = cmd(capsys, root, "gc", "--status", status)
        assert code == 1 and f"kept {path}: may still be running on gpu-node-17" in out, out
    assert files_of(run) == before

    pretend_running(run, heartbeat=time.time() - 2 * HOUR)
    code, out, _ = cmd(capsys, root, "gc", "--status", "stale")
    assert code == 0 and "deleted 1 run" in out and not run.exists(), out


def test_a_dead_run_here_waits_an_hour_after_its_last_heartbeat(
    runs: list[Path], archive: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    root, run = archive.root, runs[2]
    pretend_running(run, pid=2_000_000_000, heartbeat=time.time() - 60)  # no such pid
    code, out, _ = cmd(capsys, root, "gc", "--status", "crashed")
    assert code == 1 and re.search(r"its heartbeat is 6\d s old", out), out
    assert run.is_dir()
    pretend_running(run, heartbeat=time.time() - 2 * HOUR)
    code, out, _ = cmd(capsys, root, "gc", "--status", "crashed")
    assert code == 0 and "deleted 1 run" in out and not run.exists(), out


def test_a_crash_report_about_a_live_process_is_not_written(runs: list[Path]) -> None:
    from pytest_expharness.catalog.reading import mark_crashed

    run = runs[0]  # its pid (ours) is alive
    pretend_running(run, heartbeat=time.time() - 2 * HOUR)
    assert mark_crashed(run, "worker gw0 died while running it")["status"] == "running"
    assert Archive.summary(run)["status"] == "running"


@given(
    comm=st.text(st.characters(blacklist_characters="\x00"), max_size=40),
    state=st.sampled_from("RSDZTtXIW"),
    numbers=st.lists(st.integers(0, 2**63), min_size=19, max_size=50),
)
def test_proc_stat_lines_read_back_whatever_the_command_name(
    comm: str, state: str, numbers: list[int]
) -> None:
    fields = [str(n) for n in numbers]
    text = f"{numbers[0]} ({comm}) {state} " + " ".join(fields) + "\n"
    assert parse_stat(text) == (state, numbers[18])


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=5,
)


@given(
    pid=JSON | st.integers(-(2**70), 2**70),
    host=JSON | st.just(socket.gethostname()),
    heartbeat=JSON | st.integers(-(2**1100), 2**1100),
    start=JSON,
    namespace=JSON,
)
def test_any_summary_from_an_archive_is_judged_without_error(
    pid: object, host: object, heartbeat: object, start: object, namespace: object
) -> None:
    from pytest_expharness.catalog.reading import liveness

    summary = {"status": "running", "pid": pid, "host": host, "heartbeat": heartbeat}
    summary.update(pid_start=start, pid_ns=namespace)
    verdict = liveness(summary)
    assert verdict.state in ("alive", "running", "stale", "crashed")
    assert (verdict.reason is None) == (verdict.state in ("alive", "running"))


def test_a_cut_proc_stat_line_reads_as_unknown() -> None:
    assert parse_stat("") is None
    assert parse_stat("12 (python) S 1 2 3") is None
    assert parse_stat("12 (python") is None


# -- gc re-checks under the run's lock ------------------------------------------------


def test_gc_spares_a_run_labelled_keep_after_it_planned(
    runs: list[Path],
    archive: Archive,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root, keep = archive.root, runs[0]
    planned = cleanup.plan

    def plan_then_label(*args: object, **kwargs: object) -> cleanup.Plan:
        found = planned(*args, **kwargs)  # type: ignore[arg-type]
        assert cli.main(["--root", str(root), "label", str(keep), "keep"]) == 0  # meanwhile
        return found

    monkeypatch.setattr(cleanup, "plan", plan_then_label)
    code, out, _ = cmd(capsys, root, "gc", "--older-than", "0s")
    assert code == 0 and "deleted 2 runs" in out, out
    assert f"kept {keep.relative_to(root).as_posix()}: labelled keep" in out, out
    assert keep.is_dir() and Archive.config(keep)["experiment"]["label"] == "keep"


# -- concurrent label and tag commands lose nothing -----------------------------------


def spawn(root: Path, *argv: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pytest_expharness", "--root", str(root), *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def all_done(processes: list[subprocess.Popen[str]]) -> None:
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, (process.args, out, err)


@pytest.mark.slow
def test_ten_concurrent_tags_all_land(
    runs: list[Path], archive: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    root, run = archive.root, runs[0]
    tags = [f"t{n}" for n in range(10)]
    all_done([spawn(root, "tag", str(run), tag) for tag in tags])
    assert set(Archive.config(run)["experiment"]["tags"]) == set(tags)
    path = run.relative_to(root).as_posix()
    for tag in tags:  # the index follows the last change too
        assert [r["path"] for r in listed(capsys, root, "--tag", tag)] == [path], tag


@pytest.mark.slow
def test_label_keep_racing_three_tags_keeps_all_on_ten_runs(
    pytester: pytest.Pytester, archive: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    pytester.makepyfile(
        test_ten="""
        import pytest

        @pytest.mark.parametrize("x", range(10))
        def test_ten(exp, x):
            exp.track("loss", float(x))
        """
    )
    pytester.runpytest(*NO_XDIST).assert_outcomes(passed=10)
    root, runs = archive.root, archive.runs()
    processes = []
    for run in runs:
        processes.append(spawn(root, "label", str(run), "keep"))
        processes += [spawn(root, "tag", str(run), f"t{n}") for n in range(3)]
    all_done(processes)
    for run in runs:
        header = Archive.config(run)["experiment"]
        assert header["label"] == "keep", run.name
        assert sorted(header["tags"]) == ["t0", "t1", "t2"], run.name
    assert len(listed(capsys, root, "--label", "keep")) == 10
    for n in range(3):
        assert len(listed(capsys, root, "--tag", f"t{n}")) == 10


def test_exp_label_keeps_a_tag_added_while_the_run_goes(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(
        test_tagged="""
        from pytest_expharness.cli import main as cli

        def test_tagged(exp):
            assert cli.main(["--root", "results", "tag", str(exp.path), "from-outside"]) == 0
            exp.label("keep", note="the good one")
        """
    )
    pytester.runpytest(*NO_XDIST).assert_outcomes(passed=1)
    header = Archive.config(archive.run("tagged"))["experiment"]
    assert "from-outside" in header["tags"]
    assert header["label"] == "keep" and [n["note"] for n in header["notes"]] == ["the good one"]
