"""Writing experiments: variants, hooks, analyses, the cache and labels, as a user meets them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import matplotlib.figure  # noqa: F401  (see tests/conftest.py)
import pytest

from pytest_expharness.cli import main as cli

from conftest import XDIST_MODES, Archive

NO_XDIST = ("-p", "no:xdist")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()  # what earlier steps printed is not this command's output
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# variants

BASE = """
    EPOCHS = 3
    LEARNING_RATE = 0.5  # the class attribute wins

    class TestBase:
        LEARNING_RATE = 1e-3
        WIDTH = 4

        def test_train(self, exp):
            exp["results/lr"] = exp.LEARNING_RATE
            exp["results/width"] = exp.WIDTH
            exp["results/epochs"] = exp.EPOCHS

    class TestHighLR(TestBase):
        LEARNING_RATE = 1e-2
"""
WIDE = """
    import test_base
    from test_base import TestBase  # collected here again by pytest: deselected

    class TestWide(test_base.TestBase):
        WIDTH = 16
"""


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_variants_are_experiments_of_their_own_across_modules(
    pytester: pytest.Pytester, archive: Archive, mode: list[str]
) -> None:
    pytester.makepyfile(test_base=BASE, test_wide=WIDE)
    result = pytester.runpytest(*mode)
    result.assert_outcomes(passed=3)
    shown = "2 workers [3 items]" if "-n" in mode else "3 passed, 1 deselected"
    assert shown in result.stdout.str(), "the imported TestBase does not run twice"
    expected = {
        "Base.train": (None, "TestBase", 1e-3, 4),
        "HighLR.train": ("Base.train", "TestHighLR", 1e-2, 4),
        "Wide.train": ("Base.train", "TestWide", 1e-3, 16),
    }
    assert sorted(p.parts[-3] for p in archive.runs()) == sorted(expected), "one run each"
    for name, (parent, cls, lr, width) in expected.items():
        folder = archive.run(name)
        header, params = archive.config(folder)["experiment"], archive.config(folder)["parameters"]
        assert (header["parent"], header["test_class"]) == (parent, cls), name
        assert params == {"EPOCHS": 3, "LEARNING_RATE": lr, "WIDTH": width}, name
        assert archive.data(folder)["results"] == {"lr": lr, "width": width, "epochs": 3}, name
    wide = archive.run("Wide.train")
    assert archive.config(wide)["experiment"]["code"] == ["test_wide.py", "test_base.py"]
    for name in ("test_wide.py", "test_base.py"):
        assert (wide / "code" / name).read_bytes() == (pytester.path / name).read_bytes()


def test_set_overrides_reach_variants(pytester: pytest.Pytester, archive: Archive) -> None:
    pytester.makepyfile(test_base=BASE, test_wide=WIDE)
    result = pytester.runpytest(
        *NO_XDIST, "--exp-set", "LEARNING_RATE=0.2", "--exp-set", "EPOCHS=7"
    )
    result.assert_outcomes(passed=3)
    for folder in archive.runs():
        params = archive.config(folder)["parameters"]
        assert (params["LEARNING_RATE"], params["EPOCHS"]) == (0.2, 7), folder.parts[-3]
        assert archive.data(folder)["results"]["lr"] == 0.2


# hooks

HOOKS = """
    import pytest
    from pytest_expharness import hook

    @hook("process")
    def module_process(exp, data, scale=1):
        return ("module", exp, data * scale)

    def test_plain(exp):
        kind, given, value = exp.apply_hook("process", data=2, scale=3)
        assert (kind, given, value) == ("module", exp, 6)
        assert exp.apply_hook("missing", default="dflt", data=1) == "dflt"
        declared = r"declared hooks: process \\(test_hooks.module_process\\)"
        with pytest.raises(LookupError, match=declared):
            exp.apply_hook("missing")

    class TestBase:
        @hook("process")
        def process(self, exp, data):
            return ("base", type(self).__name__, exp.experiment, data)

        def test_fit(self, exp):
            got = exp.apply_hook("process", default="dflt", data=5)
            exp["results/hook"] = list(got)

    class TestChild(TestBase):
        @hook("process")
        def child_process(self, exp, data):
            return ("child", type(self).__name__, exp.experiment, data + 1)
