"""Artifacts: commit_json / commit_fig / commit_raw / exp.open under the run's artifacts/."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.figure  # noqa: F401  (see below)
import numpy  # noqa: F401  (see below)
import pytest

from conftest import Archive

# pytester restores sys.modules after every in-process session and numpy cannot be
# imported twice in one process: importing it here keeps it loaded across sessions.

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def files_under(folder: Path) -> list[str]:
    """Every file below folder (hidden ones included), as sorted posix paths."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_commit_json_encodes_numpy_and_friends(pytester: pytest.Pytester, archive: Archive) -> None:
    pytester.makepyfile(
        test_exp="""
        import datetime as dt
        from pathlib import Path
        import numpy as np

        def test_train(exp):
            path = exp.commit_json("results/summary.json", {
                "weights": np.array([[1, 2], [3, 4]]),
                "loss": np.float32(0.5),
                "epochs": np.int64(12),
                "out": Path("models") / "best.pt",
                "when": dt.datetime(2024, 1, 2, 3, 4, 5),
                "labels": {"b", "a"},
                "pairs": [(1, 2)],
            })
            assert path == exp.path / "artifacts" / "results" / "summary.json"
            assert path.is_file()
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    run = archive.run("train")
    assert json.loads((run / "artifacts" / "results" / "summary.json").read_text()) == {
        "weights": [[1, 2], [3, 4]],
        "loss": 0.5,
        "epochs": 12,
        "out": "models/best.pt",
        "when": "2024-01-02T03:04:05",
        "labels": ["a", "b"],
        "pairs": [[1, 2]],
    }


def test_commit_json_of_an_unstorable_object_writes_nothing(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(
        test_exp="""
        import pytest

        def test_train(exp):
            with pytest.raises(TypeError, match="model.json") as caught:
                exp.commit_json("model.json", {"ok": 1, "model": object()})
            assert "cannot store" in str(caught.value)
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    run = archive.run("train")
    assert files_under(run / "artifacts") == []
    assert archive.summary(run)["artifacts"] == []


def test_commit_fig_png_by_default_pdf_when_named(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(
        test_exp="""
        import pytest
        from matplotlib.figure import Figure

        def test_train(exp):
            fig = Figure(figsize=(3, 2))
            fig.add_subplot().plot([0, 1, 2], [2.0, 1.0, 0.5])
            png = exp.commit_fig("figures/loss", fig)
            assert png == exp.path / "artifacts" / "figures" / "loss.png"
            exp.commit_fig("figures/loss_again.png", fig)
            pdf = exp.commit_fig("figures/loss.pdf", fig)
            assert pdf.name == "loss.pdf"
            exp.commit_fig("figures/loss.svg", fig)
            with pytest.raises(TypeError, match="figure"):
                exp.commit_fig("not_a_figure", [1, 2, 3])
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    figures = archive.run("train") / "artifacts" / "figures"
    assert sorted(p.name for p in figures.iterdir()) == [
        "loss.pdf",
        "loss.png",
        "loss.svg",
        "loss_again.png",
    ]
    assert (figures / "loss.png").read_bytes().startswith(PNG_MAGIC)
    assert (figures / "loss_again.png").read_bytes().startswith(PNG_MAGIC)
    assert (figures / "loss.pdf").read_bytes().startswith(b"%PDF")
    assert b"<svg" in (figures / "loss.svg").read_bytes()
    assert not (figures.parent / "not_a_figure").exists()
    assert not (figures.parent / "not_a_figure.png").exists()


def test_commit_raw_text_and_bytes(pytester: pytest.Pytester, archive: Archive) -> None:
    pytester.makepyfile(
        test_exp="""
        import pytest

        def test_train(exp):
            exp.commit_raw("notes.txt", "héllo\\nworld\\n")
            exp.commit_raw("blobs/weights.bin", bytes(range(256)))
            exp.commit_raw("blobs/view.bin", memoryview(b"abc"))
            exp.commit_raw("notes.txt", "replaced\\n")
            with pytest.raises(TypeError, match="numbers.txt"):
                exp.commit_raw("numbers.txt", [1, 2, 3])
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    artifacts = archive.run("train") / "artifacts"
    assert (artifacts / "notes.txt").read_text(encoding="utf-8") == "replaced\n"
    assert (artifacts / "blobs" / "weights.bin").read_bytes() == bytes(range(256))
    assert (artifacts / "blobs" / "view.bin").read_bytes() == b"abc"
    assert files_under(artifacts) == ["blobs/view.bin", "blobs/weights.bin", "notes.txt"]


def test_open_write_append_read_and_subfolders(pytester: pytest.Pytester, archive: Archive) -> None:
    pytester.makepyfile(
        test_exp="""
        from pathlib import Path

        def test_train(exp):
            with exp.open("logs/deep/train.log", "w") as f:
                f.write("epoch 1\\n")
                print("epoch 2", file=f)
            with exp.open("logs/deep/train.log", "a") as f:
                f.write("epoch 3\\n")
            with exp.open("logs/deep/train.log", "r") as f:
                assert f.read() == "epoch 1\\nepoch 2\\nepoch 3\\n"
            with exp.open("logs/deep/train.log") as f:      # default mode writes
                f.write("fresh\\n")
            with exp.open(Path("raw") / "data.bin", "wb") as f:
                f.write(b"\\x00\\x01")
            with exp.open("raw/data.bin", "ab") as f:
                f.write(b"\\x02")
            with exp.open("raw/data.bin", "rb") as f:
                assert f.read() == b"\\x00\\x01\\x02"
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    artifacts = archive.run("train") / "artifacts"
    assert (artifacts / "logs" / "deep" / "train.log").read_text() == "fresh\n"
    assert (artifacts / "raw" / "data.bin").read_bytes() == b"\x00\x01\x02"
    assert files_under(artifacts) == ["logs/deep/train.log", "raw/data.bin"]


def test_open_exclusive_mode_refuses_an_existing_artifact(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(
        test_exp="""
        import pytest

        def test_train(exp):
            with exp.open("once.txt", "x") as f:
                f.write("first")
            with pytest.raises(FileExistsError):
                exp.open("once.txt", "x")
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    assert (archive.run("train") / "artifacts" / "once.txt").read_text() == "first"


BAD_NAMES = """
    import pytest
    from pathlib import Path
    from matplotlib.figure import Figure

    OUTSIDE = Path(__file__).parent
    BAD = [
        "..",
        "../escape.txt",
        "../../escape.txt",
        "sub/../../escape.txt",
        "sub/../fine_but_refused.txt",
        str(OUTSIDE / "absolute.txt"),
        OUTSIDE / "absolute_path.txt",
        "/absolute.txt",
        "",
        "   ",
        ".",
        "sub/..",
    ]

    def test_train(exp):
        fig = Figure()
        for name in BAD:
            with pytest.raises(ValueError):
                exp.commit_raw(name, "x")
            with pytest.raises(ValueError):
                exp.commit_json(name, {"x": 1})
            with pytest.raises(ValueError):
                exp.commit_fig(name, fig)
            for mode in ("w", "a", "wb", "x"):
                with pytest.raises(ValueError):
                    exp.open(name, mode)
        with pytest.raises(ValueError, match="'..'"):
            exp.commit_raw("../escape.txt", "x")
        with pytest.raises(ValueError, match="absolute"):
            exp.commit_raw(str(OUTSIDE / "absolute.txt"), "x")
        with pytest.raises(ValueError):
            exp.open("../config.yaml", "r")        # reading outside is refused too
        with pytest.raises(ValueError):
            exp.open("../summary.json", "r+")
"""


def test_names_that_leave_artifacts_raise_and_write_nothing(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(test_exp=BAD_NAMES)
    before = files_under(pytester.path)
    pytester.runpytest().assert_outcomes(passed=1)
    run = archive.run("train")
    assert files_under(run / "artifacts") == []
    assert archive.summary(run)["artifacts"] == []
    known = {"REPORT.md", "analysis.py", "artifacts", "code", "config.yaml", "data.json"}
    known |= {"metrics.csv", "plots"}
    assert {p.name for p in run.iterdir()} <= known | {"run.log", "summary.json"}
    created = sorted(
        p
        for p in set(files_under(pytester.path)) - set(before)
        if not p.startswith(".pytest_cache/") and "__pycache__" not in p
    )
    run_files = [p for p in created if p.startswith(run.relative_to(pytester.path).as_posix())]
    sweep = run.parent.relative_to(pytester.path).as_posix()
    tables = [f"{sweep}/comparison.{ext}" for ext in ("csv", "json", "md")]
    tables += [f"{sweep}/report.html", f"{sweep}/planned.json"]  # planned.json: the live view's N
    index = [p for p in created if p.startswith("results/index.sqlite")]
    assert index, "the session indexed its run"
    marker = ["results/.expharness"]  # what makes the folder an archive
    assert created == sorted(run_files + tables + index + marker), (
        "something was written outside the run folder"
    )
    assert not list(pytester.path.rglob("*escape*"))
    assert not list(pytester.path.rglob("absolute*"))
    assert not list(pytester.path.rglob("fine_but_refused*"))
    assert not Path("/absolute.txt").exists()
    assert not Path("/absolute.txt.png").exists()


def test_a_symlink_inside_artifacts_cannot_lead_outside(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    outside = pytester.mkdir("outside")
    pytester.makepyfile(
        test_exp=f"""
        import pytest

        def test_train(exp):
            (exp.path / "artifacts" / "link").symlink_to({str(outside)!r})
            with pytest.raises(ValueError):
                exp.commit_raw("link/evil.txt", "x")
            with pytest.raises(ValueError):
                exp.open("link/evil.txt", "w")
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    assert list(outside.iterdir()) == []


def test_open_file_appears_only_when_closed(pytester: pytest.Pytester, archive: Archive) -> None:
    pytester.makepyfile(
        test_exp="""
        def test_train(exp):
            target = exp.path / "artifacts" / "out" / "table.csv"
            with exp.open("out/table.csv", "w") as f:
                f.write("a,b\\n")
                f.flush()
                assert not target.exists(), "a half-written artifact is visible"
                f.write("1,2\\n")
            assert target.read_text() == "a,b\\n1,2\\n"

            f = exp.open("out/table.csv", "a")
            f.write("3,4\\n")
            f.flush()
            assert target.read_text() == "a,b\\n1,2\\n", "an append is visible before close"
            f.close()
            assert target.read_text() == "a,b\\n1,2\\n3,4\\n"
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    artifacts = archive.run("train") / "artifacts"
    assert files_under(artifacts) == ["out/table.csv"], "temporary files were left behind"


def test_exception_inside_open_leaves_no_partial_file(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(
        test_exp="""
        import pytest

        def test_train(exp):
            with pytest.raises(RuntimeError, match="disk full"):
                with exp.open("predictions.csv", "w") as f:
                    f.write("id,pred\\n1,0.5\\n")
                    raise RuntimeError("disk full")
            assert not (exp.path / "artifacts" / "predictions.csv").exists()

            exp.commit_raw("log.txt", "line 1\\n")
            with pytest.raises(KeyError):
                with exp.open("log.txt", "a") as f:
                    f.write("half a line")
                    raise KeyError("boom")
            assert (exp.path / "artifacts" / "log.txt").read_text() == "line 1\\n"
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    artifacts = archive.run("train") / "artifacts"
    assert files_under(artifacts) == ["log.txt"], "a partial or temporary file was left"
    assert (artifacts / "log.txt").read_text() == "line 1\n"
    assert archive.summary(archive.run("train"))["artifacts"] == ["log.txt"]


def test_summary_lists_artifacts_and_report_links_them(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(
        test_exp="""
        from matplotlib.figure import Figure

        def test_train(exp):
            exp.commit_json("results/metrics.json", {"loss": 0.5})
            exp.commit_raw("notes.txt", "ok")
            exp.commit_fig("curve", Figure())
            with exp.open("tables/a.csv") as f:
                f.write("x\\n")
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    run = archive.run("train")
    expected = ["curve.png", "notes.txt", "results/metrics.json", "tables/a.csv"]
    assert archive.summary(run)["artifacts"] == expected
    report = (run / "REPORT.md").read_text()
    assert "## Artifacts" in report
    for name in expected:
        assert f"- [{name}](artifacts/{name})" in report
        assert (run / "artifacts" / name).is_file()


def test_artifacts_of_a_failed_run_are_kept(pytester: pytest.Pytester, archive: Archive) -> None:
    pytester.makepyfile(
        test_exp="""
        def test_train(exp):
            exp.commit_raw("checkpoint.txt", "epoch 3")
            raise RuntimeError("diverged")
        """
    )
    pytester.runpytest().assert_outcomes(failed=1)
    run = archive.run("train")
    assert (run / "artifacts" / "checkpoint.txt").read_text() == "epoch 3"
    assert archive.summary(run)["status"] == "failed"
    assert archive.summary(run)["artifacts"] == ["checkpoint.txt"]


def test_an_open_artifact_never_closed_explicitly_still_lands(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    # With the builtin open() this one-liner writes its file in CPython; an artifact
    # opened the same way must not vanish silently.
    pytester.makepyfile(
        test_exp="""
        def test_train(exp):
            exp.open("notes.txt", "w").write("hello")
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    artifacts = archive.run("train") / "artifacts"
    assert files_under(artifacts) == ["notes.txt"]
    assert (artifacts / "notes.txt").read_text() == "hello"


def test_path_like_names_are_accepted(pytester: pytest.Pytester, archive: Archive) -> None:
    pytester.makepyfile(
        test_exp="""
        from pathlib import Path
        from matplotlib.figure import Figure

        def test_train(exp):
            exp.commit_raw(Path("text") / "a.txt", "a")
            exp.commit_json(Path("text") / "b.json", [1])
            with exp.open(Path("text") / "c.txt", "w") as f:
                f.write("c")
            exp.commit_fig(Path("figures") / "curve", Figure())
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    artifacts = archive.run("train") / "artifacts"
    assert files_under(artifacts) == [
        "figures/curve.png",
        "text/a.txt",
        "text/b.json",
        "text/c.txt",
    ]
