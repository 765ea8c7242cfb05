"""Tracked series: exp.track / exp.track_many, metrics.csv, summary metrics, plots, frames."""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from xml.etree import ElementTree

import matplotlib.figure  # noqa: F401  (see below)
import numpy  # noqa: F401  (see below)
import pytest

from conftest import XDIST_MODES, Archive

# pytester restores sys.modules after every in-process session and numpy cannot be
# imported twice in one process: importing it here keeps it loaded across sessions.

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


SVG = "{http://www.w3.org/2000/svg}"


def svg_lines(path: Path) -> list[int]:
    """How many points each line of a plot joins (its SVG must parse as XML)."""
    lines = ElementTree.parse(path).getroot().iter(f"{SVG}polyline")
    return [len(line.attrib["points"].split()) for line in lines]


def svg_dots(path: Path) -> int:
    """How many lone points a plot draws (a point between two non-finite values)."""
    return len(list(ElementTree.parse(path).getroot().iter(f"{SVG}circle")))


def series(archive: Archive, run: Path, name: str) -> list[tuple[int, float]]:
    """The (step, value) points of one series in metrics.csv, in file order."""
    return [(step, value) for step, n, value, _ in archive.metrics(run) if n == name]


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_tracked_series_land_in_metrics_csv_summary_and_plots(
    pytester: pytest.Pytester, archive: Archive, mode: list[str]
) -> None:
    pytester.makepyfile(
        test_exp="""
        def test_train(exp):
            for epoch in range(5):
                exp.track("loss", 1.0 / (epoch + 1))
                exp.track("acc", epoch * 0.25)
            exp.track("final_score", 0.875)
        """
    )
    pytester.runpytest(*mode).assert_outcomes(passed=1)
    run = archive.run("train")
    assert series(archive, run, "loss") == [(i, 1.0 / (i + 1)) for i in range(5)]
    assert series(archive, run, "acc") == [(0, 0.0), (1, 0.25), (2, 0.5), (3, 0.75), (4, 1.0)]
    assert series(archive, run, "final_score") == [(0, 0.875)]
    assert len(archive.metrics(run)) == 11
    metrics = archive.summary(run)["metrics"]
    assert metrics["loss"] == {"final": 0.2, "min": 0.2, "max": 1.0, "count": 5, "last_step": 4}
    assert metrics["acc"]["final"] == 1.0 and metrics["acc"]["count"] == 5
    assert metrics["final_score"]["count"] == 1
    assert svg_lines(run / "plots" / "loss.svg") == [5]
    assert svg_lines(run / "plots" / "acc.svg") == [5]
    assert sorted(p.name for p in (run / "plots").iterdir()) == ["acc.svg", "loss.svg"]
    assert sorted(archive.summary(run)["plots"]) == ["plots/acc.svg", "plots/loss.svg"]
    assert not (run / "metrics.journal").exists()
    report = (run / "REPORT.md").read_text()
    assert "| loss | 0.2 | 0.2 | 1 | 5 |" in report
    assert "![plots/loss.svg](plots/loss.svg)" in report


