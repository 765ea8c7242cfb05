"""Debug sessions side by side: a debug folder is emptied only when its owner has ended."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_expharness.archive import layout as archive
from pytest_expharness.session import debugfolder
from pytest_expharness.session.debugfolder import DebugFolderBusy

from conftest import XDIST_MODES

HELD = """
import os
import time
from pathlib import Path

import pytest


@pytest.mark.parametrize("seed", [1, 2])
def test_held(exp, seed):
    gate = Path(__file__).parent / "go"
    deadline = time.time() + 60
    while os.environ.get("HOLD_RUNS") and not gate.exists() and time.time() < deadline:
        time.sleep(0.05)
    exp.track("loss", 1.0 / seed)
"""


def _start(pytester: pytest.Pytester, name: str, *args: str) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--exp-debug", *args]
    with open(pytester.path / f"{name}.out", "wb") as out:  # the child keeps its own copy
        return subprocess.Popen(cmd, cwd=pytester.path, stdout=out, stderr=subprocess.STDOUT)


def _finish(pytester: pytest.Pytester, name: str, proc: subprocess.Popen[bytes]) -> str:
    try:
        proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    return (pytester.path / f"{name}.out").read_text()


def _summaries(debug: Path) -> list[dict[str, Any]]:
    found = []
    for path in sorted(debug.glob(f"*/{archive.SUMMARY}")):
        try:
            found.append(json.loads(path.read_text()))
        except (OSError, ValueError):  # being replaced right now
            continue
    return found


def _wait_running(debug: Path, count: int, proc: subprocess.Popen[bytes]) -> str:
    """Wait until count runs of the session proc runs are running; return its stamp."""
    deadline = time.time() + 90
    while time.time() < deadline and proc.poll() is None:
        running = [s for s in _summaries(debug) if s.get("status") == "running"]
        if len(running) >= count:
            return str(running[0]["session"])
        time.sleep(0.05)
    raise AssertionError(f"the first session never had {count} runs running in {debug}")


@pytest.mark.slow
@pytest.mark.parametrize("mode", XDIST_MODES)
def test_a_second_debug_session_leaves_a_live_sessions_runs_alone(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, mode: list[str]
) -> None:
    pytester.makepyfile(test_exp=HELD)
    debug = pytester.path / "results" / "held" / archive.DEBUG_DIR
    monkeypatch.setenv("HOLD_RUNS", "1")
    first = _start(pytester, "first", *mode)
    monkeypatch.delenv("HOLD_RUNS")
    try:
        stamp = _wait_running(debug, 1 if mode[0] == "-p" else 2, first)
        second = _start(pytester, "second", *mode)
        second_out = _finish(pytester, "second", second)
    finally:
        (pytester.path / "go").touch()
        first_out = _finish(pytester, "first", first)

    assert first.returncode == 0, first_out
    assert "2 passed" in first_out
    runs = _summaries(debug)
    assert [(s["run_id"], s["session"], s["status"]) for s in runs] == [
        ("seed=1", stamp, "completed"),
        ("seed=2", stamp, "completed"),
    ], "the first session's runs are all there, and no run of the second one"

    assert second.returncode != 0, second_out
    assert f"debug session {stamp}" in second_out
    assert f"on host {socket.gethostname()}" in second_out
    assert "started" in second_out and "drop --exp-debug" in second_out
    assert "FileNotFoundError" not in second_out + first_out

    third = _start(pytester, "third", *mode)
    third_out = _finish(pytester, "third", third)
    assert third.returncode == 0, third_out
    again = _summaries(debug)
    assert [s["run_id"] for s in again] == ["seed=1", "seed=2"]
    assert {s["status"] for s in again} == {"completed"}
    assert {s["session"] for s in again} != {stamp}, "the ended session's runs were replaced"


CLAIMER = """
import sys
from pathlib import Path
from pytest_expharness.session import debugfolder
debugfolder.claim(Path(sys.argv[1]), sys.argv[2])
print("claimed", flush=True)
sys.stdin.read()
"""


def _claimed_by_another_process(folder: Path, stamp: str) -> subprocess.Popen[str]:
    """Start a process that claims folder for session `stamp` and lives until stdin closes."""
    proc = subprocess.Popen(
        [sys.executable, "-c", CLAIMER, str(folder), stamp],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "claimed"
    return proc


def _end(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait(timeout=30)


def _make_run(folder: Path, name: str, **summary: Any) -> Path:
    run = folder / name
    run.mkdir(parents=True)
    (run / archive.CONFIG).write_text("experiment: {}\n")
    (run / archive.SUMMARY).write_text(json.dumps({"run_id": name, **summary}))
    return run


def test_a_live_owner_is_named_and_its_runs_kept_until_it_ends(tmp_path: Path) -> None:
    folder = tmp_path / "exp" / archive.DEBUG_DIR
    owner = _claimed_by_another_process(folder, "S1")
    try:
        run = _make_run(folder, "a=1", status="completed", session="S1")
        with pytest.raises(DebugFolderBusy) as refused:
            debugfolder.check_debug_folders(tmp_path, ["exp"], "S2", testing=False)
        message = str(refused.value)
        assert f"pid {owner.pid} on host {socket.gethostname()}, started 20" in message
        assert "debug session S1" in message and "drop --exp-debug" in message
        with pytest.raises(DebugFolderBusy, match=f"pid {owner.pid} "):
            debugfolder.claim(folder, "S2")
        assert run.is_dir(), "a live session's run is never deleted"
        debugfolder.claim(folder, "S1")  # its own session shares it, no waiting
        assert run.is_dir()
    finally:
        _end(owner)
    debugfolder.check_debug_folders(tmp_path, ["exp"], "S2", testing=False)
    debugfolder.claim(folder, "S2")
    assert not run.exists(), "the ended session's runs make way"
    assert debugfolder.read_marker(folder)["stamp"] == "S2"


def test_every_process_of_the_owning_session_keeps_it_alive(tmp_path: Path) -> None:
    folder = tmp_path / "exp" / archive.DEBUG_DIR
    first, second = (_claimed_by_another_process(folder, "S1") for _ in range(2))
    _end(first)  # one worker of S1 ended, the other still runs
    try:
        with pytest.raises(DebugFolderBusy, match=f"pid {second.pid} on host"):
            debugfolder.claim(folder, "S2")
    finally:
        _end(second)
    debugfolder.claim(folder, "S2")


def test_a_pid_now_held_by_a_newer_process_is_not_the_owner(tmp_path: Path) -> None:
    folder = tmp_path / "exp" / archive.DEBUG_DIR
    folder.mkdir(parents=True)
    run = _make_run(folder, "a=1", status="completed", session="S1")
    parent = debugfolder.process_identity(os.getppid())  # alive, and not this process
    if parent["pid_start"] is None:
        pytest.skip("no /proc: start times cannot be read here")
    marker = {"stamp": "S1", "host": parent["host"], "started": time.time(), "processes": [parent]}
    debugfolder.write_marker(folder, marker)
    with pytest.raises(DebugFolderBusy):
        debugfolder.claim(folder, "S2")
    reused = {**parent, "pid_start": parent["pid_start"] - 1}
    debugfolder.write_marker(folder, {**marker, "processes": [reused]})
    debugfolder.claim(folder, "S2")
    assert not run.exists()


def test_another_hosts_session_is_alive_until_an_hour_of_silence(tmp_path: Path) -> None:
    folder = tmp_path / "exp" / archive.DEBUG_DIR
    folder.mkdir(parents=True)
    away = {"pid": 4242, "pid_start": 1, "host": "node-elsewhere", "pid_ns": None}
    marker = {"stamp": "S1", "host": "node-elsewhere", "started": time.time() - 7200}
    debugfolder.write_marker(folder, {**marker, "processes": [away]})
    old = time.time() - 7200
    beat = time.time() - 600
    run = _make_run(folder, "a=1", status="running", session="S1", heartbeat=beat, **away)
    for path in (folder / debugfolder.MARKER, run / archive.SUMMARY):
        os.utime(path, (old, old))
    with pytest.raises(DebugFolderBusy, match=r"on host node-elsewhere, .* 10 min ago"):
        debugfolder.claim(folder, "S2")
    summary = json.loads((run / archive.SUMMARY).read_text())
    (run / archive.SUMMARY).write_text(json.dumps({**summary, "heartbeat": old}))
    os.utime(run / archive.SUMMARY, (old, old))
    debugfolder.claim(folder, "S2")
    assert not run.exists()


def test_an_older_plain_marker_still_protects_a_running_run(tmp_path: Path) -> None:
    folder = tmp_path / "exp" / archive.DEBUG_DIR
    folder.mkdir(parents=True)
    (folder / debugfolder.MARKER).write_text("S1")  # written before the marker held JSON
    holder = _claimed_by_another_process(tmp_path / "elsewhere" / archive.DEBUG_DIR, "X")
    try:
        here = debugfolder.process_identity(holder.pid)
        run = _make_run(folder, "a=1", status="running", session="S1", **here)
        with pytest.raises(DebugFolderBusy, match=f"its run a=1 is running as pid {holder.pid}"):
            debugfolder.claim(folder, "S2")
    finally:
        _end(holder)
    debugfolder.claim(folder, "S2")
    assert not run.exists()


def test_a_released_folder_is_free_while_its_process_lives_on(tmp_path: Path) -> None:
    folder = tmp_path / "exp" / archive.DEBUG_DIR
    owner = _claimed_by_another_process(folder, "S1")  # a notebook that called pytest.main
    try:
        run = _make_run(folder, "a=1", status="completed", session="S1")
        assert debugfolder.release(tmp_path, "S2") == [], "only the owning session releases"
        with pytest.raises(DebugFolderBusy):
            debugfolder.claim(folder, "S2")
        assert debugfolder.release(tmp_path, "S1") == [folder]
        debugfolder.claim(folder, "S2")
        assert not run.exists()
    finally:
        _end(owner)


def test_checking_makes_nothing(tmp_path: Path) -> None:
    debugfolder.check_debug_folders(tmp_path / "results", ["exp"], "S1", testing=True)
    assert not (tmp_path / "results").exists()


IDENTITY = st.fixed_dictionaries(
    {
        "pid": st.integers(min_value=1, max_value=2**22),
        "pid_start": st.none() | st.integers(min_value=0, max_value=2**63),
        "host": st.text(),
        "pid_ns": st.none() | st.text(),
    }
)
MARKERS = st.fixed_dictionaries(
    {
        "stamp": st.text(),
        "host": st.text(),
        "started": st.floats(allow_nan=False, allow_infinity=False),
        "controller": st.none() | IDENTITY,
        "processes": st.lists(IDENTITY, max_size=4),
    }
)


@given(marker=MARKERS)
@settings(max_examples=50, deadline=None)
def test_a_marker_reads_back_as_written(tmp_path_factory: Any, marker: dict[str, Any]) -> None:
    folder = tmp_path_factory.mktemp("marker")
    debugfolder.write_marker(folder, marker)
    assert debugfolder.read_marker(folder) == marker


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)
KEYS = st.sampled_from(["stamp", "host", "started", "controller", "processes", "pid"]) | st.text()
LOCAL = st.fixed_dictionaries(  # processes of this host, so that pids are looked up
    {"host": st.just(socket.gethostname()), "processes": st.lists(st.dictionaries(KEYS, JSON))},
    optional={"pid": JSON, "pid_start": JSON, "controller": JSON, "ended": JSON},
)
MARKER_BYTES = st.binary(max_size=200) | (st.dictionaries(KEYS, JSON) | LOCAL).map(
    lambda marker: json.dumps(marker).encode()
)


@given(content=MARKER_BYTES)
@settings(max_examples=100, deadline=None)
def test_any_marker_content_is_judged_without_error(tmp_path_factory: Any, content: bytes) -> None:
    folder = tmp_path_factory.mktemp("garbage")
    (folder / debugfolder.MARKER).write_bytes(content)
    marker = debugfolder.read_marker(folder)
    assert isinstance(marker, dict)
    owner = debugfolder.live_owner(folder, marker, {os.getpid()})
    assert owner is None or "host" in owner
    try:
        debugfolder.claim(folder, "new-session")
    except DebugFolderBusy:
        assert owner is not None
    else:
        assert owner is None, "a claim and a check agree"
        assert debugfolder.read_marker(folder)["stamp"] == "new-session"
