"""Each --exp-sampler as a user picks it: grid exhausts its values, the others stay in bounds."""

from __future__ import annotations

import pytest

from tests.conftest import XDIST_MODES, Archive

pytest.importorskip("optuna")

MIXED = """
    import pytest

    KIND = "a"
    N = 1
    X = 0.0

    @pytest.mark.experiment(metric="loss", mode="min",
                            search={"KIND": "choice(a, b)", "N": "int(1, 3)"})
    def test_mixed(exp):
        exp.track("loss", exp.N + (0.5 if exp.KIND == "b" else 0.0))
"""

FLOATS = """
    import pytest

    X = 0.0
    Y = 0.0

    @pytest.mark.experiment(metric="loss", mode="min",
                            search={"X": "uniform(-2, 2)", "Y": "loguniform(0.001, 1)"})
    def test_floats(exp):
        exp.track("loss", (exp.X - 1) ** 2 + exp.Y)
"""


def _points(archive: Archive, experiment: str, names: tuple[str, ...]) -> list[tuple]:
    runs = archive.runs(experiment)
    assert all(archive.summary(run)["status"] == "completed" for run in runs)
    return [tuple(archive.config(run)["parameters"][n] for n in names) for run in runs]


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_the_grid_sampler_tries_each_combination_once(
    pytester: pytest.Pytester, archive: Archive, mode: list[str]
) -> None:
    pytester.makepyfile(test_mixed=MIXED)
    result = pytester.runpytest(*mode, "--exp-sampler", "grid", "--exp-trials", "6")
    result.assert_outcomes(passed=6)
    points = _points(archive, "mixed", ("KIND", "N"))
    assert sorted(points) == [(k, n) for k in "ab" for n in (1, 2, 3)]
    header = archive.config(archive.runs("mixed")[0])["experiment"]
    assert header["sampler"] == "grid"


def test_a_grid_search_runs_its_grid_by_default_and_never_twice(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(test_mixed=MIXED)
    pytester.runpytest("-n", "2", "--exp-sampler", "grid").assert_outcomes(passed=6)
    result = pytester.runpytest("-n", "2", "-rs", "--exp-sampler", "grid", "--exp-trials", "9")
    result.assert_outcomes(passed=6, skipped=3)
    result.stdout.fnmatch_lines(["*the grid sampler has tried all 6 combinations of the space*"])
    for session in sorted(p for p in (archive.root / "mixed").iterdir() if p.is_dir()):
        runs = [r for r in session.iterdir() if r.is_dir()]
        points = {(archive.config(r)["parameters"]["KIND"], archive.config(r)["parameters"]["N"])
                  for r in runs}  # fmt: skip
        assert len(runs) == len(points) == 6


@pytest.mark.parametrize("sampler", ["qmc", "cmaes", "random"])
def test_float_samplers_draw_distinct_points_inside_the_space(
    pytester: pytest.Pytester, archive: Archive, sampler: str
) -> None:
    pytester.makepyfile(test_floats=FLOATS)
    args = ("--exp-sampler", sampler, "--exp-trials", "8", "--exp-seed", "1")
    pytester.runpytest("-n", "2", *args).assert_outcomes(passed=8)
    points = _points(archive, "floats", ("X", "Y"))
    assert len(set(points)) == 8
    assert all(-2 <= x <= 2 and 0.001 <= y <= 1 for x, y in points)
    assert {archive.config(r)["experiment"]["sampler"] for r in archive.runs("floats")} == {sampler}


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_a_grid_over_a_float_range_is_a_usage_error_before_any_run(
    pytester: pytest.Pytester, archive: Archive, mode: list[str]
) -> None:
    pytester.makepyfile(test_floats=FLOATS)
    result = pytester.runpytest(*mode, "--exp-sampler", "grid")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "X=uniform(-2.0, 2.0) has no finite set of values" in result.stderr.str()
    assert not archive.runs()


@pytest.mark.parametrize(("sampler", "package"), [("cmaes", "cmaes"), ("qmc", "scipy")])
def test_a_sampler_without_its_package_names_the_extra(
    pytester: pytest.Pytester, archive: Archive, sampler: str, package: str
) -> None:
    pytester.makeconftest(f"import sys\nsys.modules[{package!r}] = None  # as if not installed\n")
    pytester.makepyfile(test_floats=FLOATS)
    result = pytester.runpytest("-p", "no:xdist", "--exp-sampler", sampler)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    message = f"--exp-sampler {sampler} needs the {package} package"
    assert message in result.stderr.str()
    assert "pip install 'pytest-expharness[search]'" in result.stderr.str()
    assert not archive.runs()