def test_accepted_value_types(pytester: pytest.Pytester, archive: Archive) -> None:
    pytester.makepyfile(
        test_exp="""
        import numpy as np

        def test_train(exp):
            exp.track("v", 3)                       # int
            exp.track("v", 2.5)                     # float
            exp.track("v", True)                    # bool
            exp.track("v", False)
            exp.track("v", np.float32(0.5))         # numpy scalars
            exp.track("v", np.float64(0.25))
            exp.track("v", np.int64(7))
            exp.track("v", np.uint8(255))
            exp.track("v", np.bool_(True))
            exp.track("v", np.array(1.75))          # 0-d array
            exp.track("v", np.array(9, dtype=np.int16))
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    run = archive.run("train")
    values = [value for _, value in series(archive, run, "v")]
    assert values == [3.0, 2.5, 1.0, 0.0, 0.5, 0.25, 7.0, 255.0, 1.0, 1.75, 9.0]
    stats = archive.summary(run)["metrics"]["v"]
    assert (stats["final"], stats["min"], stats["max"], stats["count"]) == (9.0, 0.0, 255.0, 11)


def test_nan_and_inf_are_kept(pytester: pytest.Pytester, archive: Archive) -> None:
    pytester.makepyfile(
        test_exp="""
        import numpy as np

        def test_train(exp):
            exp.track("loss", 1.0)
            exp.track("loss", float("nan"))
            exp.track("loss", float("inf"))
            exp.track("loss", 0.5)
            exp.track("loss", np.float64("nan"))
            exp.track("grad", float("-inf"))
            exp.track("grad", 2.0)
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    run = archive.run("train")
    loss = [value for _, value in series(archive, run, "loss")]
    assert len(loss) == 5
    assert loss[0] == 1.0 and math.isnan(loss[1]) and loss[2] == math.inf and loss[3] == 0.5
    assert math.isnan(loss[4])
    assert [v for _, v in series(archive, run, "grad")] == [-math.inf, 2.0]
    metrics = archive.summary(run)["metrics"]
    assert math.isnan(metrics["loss"]["final"])
    assert metrics["loss"]["min"] == 0.5
    assert metrics["loss"]["max"] == math.inf
    assert metrics["loss"]["count"] == 5
    assert metrics["grad"]["min"] == -math.inf
    assert metrics["grad"]["final"] == 2.0
    loss_plot, grad_plot = run / "plots" / "loss.svg", run / "plots" / "grad.svg"
    assert svg_lines(loss_plot) == [] and svg_dots(loss_plot) == 2, "1.0 and 0.5, apart"
    assert svg_lines(grad_plot) == [] and svg_dots(grad_plot) == 1


@pytest.mark.parametrize(
    ("expression", "described"),
    [
        ("'0.5'", "str"),
        ("None", "NoneType"),
        ("[0.5, 0.25]", "list"),
        ("np.array([0.5, 0.25])", "ndarray of shape (2,)"),
        ("np.array([[0.5]])", "ndarray of shape (1, 1)"),
        ("complex(1, 1)", "complex"),
        ("np.array('text')", "ndarray of shape ()"),
    ],
    ids=["str", "None", "list", "1d-array", "1x1-array", "complex", "0d-str-array"],
)
def test_non_numeric_value_raises_type_error_naming_the_series(
    pytester: pytest.Pytester, archive: Archive, expression: str, described: str
) -> None:
    pytester.makepyfile(
        test_exp=f"""
        import numpy as np
        import pytest

        def test_train(exp):
            exp.track("train/loss", 1.0)
            with pytest.raises(TypeError) as caught:
                exp.track("train/loss", {expression})
            message = str(caught.value)
            assert "'train/loss'" in message, message
            assert {described!r} in message, message
            with pytest.raises(TypeError, match="'fresh'"):
                exp.track("fresh", {expression})
            with pytest.raises(TypeError, match="'many'"):
                exp.track_many({{"ok": 1.0, "many": {expression}}})
            exp.track("train/loss", 0.5)
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    run = archive.run("train")
    assert series(archive, run, "train/loss") == [(0, 1.0), (1, 0.5)]
    assert series(archive, run, "fresh") == []
    assert series(archive, run, "many") == []
    assert series(archive, run, "ok") == [(0, 1.0)]
    metrics = archive.summary(run)["metrics"]
    assert "fresh" not in metrics and "many" not in metrics
    assert metrics["train/loss"]["count"] == 2


@pytest.mark.parametrize(
    "name",
    ["", "../x", "a,b", "x/../../y", "/abs", "a//b", "a/", "./a", " loss", "a\nb", 'a"b', 3],
    ids=repr,
)
def test_invalid_series_names_raise_value_error(
    pytester: pytest.Pytester, archive: Archive, name: object
) -> None:
    pytester.makepyfile(
        test_exp=f"""
        import pytest

        def test_train(exp):
            with pytest.raises(ValueError, match="invalid series name"):
                exp.track({name!r}, 1.0)
            with pytest.raises(ValueError, match="invalid series name"):
                exp.track({name!r}, 1.0, step=3)
            with pytest.raises(ValueError, match="invalid series name"):
                exp.track_many({{{name!r}: 2.0}})
            exp.track("ok", 1.0)
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    run = archive.run("train")
    assert [(step, n, value) for step, n, value, _ in archive.metrics(run)] == [(0, "ok", 1.0)]
    assert list(archive.summary(run)["metrics"]) == ["ok"]
    outside = [p for p in pytester.path.rglob("*") if p.name in ("x", "y", "abs", "x.png")]
    assert outside == []


def test_hierarchical_names(pytester: pytest.Pytester, archive: Archive) -> None:
    pytester.makepyfile(
        test_exp="""
        def test_train(exp):
            for step in range(3):
                exp.track("loss.kl.z", 0.5 * step)
                exp.track("metrics/loss", 2.0 - step)
                exp.track("metrics/val/acc", 0.25 * step)
            exp.track("metrics/single", 1.0)
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    run = archive.run("train")
    assert series(archive, run, "loss.kl.z") == [(0, 0.0), (1, 0.5), (2, 1.0)]
    assert series(archive, run, "metrics/loss") == [(0, 2.0), (1, 1.0), (2, 0.0)]
    assert series(archive, run, "metrics/val/acc") == [(0, 0.0), (1, 0.25), (2, 0.5)]
    metrics = archive.summary(run)["metrics"]
    assert set(metrics) == {"loss.kl.z", "metrics/loss", "metrics/val/acc", "metrics/single"}
    assert metrics["metrics/loss"]["final"] == 0.0
    assert svg_lines(run / "plots" / "loss.kl.z.svg") == [3]
    assert svg_lines(run / "plots" / "metrics" / "loss.svg") == [3]
    assert svg_lines(run / "plots" / "metrics" / "val" / "acc.svg") == [3]
    assert not (run / "plots" / "metrics" / "single.svg").exists()
    assert sorted(archive.summary(run)["plots"]) == [
        "plots/loss.kl.z.svg",
        "plots/metrics/loss.svg",
        "plots/metrics/val/acc.svg",
    ]


def test_track_many(pytester: pytest.Pytester, archive: Archive) -> None:
    pytester.makepyfile(
        test_exp="""
        import numpy as np

        def test_train(exp):
            for epoch in range(3):
                exp.track_many({"loss": 1.0 - 0.25 * epoch, "acc": np.float32(0.5), "n": epoch})
            exp.track_many({"loss": 0.125, "acc": 1}, step=10)
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    run = archive.run("train")
    assert series(archive, run, "loss") == [(0, 1.0), (1, 0.75), (2, 0.5), (10, 0.125)]
    assert series(archive, run, "acc") == [(0, 0.5), (1, 0.5), (2, 0.5), (10, 1.0)]
    assert series(archive, run, "n") == [(0, 0.0), (1, 1.0), (2, 2.0)]
    assert archive.summary(run)["metrics"]["loss"]["count"] == 4


def test_explicit_steps(pytester: pytest.Pytester, archive: Archive) -> None:
    pytester.makepyfile(
        test_exp="""
        import numpy as np
        import pytest

        def test_train(exp):
            for step in [0, 10, 20]:
                exp.track("loss", step / 10, step=step)
            exp.track("loss", 3.0, step=np.int64(30))
            exp.track("loss", 4.0, step=np.int32(40))
            exp.track("val", 0.5, step=np.uint16(7))
            with pytest.raises(TypeError, match="'loss'.*step"):
                exp.track("loss", 5.0, step=50.0)
            with pytest.raises(TypeError, match="step"):
                exp.track("loss", 5.0, step=np.float64(50))
            with pytest.raises(TypeError, match="step"):
                exp.track("loss", 5.0, step="50")
            with pytest.raises(TypeError, match="step"):
                exp.track_many({"loss": 5.0}, step=1.5)
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    run = archive.run("train")
    assert series(archive, run, "loss") == [(0, 0.0), (10, 1.0), (20, 2.0), (30, 3.0), (40, 4.0)]
    assert series(archive, run, "val") == [(7, 0.5)]
    stats = archive.summary(run)["metrics"]["loss"]
    assert stats["count"] == 5 and stats["last_step"] == 40


def test_metrics_csv_is_complete_and_in_order_per_series(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(
        test_exp="""
        import time

        def test_train(exp):
            for i in range(300):
                exp.track("a", float(i))
                if i % 3 == 0:
                    exp.track("b", -float(i))
                if i == 150:
                    time.sleep(0.6)  # let the flusher journal part of the series mid-run
            exp.track("c", 1)
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    run = archive.run("train")
    rows = archive.metrics(run)
    assert len(rows) == 300 + 100 + 1
    assert series(archive, run, "a") == [(i, float(i)) for i in range(300)]
    assert series(archive, run, "b") == [(k, -float(3 * k)) for k in range(100)]
    assert series(archive, run, "c") == [(0, 1.0)]
    for name in ("a", "b"):
        times = [t for _, n, _, t in rows if n == name]
        assert all(t > 1e9 for t in times), "time is a unix timestamp"
        assert max(times) - min(times) < 60
    header = (run / "metrics.csv").read_text().splitlines()[0]
    assert header == "step,name,value,time"


def test_tracked_points_reach_the_run_folder_during_the_run(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(
        test_exp="""
        import time

        def test_train(exp):
            exp.track("loss", 0.5)
            exp.track("loss", 0.25)
            journal = exp.path / "metrics.journal"
            deadline = time.time() + 2.0
            while time.time() < deadline:
                if journal.exists() and journal.stat().st_size > 8:
                    break
                time.sleep(0.02)
            else:
                raise AssertionError("nothing tracked reached the run folder within 2 s")
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    run = archive.run("train")
    assert series(archive, run, "loss") == [(0, 0.5), (1, 0.25)]


def test_figures_and_image_arrays_are_stored_as_frames(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(
        test_exp="""
        import numpy as np
        from matplotlib.figure import Figure

        def test_train(exp):
            for epoch in range(2):
                fig = Figure(figsize=(2, 2))
                fig.add_subplot().plot([0, 1], [epoch, 1 - epoch])
                exp.track("samples/figure", fig)
            exp.track("gray", np.linspace(0, 1, 64).reshape(8, 8))
            exp.track("rgb", np.random.default_rng(0).random((8, 8, 3)))
            exp.track("rgb", np.zeros((8, 8, 3), dtype=np.uint8))
            exp.track("rgba", np.ones((4, 6, 4)), step=5)
            exp.track("loss", 0.5)
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    run = archive.run("train")
    tracked = run / "tracked"

    def frames(name: str) -> list[str]:
        return sorted(p.name for p in (tracked / name).iterdir())

    assert frames("samples/figure") == ["000000.png", "000001.png"]
    assert frames("gray") == ["000000.png"]
    assert frames("rgb") == ["000000.png", "000001.png"]
    assert frames("rgba") == ["000005.png"]
    for png in tracked.rglob("*.png"):
        assert png.read_bytes().startswith(PNG_MAGIC), png
    summary = archive.summary(run)
    assert summary["frames"] == {"samples/figure": 2, "gray": 1, "rgb": 2, "rgba": 1}
    assert set(summary["metrics"]) == {"loss"}, "frames are not scalar series"
    assert {n for _, n, _, _ in archive.metrics(run)} == {"loss"}
    assert "`tracked/samples/figure/`: 2 frames" in (run / "REPORT.md").read_text()


def test_mixing_images_and_numbers_under_one_name_raises(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(
        test_exp="""
        import numpy as np
        import pytest

        IMAGE = np.zeros((4, 4))

        def test_train(exp):
            exp.track("numbers", 1.0)
            with pytest.raises(TypeError, match="'numbers'"):
                exp.track("numbers", IMAGE)
            exp.track("images", IMAGE)
            with pytest.raises(TypeError, match="'images'"):
                exp.track("images", 1.0)
            with pytest.raises(TypeError, match="'images'"):
                exp.track("images", 2)
            with pytest.raises(TypeError, match="'images'"):
                exp.track("images", 0.5, step=3)
            exp.track("numbers", 2.0)
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    run = archive.run("train")
    assert series(archive, run, "numbers") == [(0, 1.0), (1, 2.0)]
    assert series(archive, run, "images") == []
    assert sorted(p.name for p in (run / "tracked" / "images").iterdir()) == ["000000.png"]
    assert not (run / "tracked" / "numbers").exists()
    assert archive.summary(run)["frames"] == {"images": 1}


def test_track_after_the_run_finished_raises(pytester: pytest.Pytester, archive: Archive) -> None:
    pytester.makepyfile(
        test_exp="""
        import pytest

        KEPT = []

        def test_train(exp):
            exp.track("loss", 1.0)
            KEPT.append(exp)

        def test_later():
            with pytest.raises(RuntimeError, match="already finished"):
                KEPT[0].track("new", 1.0)
            # a known series (the fast path) must not drop the point silently either
            with pytest.raises(RuntimeError, match="already finished"):
                KEPT[0].track("loss", 2.0)
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)
    run = archive.run("train")
    assert series(archive, run, "loss") == [(0, 1.0)]


def test_200000_points_all_reach_metrics_csv(pytester: pytest.Pytester, archive: Archive) -> None:
    pytester.makepyfile(
        test_exp="""
        def test_train(exp):
            track = exp.track
            for i in range(200_000):
                track("loss", i * 0.5)
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    run = archive.run("train")
    lines = (run / "metrics.csv").read_text().splitlines()
    assert len(lines) == 200_001
    assert lines[1].startswith("0,loss,0.0,")
    assert lines[-1].startswith("199999,loss,99999.5,")
    steps = [int(line.split(",", 1)[0]) for line in lines[1:]]
    assert steps == list(range(200_000))
    stats = archive.summary(run)["metrics"]["loss"]
    assert stats == {
        "final": 99999.5,
        "min": 0.0,
        "max": 99999.5,
        "count": 200_000,
        "last_step": 199_999,
    }
    assert svg_lines(run / "plots" / "loss.svg") == [2000], "thinned to 1,000 buckets' min, max"


def test_time_column_never_goes_backwards_within_a_series(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(
        test_exp="""
        def test_train(exp):
            for i in range(50):
                exp.track("loss", 1.0 / (i + 1))
                exp.track("count", i)          # ints take another path than floats
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    run = archive.run("train")
    for name in ("loss", "count"):
        times = [t for _, n, _, t in archive.metrics(run) if n == name]
        assert len(times) == 50
        backwards = [(i, a, b) for i, (a, b) in enumerate(itertools.pairwise(times)) if b < a]
        assert backwards == [], f"{name}: time goes backwards at {backwards[:3]}"


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]])
def test_a_step_without_room_for_automatic_steps_is_refused_and_loses_no_series(
    pytester: pytest.Pytester, archive: Archive, xdist: list[str]
) -> None:
    pytester.makepyfile(
        test_exp="""
        import pytest

        def test_train(exp):
            exp.track("ok", 1.0)
            for step in (2**63 - 1, 2**63 - 2**32, -(2**63) - 1):
                with pytest.raises(ValueError, match="out of range"):
                    exp.track("x", 1.0, step=step)
            exp.track("x", 2.0, step=2**63 - 2**32 - 1)
            exp.track("x", 3.0)  # an automatic step after the largest allowed one
        """
    )
    pytester.runpytest(*xdist).assert_outcomes(passed=1)
    run = archive.run("train")
    points = [(step, n, value) for step, n, value, _ in archive.metrics(run)]
    assert points == [(0, "ok", 1.0), (2**63 - 2**32 - 1, "x", 2.0), (2**63 - 2**32, "x", 3.0)]
    assert list(archive.summary(run)["metrics"]) == ["ok", "x"]
