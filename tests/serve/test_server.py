"""expharness serve over real archives: every page, read-only, and nothing outside the root."""

from __future__ import annotations

import http.client
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from serving import SWEEP, Served, serve

from pytest_expharness.cli import main as cli
from pytest_expharness.serve import pages
from pytest_expharness.serve.paths import inside

from conftest import XDIST_MODES


@pytest.fixture
def served(pytester: pytest.Pytester) -> Iterator[Served]:
    """The server over a finished two-run sweep (no xdist)."""
    pytester.makepyfile(test_fit=SWEEP)
    pytester.runpytest("-p", "no:xdist").assert_outcomes(passed=2)
    yield from serve(pytester.path / "results")


def _stamp(root: Path) -> str:
    (session,) = (root / "fit").iterdir()
    return session.name


def _files(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_every_page_of_a_finished_sweep(pytester: pytest.Pytester, mode: list[str]) -> None:
    pytester.makepyfile(test_fit=SWEEP)
    pytester.runpytest(*mode).assert_outcomes(passed=2)
    root = pytester.path / "results"
    before = _files(root)
    for one in serve(root):
        stamp = _stamp(root)
        status, kind, body, _ = one.get("/")
        assert (status, kind) == (200, "text/html; charset=utf-8")
        assert b"fit" in body and stamp.encode() in body
        status, _, body, _ = one.get("/runs")
        assert status == 200 and b"lr=0.1" in body and b"lr=0.3" in body
        status, _, body, _ = one.get("/runs?filter=lr%3C0.2")
        assert status == 200 and b"lr=0.1" in body and b"lr=0.3" not in body
        status, _, body, _ = one.get(f"/session/{stamp}/")  # redirected to report.html
        assert status == 200 and body == (root / "fit" / stamp / "report.html").read_bytes()
        status, _, body, _ = one.get(f"/run/fit/{stamp}/lr=0.3/")
        assert status == 200 and b"Parameters" in body and b"final.json" in body
        status, kind, body, _ = one.get(f"/files/fit/{stamp}/lr=0.3/metrics.csv")
        assert kind.startswith("text/plain") and body.startswith(b"step,name,value,time")
        status, kind, body, _ = one.get(f"/files/fit/{stamp}/lr=0.3/artifacts/final.json")
        assert kind.startswith("application/json") and json.loads(body) == {"lr": 0.3}
        status, kind, body, _ = one.get(f"/api/live/{stamp}")
        live = json.loads(body)
        assert kind == "application/json" and live["over"] is True
        runs = {r["key"]: r for r in live["runs"]}
        assert set(runs) == {"fit/lr=0.1", "fit/lr=0.3"}
        assert runs["fit/lr=0.3"]["series"]["loss"][0] == list(range(8))
        assert runs["fit/lr=0.3"]["status"] == "completed"
        assert one.get(f"/api/live/{stamp}?since=fit/lr=0.3:-1")[0] == 200
        assert one.get("/session/no-such/")[0] == 404
        assert one.get("/api/live/no-such")[0] == 404
        assert one.get("/nowhere")[0] == 404
    assert _files(root) == before  # nothing written, not even the index


def test_a_bad_filter_is_400_with_lists_message(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    for text in ("nosuch<1", "lr<<1"):
        assert cli.main(["--root", str(served.root), "list", text]) == 2
        said = capsys.readouterr().err.strip().removeprefix("expharness: ")
        status, _, body, _ = served.get("/runs?filter=" + text.replace("<", "%3C"))
        assert status == 400
        assert pages.esc(said).encode() in body


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "FOO"])
def test_only_get_and_head(served: Served, method: str) -> None:
    status, _, _, headers = served.get("/", method=method)
    assert status == 405 and headers["Allow"] == "GET, HEAD"
    status, _, body, _ = served.get("/", method="HEAD")
    assert status == 200 and body == b""


def _raw(served: Served, path: str) -> tuple[int, bytes]:
    """Send the path exactly as written (urllib would normalise it)."""
    host, port = served.server.server_address[:2]
    conn = http.client.HTTPConnection(str(host), int(port), timeout=30)
    try:
        conn.putrequest("GET", path, skip_accept_encoding=True)
        conn.endheaders()
        reply = conn.getresponse()
        return reply.status, reply.read()
    finally:
        conn.close()


TRAVERSALS = [
    "/files/../secret.txt",
    "/files/..%2fsecret.txt",
    "/files/%2e%2e/secret.txt",
    "/files/%2E%2E%2Fsecret.txt",
    "/files/fit/../../secret.txt",
    "/files//etc/passwd",
    "/files/%2fetc%2fpasswd",
    "/files/..%5csecret.txt",
    "/files/fit%5c..%5c..%5csecret.txt",
    "/files/secret.txt%00.html",
    "/files/%00",
    "/files/~/secret.txt",
    "/files/out-link/secret.txt",
    "/files/out-file",
    "/run/../",
    "/run/%2e%2e/%2e%2e/",
    "/session/..%2f..%2f/",
    "/api/live/..",
    "/api/live/%2e%2e%2fsecret.txt",
    "/files/%ff%fe",
]