"""


def test_hooks_resolve_most_derived_class_then_module_else_default(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(test_hooks=HOOKS)
    pytester.runpytest(*NO_XDIST).assert_outcomes(passed=3)
    base, child = archive.run("Base.fit"), archive.run("Child.fit")
    assert archive.data(base)["results"]["hook"] == ["base", "TestBase", "Base.fit", 5]
    assert archive.data(child)["results"]["hook"] == ["child", "TestChild", "Child.fit", 6]
    assert "hook process: TestBase.process" in archive.log(base)
    assert "hook process: TestChild.child_process" in archive.log(child)
    plain = archive.log(archive.run("plain"))
    assert "hook process: test_hooks.module_process" in plain
    assert "hook missing" not in plain, "no hook ran: nothing logged"


def test_a_plain_override_of_a_hook_method_wins(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    undecorated = HOOKS.replace('@hook("process")\n        def child_process', "def process")
    assert "def process" in undecorated.split("class TestChild")[1]
    pytester.makepyfile(test_hooks=undecorated)
    pytester.runpytest(*NO_XDIST).assert_outcomes(passed=3)
    assert archive.data(archive.run("Child.fit"))["results"]["hook"][0] == "child"


# analysis

ANALYSED = """
    import pytest
    from pytest_expharness import analysis

    @pytest.mark.parametrize("x", [1, 2, 3])
    def test_fit(exp, x):
        exp.track("loss", 10.0 * x)
        assert x != 3, "x=3 fails"

    @analysis
    def analyse(run):
        if run.params["x"] == 2:
            raise RuntimeError("analysis broke")
        loss = run.metrics["loss"]
        out = {"version": "v1", "loss": float(loss[-1]), "status": run.status}
        run.commit_json("out.json", out)
"""


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_analysis_after_each_completed_run(
    pytester: pytest.Pytester, archive: Archive, mode: list[str]
) -> None:
    pytester.makepyfile(test_exp=ANALYSED)
    result = pytester.runpytest(*mode)
    result.assert_outcomes(passed=2, failed=1)
    good, broken, failed = archive.runs()  # x=1, x=2, x=3
    out = json.loads((good / "analysis" / "out.json").read_text())
    assert out == {"version": "v1", "loss": 10.0, "status": "completed"}
    assert archive.summary(good)["analysis"]["status"] == "completed"
    assert archive.summary(good)["analysis"]["files"] == ["out.json"]
    assert "analysis completed (test_exp.analyse, in-session): out.json" in archive.log(good)
    assert archive.summary(broken)["status"] == "completed", "a failing analysis keeps the run"
    outcome = archive.summary(broken)["analysis"]
    assert outcome["status"] == "failed" and "RuntimeError: analysis broke" in outcome["error"]
    assert "analysis failed" in archive.log(broken)
    assert "AnalysisWarning" in result.stdout.str() and "analysis broke" in result.stdout.str()
    assert archive.summary(failed)["status"] == "failed"
    assert "analysis" not in archive.summary(failed) and not (failed / "analysis").exists()


def test_analyze_reruns_from_the_snapshot_or_the_current_module(
    pytester: pytest.Pytester, archive: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    module = pytester.makepyfile(test_exp=ANALYSED)
    pytester.makepyfile(test_plain="def test_plain(exp):\n    exp.track('loss', 1.0)\n")
    pytester.runpytest(*NO_XDIST).assert_outcomes(passed=3, failed=1)
    root = str(archive.root)
    good = archive.runs("fit")[0]
    out_json = good / "analysis" / "out.json"
    out_json.unlink()
    module.write_text(module.read_text().replace('"v1"', '"v2"'))

    code, out, _ = run(capsys, "--root", root, "analyze", "x=1")
    assert code == 0 and "from the code snapshot code/test_exp.py: completed" in out
    assert "wrote analysis/out.json" in out
    assert json.loads(out_json.read_text())["version"] == "v1", "the snapshot's code ran"
    assert archive.summary(good)["analysis"]["source"] == "the code snapshot code/test_exp.py"

    code, out, _ = run(capsys, "--root", root, "analyze", "x=1", "--current")
    assert code == 0 and f"from the current module {module}: completed" in out
    assert json.loads(out_json.read_text())["version"] == "v2", "the edited module ran"

    code, out, err = run(capsys, "--root", root, "analyze", "x=2")
    assert code == 1 and ": failed" in out and "RuntimeError: analysis broke" in err
    warned = [line for line in err.splitlines() if line.startswith("expharness: warning:")]
    assert len(warned) == 1 and "analysis broke" in warned[0], err  # one line, no source line
    code, out, err = run(capsys, "--root", root, "analyze", str(archive.run("plain")))
    assert code == 1 and "no @analysis function" in err

    for path in (good / "code").rglob("*"):
        path.unlink()
    module.unlink()
    code, out, err = run(capsys, "--root", root, "analyze", "x=1")
    assert (code, out) == (2, "") and "neither a code snapshot nor the module" in err


# sweep analysis

SWEEP = """
    import os
    import pytest
    from pytest_expharness import sweep_analysis

    @pytest.mark.experiment(metric="loss", mode="min")
    @pytest.mark.parametrize("lr", [0.1, 0.2, 0.3, 0.4, 0.5])
    def test_fit(exp, lr):
        exp.track("loss", abs(lr - 0.3))
        assert lr != 0.5

    @sweep_analysis
    def pick(sweep):
        sweep.recommend(f"use lr={sweep.best.params['lr']} ({len(sweep.runs)} runs)")
        sweep.commit_json("pick.json", {
            "runs": len(sweep.runs),
            "completed": len(sweep.completed),
            "pid": os.getpid(),
        })
