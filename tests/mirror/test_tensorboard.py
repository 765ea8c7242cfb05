"""Runs mirrored as TensorBoard event files, read back with TensorBoard's own event reader."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import matplotlib.figure  # noqa: F401  (see tests/conftest.py)
import numpy as np
import pytest
import tensorboard.summary.writer.event_file_writer  # noqa: F401  (before any pytester session)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from pytest_expharness.archive.metricsfile import Columns, csv_text
from pytest_expharness.cli import main as cli
from pytest_expharness.mirror import source as mirror_source
from pytest_expharness.mirror.tensorboard import write_events, write_run

from conftest import Archive

SWEEP = """
    import numpy as np
    import pytest

    @pytest.mark.parametrize("x", [1, 2])
    def test_fit(exp, x):
        for step in range(5):
            exp.track("loss", x / (step + 1) + 1e-9, step=3 * step)
            exp.track("acc/top1", 0.1 * step)
        if x == 2:
            for step in (0, 7):
                exp.track("samples/grid", np.full((5, 3, 3), 30 * step, dtype=np.uint8), step=step)
            exp.track("samples/grid", np.zeros((5, 3, 3), dtype=np.uint8), step=7)  # twice at 7
"""


def events(folder: Path) -> EventAccumulator:
    found = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0})
    found.Reload()
    return found


def test_export_tensorboard_writes_every_point_and_every_frame_once(
    pytester: pytest.Pytester, archive: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    pytester.makepyfile(test_exp=SWEEP)
    pytester.runpytest("-p", "no:xdist", "--exp-sys-interval", "0").assert_outcomes(passed=2)
    session = archive.runs()[0].parent
    target = pytester.path / "tb"
    argv = ["--root", str(archive.root), "export", "--session", session.name]
    capsys.readouterr()
    assert cli.main([*argv, "--tensorboard", str(target)]) == 0
    assert capsys.readouterr().out.strip() == (
        f"mirrored 2 runs to TensorBoard in {target} (2 new, 0 brought up to date)"
    )
    for again in (False, True):
        for folder in archive.runs():
            place = target / "fit" / session.name / folder.name
            assert len(list(place.glob("events.out.tfevents.*"))) == 1, "one file, rewritten"
            found = events(place)
            expected: dict[str, list[tuple[int, float, float]]] = {}
            for step, name, value, when in Archive.metrics(folder):
                expected.setdefault(name, []).append((step, value, when))
            assert set(found.Tags()["scalars"]) == set(expected) == {"loss", "acc/top1"}
            for name, points in expected.items():
                got = [(e.step, e.value, e.wall_time) for e in found.Scalars(name)]
                assert [(s, w) for s, _, w in got] == [(s, w) for s, _, w in points]
                assert [v for _, v, _ in got] == [float(np.float32(v)) for _, v, _ in points]
            frames = Archive.summary(folder).get("frames") or {}
            if folder.name == "x=2":
                assert frames == {"samples/grid": 3}
                images = found.Images("samples/grid")
                assert [i.step for i in images] == [0, 7, 7]
                grid = folder / "tracked" / "samples" / "grid"
                pngs = [
                    grid / n for n in ("000000.png", "000007.png", "000007-1.png")
                ]  # as tracked
                assert [i.encoded_image_string for i in images] == [p.read_bytes() for p in pngs]
                assert {(i.width, i.height) for i in images} == {(3, 5)}
            else:
                assert found.Tags()["images"] == []
        if not again:
            assert cli.main([*argv, "--tensorboard", str(target)]) == 0
            assert "(0 new, 2 brought up to date)" in capsys.readouterr().out
    assert not list(target.rglob(".expharness-staging-*")), "no staging folder left"


def test_a_second_export_that_fails_leaves_the_first_whole(
    pytester: pytest.Pytester, archive: Archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_exp=SWEEP)
    pytester.runpytest("-p", "no:xdist", "--exp-sys-interval", "0").assert_outcomes(passed=2)
    folder = archive.runs()[0]
    place = pytester.path / "tb" / "run"
    write_run(mirror_source.read(folder), place)
    before = {p.name: p.read_bytes() for p in place.iterdir()}

    def broken(source: object, staging: Path) -> None:
        (staging / "events.out.tfevents.partial").write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr("pytest_expharness.mirror.tensorboard.write_events", broken)
    with pytest.raises(OSError, match="disk full"):
        write_run(mirror_source.read(folder), place)
    assert {p.name: p.read_bytes() for p in place.iterdir()} == before
    assert [p.name for p in place.parent.iterdir()] == ["run"]


NAMES = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters=",\r\n\x85\u2028\u2029"),
    min_size=1,
    max_size=30,
)
POINTS = st.lists(
    st.tuples(
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(-(2**63), 2**63 - 1),
        st.floats(0, 4e9, allow_nan=False),
    ),
    min_size=1,
    max_size=20,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(series=st.dictionaries(NAMES, POINTS, min_size=1, max_size=4))
def test_any_series_reads_back_from_tensorboard_as_written(
    tmp_path_factory: pytest.TempPathFactory,
    series: dict[str, list[tuple[float, int, float]]],
) -> None:
    folder = tmp_path_factory.mktemp("run")
    columns = {
        name: Columns.of(*map(list, zip(*points, strict=True))) for name, points in series.items()
    }
    (folder / "metrics.csv").write_text(csv_text(columns), "utf-8")
    summary = {"status": "completed", "metrics": {name: {} for name in series}}
    source = mirror_source.Source(folder, {"experiment": {"run_id": "r"}}, summary)
    out = folder / "tb"
    out.mkdir()
    write_events(source, out)
    found = events(out)
    assert set(found.Tags()["scalars"]) == set(series)
    for name, points in series.items():
        got = [(e.value, e.step, e.wall_time) for e in found.Scalars(name)]
        assert [(s, w) for _, s, w in got] == [(s, w) for _, s, w in points]
        for (value, _, _), (wrote, _, _) in zip(got, points, strict=True):
            with np.errstate(over="ignore"):  # beyond float32: infinity of the same sign
                as32 = float(np.float32(wrote))
            assert math.isnan(value) if math.isnan(wrote) else value == as32


def _png(width: int, height: int, colour: int) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + header + b"\0" * 4


@given(st.integers(1, 2**31 - 1), st.integers(1, 2**31 - 1), st.sampled_from([0, 2, 3, 4, 6]))
def test_an_image_summary_reads_the_size_and_channels_of_its_png(
    width: int, height: int, colour: int
) -> None:
    from pytest_expharness.mirror.tensorboard import image_summary

    image = image_summary(_png(width, height, colour))
    assert (image.width, image.height) == (width, height)
    assert image.colorspace == {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}[colour]
    with pytest.raises(ValueError, match="not a PNG"):
        image_summary(b"GIF89a" + bytes(30))


def test_export_tensorboard_of_a_running_run_leaves_it_for_later(
    pytester: pytest.Pytester, archive: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    pytester.makepyfile(test_exp="def test_a(exp):\n    exp.track('loss', 1.0)\n")
    pytester.runpytest("-p", "no:xdist").assert_outcomes(passed=1)
    folder = archive.run()
    summary = Archive.summary(folder)
    import os
    import socket

    summary.update(status="running", pid=os.getpid(), host=socket.gethostname())
    (folder / "summary.json").write_text(json.dumps(summary))
    capsys.readouterr()
    code = cli.main(["--root", str(archive.root), "export", "latest", "--tensorboard", "tb"])
    out = capsys.readouterr().out
    assert code == 0 and "(0 new, 0 brought up to date)" in out
    assert "still running; export it when it has ended" in out