def test_nothing_outside_the_root(served: Served) -> None:
    root = served.root
    stamp = _stamp(root)
    secret = root.parent / "secret.txt"
    secret.write_text("SECRET outside the root")
    os.symlink(root.parent, root / "out-link")
    os.symlink(secret, root / "out-file")
    (root / "fit" / "inner-link").symlink_to(root / "fit")
    for path in TRAVERSALS:
        status, body = _raw(served, path)
        assert status == 404, path
        assert b"SECRET" not in body
    assert _raw(served, f"/files/fit/inner-link/{stamp}/report.html")[0] == 200
    assert _raw(served, "/files/")[0] == 404  # a folder is no file


PIECES = st.sampled_from(["..", ".", "/", "\\", "a", "%2e", "%2f", "\x00", "serve", "~"])


@given(st.one_of(st.text(), st.lists(PIECES).map("".join)))
def test_inside_never_leaves_the_root(relative: str) -> None:
    root = Path(__file__).parent
    found = inside(root, relative)
    assert found is None or found == root.resolve() or found.is_relative_to(root.resolve())


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.sampled_from(
            ["..", ".", "%2e%2e", "%2E.", "%2f", "%5c", "%00", "fit", "secret.txt", "out", ""]
        ),
        max_size=6,
    )
)
def test_no_generated_path_serves_a_file_outside(served: Served, parts: list[str]) -> None:
    secret = served.root.parent / "secret.txt"
    if not secret.exists():
        secret.write_text("SECRET outside the root")
        os.symlink(served.root.parent, served.root / "out")
    status, body = _raw(served, "/files/" + "/".join(parts))
    assert b"SECRET" not in body
    assert status in (200, 404)


def test_damaged_folders_are_damaged_rows(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_fit=SWEEP)
    pytester.runpytest("-p", "no:xdist").assert_outcomes(passed=2)
    root = pytester.path / "results"
    stamp = _stamp(root)
    (root / "fit" / stamp / "lr=0.1" / "summary.json").write_text("{not json")
    (root / "fit" / stamp / "lr=0.3" / "config.yaml").write_text("experiment: [unclosed")
    for one in serve(root):
        for path in ("/", "/runs"):
            status, _, body, _ = one.get(path)
            assert status == 200 and b"Damaged run folders" in body and b"summary.json" in body
        status, _, body, _ = one.get(f"/run/fit/{stamp}/lr=0.1/")
        assert status == 200 and b"damaged" in body
        status, _, body, _ = one.get(f"/api/live/{stamp}")
        assert status == 200
        assert {r["status"] for r in json.loads(body)["runs"]} >= {"damaged"}


def test_an_error_is_one_line_and_the_traceback_goes_to_stderr(
    served: Served, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    def broken(*args: object) -> bytes:
        raise RuntimeError("deep inside")

    monkeypatch.setattr(pages, "home", broken)
    status, _, body, _ = served.get("/")
    assert status == 500 and b"Traceback" not in body and b"deep inside" not in body
    assert "Traceback" in capfd.readouterr().err


def test_serve_command_prints_its_url(pytester: pytest.Pytester) -> None:
    (pytester.path / "results").mkdir()
    process = pytester.popen(
        [
            sys.executable,
            "-m",
            "pytest_expharness.cli.main",
            "--root",
            str(pytester.path / "results"),
            "serve",
            "--port",
            "0",
        ],
        stdout=-1,
        stderr=-1,
    )
    try:
        line = process.stdout.readline().decode()
        assert "serving" in line and "http://127.0.0.1:" in line
    finally:
        process.terminate()
        process.wait(10)


KILLED = """
import os
import time
import pytest

@pytest.mark.experiment(metric="loss")
def test_killed(exp):
    for step in range(5):
        exp.track("loss", 1.0 / (step + 1))
    time.sleep(1.0)  # the flusher journals the points
    os._exit(3)
"""


def test_a_killed_run_shows_crashed_and_is_not_marked(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_killed=KILLED)
    pytester.runpytest_subprocess("-p", "no:xdist")
    root = pytester.path / "results"
    (run,) = root.glob("killed/*/*/summary.json")
    assert json.loads(run.read_text())["status"] == "running"  # nobody wrote the crash yet
    before = _files(root)
    for one in serve(root):
        stamp = run.parent.parent.name
        live = json.loads(one.get(f"/api/live/{stamp}")[2])
        (state,) = live["runs"]
        assert state["status"] == "crashed" and state["series"]["loss"][0] == [0, 1, 2, 3, 4]
        assert b"crashed" in one.get("/runs")[2]
        assert one.get(f"/session/{stamp}/")[0] == 200
    assert _files(root) == before


def test_live_charts_are_report_html_s_charts_of_every_point(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_killed=KILLED)
    pytester.runpytest_subprocess("-p", "no:xdist")
    root = pytester.path / "results"
    (run,) = root.glob("killed/*/*/summary.json")
    stamp = run.parent.parent.name
    before = _files(root)
    for one in serve(root):
        status, kind, body = one.get(f"/api/charts/{stamp}")[:3]
        assert status == 200 and kind.startswith("text/html")
        text = body.decode()
        assert text.count("<figure class='chart' data-series='loss' data-points='5'>") == 1
        assert 'class="chart curves"' in text  # drawn by sweep/html/plots.Plotter.curves
        assert f'data-run="killed/{run.parent.name}"' in text  # keyed like the table's rows
        assert one.get("/api/charts/no-such-session")[0] == 404
        assert one.get("/api/charts/..%2F..")[0] == 404
    assert _files(root) == before  # nothing written