"""


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_sweep_analysis_sees_every_run_and_recommends(
    pytester: pytest.Pytester, archive: Archive, mode: list[str]
) -> None:
    pytester.makepyfile(test_exp=SWEEP)
    result = pytester.runpytest(*mode)
    result.assert_outcomes(passed=4, failed=1)
    session = archive.runs()[0].parent
    line = "use lr=0.3 (5 runs)"
    picked = json.loads((session / "analysis" / "pick.json").read_text())
    assert picked == {"runs": 5, "completed": 4, "pid": os.getpid()}, "once, in the controller"
    lines = result.stdout.lines
    at = lines.index(f"recommendation: {line}")
    assert lines[at - 1].lstrip().startswith("lr=") and lines[at + 1].startswith("-> ")
    assert f"Recommendation: {line}" in (session / "comparison.md").read_text()
    table = json.loads((session / "comparison.json").read_text())
    assert table["recommendations"] == [line]
    assert table["analysis"]["status"] == "completed"


# cache

CACHED = """
    import pathlib

    N = 3
    CALLS = pathlib.Path(__file__).parent / "calls.txt"

    def test_cached(exp):
        @exp.cache.cached("feat", scope="dataset")
        def features(n):
            with open(CALLS, "a") as f:
                f.write(f"{n}\\n")
            return {"n": n, "sq": n * n}

        assert features(exp.N) == {"n": exp.N, "sq": exp.N ** 2}
"""


def calls(pytester: pytest.Pytester) -> list[str]:
    path = pytester.path / "calls.txt"
    return path.read_text().split() if path.exists() else []


def session(pytester: pytest.Pytester, archive: Archive, *args: str) -> Path:
    """Run a session of one run without xdist; return that run's folder."""
    before = set(archive.runs())
    pytester.runpytest(*NO_XDIST, *args).assert_outcomes(passed=1)
    (new,) = set(archive.runs()) - before
    return new


def test_cache_hits_on_same_arguments_and_source_only(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    module = pytester.makepyfile(test_exp=CACHED)
    first = session(pytester, archive)
    assert calls(pytester) == ["3"]
    assert archive.summary(first)["cache"] == {"enabled": True, "hits": [], "misses": ["feat"]}
    assert "cache miss: feat, stored as dataset/feat-" in archive.log(first)
    (entry,) = (archive.root / ".cache" / "dataset").glob("feat-*.pkl")
    second = session(pytester, archive)
    assert calls(pytester) == ["3"], "a hit: not computed again"
    assert archive.summary(second)["cache"] == {"enabled": True, "hits": ["feat"], "misses": []}
    assert f"cache hit: feat (dataset/{entry.name})" in archive.log(second)
    session(pytester, archive, "--exp-set", "N=4")
    assert calls(pytester) == ["3", "4"], "other arguments: computed"
    module.write_text(module.read_text().replace("n * n}", "n ** 2}"))
    edited = session(pytester, archive)
    assert calls(pytester) == ["3", "4", "3"], "an edited function: computed"
    assert archive.summary(edited)["cache"]["misses"] == ["feat"]
    assert len(list(entry.parent.glob("feat-*.pkl"))) == 3


def test_a_corrupt_entry_is_recomputed_with_a_warning(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(test_exp=CACHED)
    session(pytester, archive)
    (entry,) = (archive.root / ".cache" / "dataset").glob("feat-*.pkl")
    entry.write_bytes(b"\x00garbage\xff" * 8)
    damaged = session(pytester, archive)
    assert calls(pytester) == ["3", "3"], "a corrupt entry is recomputed"
    log = archive.log(damaged)
    assert f"WARNING cache feat: unreadable entry {entry.name}" in log and "recomputing" in log
    assert archive.summary(damaged)["cache"]["misses"] == ["feat"]
    assert archive.summary(session(pytester, archive))["cache"]["hits"] == ["feat"]
    assert calls(pytester) == ["3", "3"], "and rewritten whole"


def test_no_cache_computes_every_time_and_writes_nothing(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(test_exp=CACHED)
    for _ in range(2):
        folder = session(pytester, archive, "--exp-no-cache")
    assert calls(pytester) == ["3", "3"]
    assert archive.summary(folder)["cache"] == {"enabled": False, "hits": [], "misses": ["feat"]}
    assert "cache off (--exp-no-cache): computed feat" in archive.log(folder)
    assert not (archive.root / ".cache").exists()


BACKENDS = """
    import numpy as np
    import pytest

    def test_backends(exp):
        @exp.cache.cached("j", backend="json")
        def as_json(n):
            return {"a": [1, 2, n], "b": "x", "c": 0.5}

        @exp.cache.cached("d", backend="npz")
        def arrays(n):
            return {"w": np.arange(n), "m": np.ones((2, 2))}

        @exp.cache.cached("s", backend="npz")
        def single(n):
            return np.linspace(0.0, 1.0, n)

        assert as_json(3) == {"a": [1, 2, 3], "b": "x", "c": 0.5}
        got = arrays(3)
        assert sorted(got) == ["m", "w"]
        np.testing.assert_array_equal(got["w"], np.arange(3))
        np.testing.assert_array_equal(got["m"], np.ones((2, 2)))
        one = single(4)
        assert isinstance(one, np.ndarray)
        np.testing.assert_array_equal(one, np.linspace(0.0, 1.0, 4))

        exp["results/before"] = repr(exp.cache.load("model", default=None))
        with pytest.raises(KeyError, match="never"):
            exp.cache.load("never")
        assert exp.cache.load("never", default=5) == 5
        exp.cache.save("model", {"w": [1, 2]})
        assert exp.cache.load("model") == {"w": [1, 2]}
        for bad in (lambda: exp.cache.cached("x", backend="yaml"),
                    lambda: exp.cache.save("x", 1, backend="yaml")):
            with pytest.raises(ValueError, match="backend 'yaml': use one of pickle, json, npz"):
                bad()
"""


def test_cache_backends_round_trip_and_save_load(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(test_exp=BACKENDS)
    first = session(pytester, archive)
    assert archive.summary(first)["cache"]["misses"] == ["j", "d", "s"]
    assert archive.data(first)["results"]["before"] == "None"
    second = session(pytester, archive)
    assert archive.summary(second)["cache"]["misses"] == []
    assert archive.summary(second)["cache"]["hits"][:3] == ["j", "d", "s"]
    assert archive.data(second)["results"]["before"] == "{'w': [1, 2]}"


CONCURRENT = """
    import time
    import pytest

    @pytest.mark.parametrize("point", range(6))
    def test_fill(exp, point):
        @exp.cache.cached("slow", scope="shared")
        def slow(n):
            time.sleep(0.1)
            return {"n": n, "data": list(range(n))}

        assert slow(1000) == {"n": 1000, "data": list(range(1000))}
"""


def test_concurrent_fill_never_leaves_a_corrupt_entry(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(test_exp=CONCURRENT)
    pytester.runpytest("-n", "2").assert_outcomes(passed=6)
    assert all(archive.summary(p)["status"] == "completed" for p in archive.runs())
    files = [p.name for p in (archive.root / ".cache").rglob("*") if p.is_file()]
    assert len(files) == 1 and files[0].startswith("slow-"), files
    first = set(archive.runs())
    pytester.runpytest(*NO_XDIST).assert_outcomes(passed=6)
    fresh = [p for p in archive.runs() if p not in first]
    assert len(fresh) == 6
    for folder in fresh:
        assert archive.summary(folder)["cache"] == {"enabled": True, "hits": ["slow"], "misses": []}


# labels

LABELLED = """
    import pytest

    def test_labelled(exp):
        with pytest.raises(ValueError, match="use one of keep, baseline, exploratory, failed"):
            exp.label("great")
        exp.label("keep", note="promising")
"""


def test_label_is_written_and_listed(
    pytester: pytest.Pytester, archive: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    pytester.makepyfile(test_exp=LABELLED)
    pytester.runpytest(*NO_XDIST).assert_outcomes(passed=1)
    header = archive.config(archive.run())["experiment"]
    assert header["label"] == "keep" and [n["note"] for n in header["notes"]] == ["promising"]
    code, out, _ = run(capsys, "--root", str(archive.root), "list", "--label", "keep")
    assert code == 0 and "labelled" in out and "keep" in out
    code, out, _ = run(capsys, "--root", str(archive.root), "list", "--json")
    assert [r["label"] for r in json.loads(out)] == ["keep"]
    assert run(capsys, "--root", str(archive.root), "list", "--label", "baseline")[0] == 1
