"""Sweeps: grids, the comparison table, repeats, --exp-sweep, crashes, resume, testing mode, Ctrl-C.

A sweep is every run of one experiment in one session; its table is written to
`results/<experiment>/<session>/comparison.{csv,md,json}` by the controller (or
the lone process without xdist) and printed in the terminal summary.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# pytester restores sys.modules after every in-process session and numpy cannot be
# imported twice in one process: importing it (and matplotlib) here keeps it loaded.
import matplotlib.backends.backend_agg
import matplotlib.figure  # noqa: F401
import numpy
import pytest

from pytest_expharness.sweep import table as sweeptable
from pytest_expharness.sweep import tablefiles as sweepfiles

from conftest import XDIST_MODES, Archive

# -- reading what a session wrote ----------------------------------------------


@dataclass
class Sweep:
    """One sweep folder, results/[_testing/]<experiment>/<session>, read as a user would."""

    folder: Path

    @property
    def table(self) -> dict[str, Any]:
        return json.loads((self.folder / "comparison.json").read_text())

    @property
    def rows(self) -> list[dict[str, Any]]:
        return self.table["rows"]

    def by_run(self) -> dict[str, dict[str, Any]]:
        rows = self.rows
        found = {row["run"]: row for row in rows}
        assert len(found) == len(rows), f"run ids repeat: {[r['run'] for r in rows]}"
        return found

    def csv_rows(self) -> list[dict[str, str]]:
        with open(self.folder / "comparison.csv", newline="") as handle:
            return list(csv.DictReader(handle))

    def csv_header(self) -> list[str]:
        with open(self.folder / "comparison.csv", newline="") as handle:
            return next(csv.reader(handle))

    @property
    def markdown(self) -> str:
        return (self.folder / "comparison.md").read_text()

    def run_folders(self) -> list[str]:
        """Names of the run folders this session made in the sweep folder."""
        return sorted(
            p.name for p in self.folder.iterdir() if p.is_dir() and (p / "config.yaml").exists()
        )


def _sweep_folders(root: Path) -> dict[Path, str]:
    """Every sweep folder under the archive root, with its key: '<exp>' or '_testing/<exp>'."""
    found: dict[Path, str] = {}
    for base, prefix in ((root, ""), (root / "_testing", "_testing/")):
        if not base.is_dir():
            continue
        for experiment in base.iterdir():
            if not experiment.is_dir() or (base == root and experiment.name == "_testing"):
                continue
            for folder in experiment.iterdir():
                if folder.is_dir():
                    found[folder] = prefix + experiment.name
    return found


def session(
    pytester: pytest.Pytester, *args: str, subprocess: bool = False
) -> tuple[pytest.RunResult, dict[str, Sweep]]:
    """Run one pytest session; return its result and the sweep folders it made, by experiment."""
    root = pytester.path / "results"
    before = set(_sweep_folders(root))
    run = pytester.runpytest_subprocess if subprocess else pytester.runpytest
    result = run(*args)
    sweeps: dict[str, Sweep] = {}
    for folder, key in _sweep_folders(root).items():
        if folder not in before:
            assert key not in sweeps, f"two new sweep folders for {key}"
            sweeps[key] = Sweep(folder)
    return result, sweeps


def _no_internal_error(result: pytest.RunResult) -> None:
    out = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in out, out


def _comparable(table: dict[str, Any]) -> dict[str, Any]:
    """A comparison.json without what differs between sessions: stamp and durations."""
    out = {k: v for k, v in table.items() if k != "session"}
    out["rows"] = [{k: v for k, v in row.items() if k != "duration_s"} for row in table["rows"]]
    return out


def _csv_matches_json(sweep: Sweep) -> None:
    """comparison.csv holds the rows of comparison.json, in the same order, every column."""
    table = sweep.table
    assert sweep.csv_header() == table["columns"]
    rows = sweep.csv_rows()
    assert len(rows) == len(table["rows"])
    for written, row in zip(rows, table["rows"], strict=True):
        expected = {c: "" if row.get(c) is None else str(row.get(c)) for c in table["columns"]}
        assert written == expected


def _markdown_lists_every_run(sweep: Sweep) -> None:
    text = sweep.markdown
    table = sweep.table
    assert text.startswith(f"# {table['experiment']}: session {table['session']}")
    lines = [line for line in text.splitlines() if line.startswith("|")]
    for row in table["rows"]:
        assert any(f"| {row['run']} " in line for line in lines), (row["run"], text)


# -- 1. a 3x3 grid -------------------------------------------------------------

LATENTS = {"vq": 0.1, "ae": 0.2, "vae": 0.3}
BETAS = [1, 10, 100]

GRID = """
    import pytest

    LATENTS = {"vq": 0.1, "ae": 0.2, "vae": 0.3}

    @pytest.mark.experiment(metric="loss", mode="min")
    @pytest.mark.parametrize("beta", [1, 10, 100])
    @pytest.mark.parametrize("latent", ["vq", "ae", "vae"])
    def test_train(exp, latent, beta):
        exp.track("loss", beta / 7 + LATENTS[latent])
        exp["results/acc"] = 1 - beta / 1000
"""


def _grid_expected() -> list[dict[str, Any]]:
    rows = [
        {
            "run": f"latent={latent},beta={beta}",
            "status": "completed",
            "latent": latent,
            "beta": beta,
            "loss": beta / 7 + offset,
            "results/acc": 1 - beta / 1000,
            "reason": None,
        }
        for latent, offset in LATENTS.items()
        for beta in BETAS
    ]
    rows.sort(key=lambda r: r["loss"])
    for i, row in enumerate(rows):
        row["best"] = "*" if i == 0 else ""
    return rows


def test_grid_3x3_table_is_the_same_in_every_mode(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(test_grid=GRID)
    expected = _grid_expected()
    tables = {}
    for mode in (["-p", "no:xdist"], ["-n", "0"], ["-n", "2"]):
        result, sweeps = session(pytester, *mode)
        result.assert_outcomes(passed=9)
        assert list(sweeps) == ["train"], mode
        sweep = sweeps["train"]
        table = sweep.table
        assert sweep.run_folders() == sorted(r["run"] for r in expected)
        for run in sweep.run_folders():
            assert archive.config(sweep.folder / run)["experiment"]["axes"] == ["latent", "beta"]
        assert table["axes"] == ["latent", "beta"]
        assert table["columns"][:5] == ["best", "run", "status", "latent", "beta"]
        assert {"duration_s", "loss", "results/acc", "reason"} <= set(table["columns"])
        assert table["main_metric"] == {"name": "loss", "column": "loss", "mode": "min"}
        assert table["best"] == "latent=vq,beta=1"
        assert table["interrupted"] is False and table["testing"] is False
        got = [{k: row[k] for k in expected[0]} for row in table["rows"]]
        assert [r["run"] for r in got] == [r["run"] for r in expected], mode
        for row, want in zip(got, expected, strict=True):
            assert row == {**want, "loss": pytest.approx(want["loss"])}
        assert all(isinstance(r["duration_s"], float) for r in table["rows"])
        _csv_matches_json(sweep)
        _markdown_lists_every_run(sweep)
        assert "Best run by loss (min): **latent=vq,beta=1**" in sweep.markdown
        result.stdout.fnmatch_lines(
            [
                "*= experiments =*",
                "train: 9 runs (9 completed), main metric loss (min)",
                "best*run*status*latent*beta*duration_s*loss*results/acc*",
                "[*]*latent=vq,beta=1*completed*vq*1*",
                "*latent=vae,beta=100*completed*vae*100*",
                f"-> results/train/{sweep.folder.name}/comparison.md (.csv, .json), report.html",
            ]
        )
        tables[mode[-1]] = _comparable(table)
    assert tables["no:xdist"] == tables["0"] == tables["2"]


UNRANKED = """
    import time
    import pytest

    @pytest.mark.parametrize("point", range(6))
    def test_train(exp, point):
        time.sleep(0.4 if point == 0 else 0.0)  # under -n 2 the others finish first
        exp.track("loss", float(point))
"""


def test_table_without_main_metric_is_the_same_in_every_mode(pytester: pytest.Pytester) -> None:
    """Results are identical with -n 0, -n 2 and -p no:xdist: row order included."""
    pytester.makepyfile(test_grid=UNRANKED)
    orders = {}
    for mode in (["-p", "no:xdist"], ["-n", "2"]):
        result, sweeps = session(pytester, *mode)
        result.assert_outcomes(passed=6)
        table = sweeps["train"].table
        assert table["main_metric"] is None and table["best"] is None
        assert "best" not in table["columns"]
        orders[mode[-1]] = [row["run"] for row in table["rows"]]
    assert orders["no:xdist"] == [f"point={i}" for i in range(6)]
    assert orders["2"] == orders["no:xdist"], "row order depends on which worker finished first"


# -- 2. ids, class-level and indirect parametrization --------------------------

SHAPES = """
    import pytest

    @pytest.mark.parametrize(
        "layers", [pytest.param([8], id="small"), pytest.param([64, 64], id="big")]
    )
    def test_ids(exp, layers):
        exp["results/width"] = sum(layers)

    @pytest.mark.parametrize("width", [1, 2])
    class TestModel:
        @pytest.mark.parametrize("depth", [3, 4])
        def test_fit(self, exp, width, depth):
            exp["results/size"] = width * depth

    @pytest.fixture
    def data(request):
        return list(range(request.param))

    @pytest.mark.parametrize("data", [2, 5], indirect=True)
    def test_indirect(exp, data):
        exp["results/n"] = len(data)
"""


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_param_ids_class_and_indirect_parametrize_are_axes(
    pytester: pytest.Pytester, archive: Archive, mode: list[str]
) -> None:
    pytester.makepyfile(test_shapes=SHAPES)
    result, sweeps = session(pytester, *mode)
    result.assert_outcomes(passed=8)
    assert set(sweeps) == {"ids", "Model.fit", "indirect"}

    ids = sweeps["ids"]
    assert ids.run_folders() == ["big", "small"]
    for run, layers in (("small", [8]), ("big", [64, 64])):
        config = archive.config(ids.folder / run)
        assert config["experiment"]["axes"] == ["layers"]
        assert config["parameters"]["layers"] == layers
        assert ids.by_run()[run]["layers"] == layers
        assert ids.by_run()[run]["results/width"] == sum(layers)
    assert ids.table["axes"] == ["layers"]

    model = sweeps["Model.fit"]
    names = {f"width={w},depth={d}": (w, d) for w in (1, 2) for d in (3, 4)}
    assert model.run_folders() == sorted(names)
    for run, (width, depth) in names.items():
        config = archive.config(model.folder / run)
        assert config["experiment"]["axes"] == ["width", "depth"]
        assert config["parameters"] == {"width": width, "depth": depth}
        row = model.by_run()[run]
        assert (row["width"], row["depth"], row["results/size"]) == (width, depth, width * depth)
    assert model.table["axes"] == ["width", "depth"]

    indirect = sweeps["indirect"]
    assert indirect.run_folders() == ["data=2", "data=5"]
    for n in (2, 5):
        config = archive.config(indirect.folder / f"data={n}")
        assert config["experiment"]["axes"] == ["data"]
        assert config["parameters"]["data"] == n
        assert indirect.by_run()[f"data={n}"]["results/n"] == n
    assert indirect.table["axes"] == ["data"]
    result.stdout.fnmatch_lines(["Model.fit: 4 runs (4 completed)"])
    result.stdout.fnmatch_lines(["ids: 2 runs (2 completed)", "*small*completed*[[]8[]]*"])


# -- 3. the main metric ----------------------------------------------------------

RANKED = """
    import pytest

    VALUES = {"a": 0.3, "b": 0.1, "c": 0.4}
    POINTS = ["a", "b", "c", "d"]

    @pytest.mark.experiment(metric="loss", mode="min")
    @pytest.mark.parametrize("point", POINTS)
    def test_low(exp, point):
        exp.track("loss", VALUES.get(point, 0.01))  # d would be best, but it fails
        if point == "d":
            raise ValueError("diverged")

    @pytest.mark.experiment(metric="loss", mode="max")
    @pytest.mark.parametrize("point", POINTS)
    def test_high(exp, point):
        exp.track("loss", VALUES.get(point, 9.0))  # d would be best, but it fails
        if point == "d":
            raise ValueError("diverged")

    @pytest.mark.experiment(metric="acc", mode="max")
    @pytest.mark.parametrize("point", ["a", "b", "c"])
    def test_acc(exp, point):
        exp["results/acc"] = {"a": 0.7, "b": 0.9, "c": 0.8}[point]

    @pytest.mark.experiment(metric="nope")
    @pytest.mark.parametrize("point", ["a", "b"])
    def test_missing(exp, point):
        exp.track("loss", 1.0)
"""


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_main_metric_sorts_rows_and_marks_the_best(
    pytester: pytest.Pytester, mode: list[str]
) -> None:
    pytester.makepyfile(test_ranked=RANKED)
    result, sweeps = session(pytester, *mode)
    result.assert_outcomes(passed=11, failed=2)
    expectations = {
        "low": (["b", "a", "c", "d"], "loss", "min"),
        "high": (["c", "a", "b", "d"], "loss", "max"),
        "acc": (["b", "c", "a"], "results/acc", "max"),
    }
    for experiment, (order, column, how) in expectations.items():
        sweep = sweeps[experiment]
        table = sweep.table
        runs = [f"point={p}" for p in order]
        assert [row["run"] for row in table["rows"]] == runs, experiment
        assert table["main_metric"]["column"] == column
        assert table["main_metric"]["mode"] == how
        assert table["best"] == runs[0]
        assert [row["best"] for row in table["rows"]] == ["*"] + [""] * (len(runs) - 1)
        assert [row["best"] for row in sweep.csv_rows()] == ["*"] + [""] * (len(runs) - 1)
        assert table["columns"][0] == "best"
        assert f"Best run by {column} ({how}): **{runs[0]}**" in sweep.markdown
        _csv_matches_json(sweep)
    assert sweeps["low"].by_run()["point=d"]["status"] == "failed"
    assert sweeps["low"].by_run()["point=d"]["reason"] == "ValueError: diverged"
    result.stdout.fnmatch_lines(
        [
            "low: 4 runs (3 completed, 1 failed), main metric loss (min)",
            "best*run*",
            "[*]*point=b*completed*",
        ]
    )
    result.stdout.fnmatch_lines(["acc: 3 runs (3 completed), main metric acc (max)"])

    missing = sweeps["missing"].table
    assert missing["best"] is None
    assert missing["main_metric"]["column"] is None
    assert "best" not in missing["columns"]
    result.stdout.fnmatch_lines(["missing: 2 runs*main metric nope (min), not found*"])


# -- 4. pivot --------------------------------------------------------------------

PIVOT = """
    import pytest

    @pytest.mark.experiment(metric="loss")
    @pytest.mark.parametrize("width", ["x", "y", "z"])
    @pytest.mark.parametrize("depth", [2, 1])
    def test_grid(exp, depth, width):
        exp.track("loss", depth * 10.0 + "xyz".index(width))
        if (depth, width) == (2, "y"):
            raise ValueError("no cell")

    @pytest.mark.experiment(metric="loss")
    @pytest.mark.parametrize("depth", [1, 2])
    def test_line(exp, depth):
        exp.track("loss", float(depth))

    @pytest.mark.parametrize("width", ["x", "y"])
    @pytest.mark.parametrize("depth", [1, 2])
    def test_unranked(exp, depth, width):
        exp.track("loss", 1.0)
"""


def _cells(pivot: dict[str, Any]) -> dict[tuple[Any, Any], Any]:
    assert len(pivot["values"]) == len(pivot["rows"])
    cells = {}
    for r, values in zip(pivot["rows"], pivot["values"], strict=True):
        assert len(values) == len(pivot["columns"])
        cells.update({(r, c): v for c, v in zip(pivot["columns"], values, strict=True)})
    return cells


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_two_axis_grid_has_a_pivot_of_the_main_metric(
    pytester: pytest.Pytester, mode: list[str]
) -> None:
    pytester.makepyfile(test_pivot=PIVOT)
    result, sweeps = session(pytester, *mode)
    result.assert_outcomes(passed=11, failed=1)
    pivot = sweeps["grid"].table["pivot"]
    assert pivot is not None
    assert (pivot["metric"], pivot["rows_axis"], pivot["columns_axis"]) == (
        "loss",
        "depth",
        "width",
    )
    assert sorted(pivot["rows"]) == [1, 2]
    assert sorted(pivot["columns"]) == ["x", "y", "z"]
    expected = {(d, w): d * 10.0 + "xyz".index(w) for d in (1, 2) for w in "xyz"}
    expected[(2, "y")] = None  # its run failed
    assert _cells(pivot) == expected
    assert sweeps["line"].table["pivot"] is None
    assert sweeps["unranked"].table["pivot"] is None
    result.stdout.fnmatch_lines(["loss (min): depth down, width across", "*depth \\ width*x*y*z*"])
    assert "loss (min): depth down" in sweeps["grid"].markdown


# -- 5. repeats ------------------------------------------------------------------

REPEATS = """
    import pytest

    SEED = 100

    @pytest.mark.experiment(repeats=3, metric="loss")
    @pytest.mark.parametrize("lr", [0.1, 0.2])
    def test_fit(exp, lr):
        exp["results/draw"] = int(exp.rng.integers(1000))
        exp["seen"] = {"seed": exp.seed, "repeat": exp.repeat}
        exp.track("loss", lr * 10 + float(exp.rng.random()))
        if lr == 0.2 and exp.repeat == 1:
            raise ValueError("diverged")
"""


def _check_seeded_run(archive: Archive, run: Path, seed: int, repeat: int, lr: float) -> None:
    header = archive.config(run)["experiment"]
    assert (header["seed"], header["repeat"], header["repeats"]) == (seed, repeat, 3), run
    data = archive.data(run)
    assert data["seen"] == {"seed": seed, "repeat": repeat}
    rng = numpy.random.default_rng(seed)
    assert data["results"]["draw"] == rng.integers(1000), "exp.rng is seeded with exp.seed"
    final = archive.summary(run)["metrics"]["loss"]["final"]
    assert final == pytest.approx(lr * 10 + rng.random()), "exp.rng is made once per run"


def _check_aggregate(table: dict[str, Any], metrics: list[str]) -> None:
    """The table over repeats against numpy, computed from the rows of comparison.json."""
    axes = table["axes"]
    points: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for row in table["rows"]:
        points.setdefault(tuple(row[a] for a in axes), []).append(row)
    assert len(table["aggregate"]) == len(points)
    for entry in table["aggregate"]:
        rows = points[tuple(entry[a] for a in axes)]
        good = [r for r in rows if r["status"] in ("completed", "reused")]
        assert entry["n"] == len(good)
        assert entry["failures"] == len(rows) - len(good)
        for name in metrics:
            values = numpy.array([r[name] for r in good], dtype=float)
            assert entry[f"{name} mean"] == pytest.approx(numpy.mean(values), rel=1e-12)
            assert entry[f"{name} std"] == pytest.approx(numpy.std(values, ddof=1), rel=1e-12)


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_repeats_from_the_marker_seed_and_aggregate(
    pytester: pytest.Pytester, archive: Archive, mode: list[str]
) -> None:
    pytester.makepyfile(test_repeats=REPEATS)
    result, sweeps = session(pytester, *mode)
    result.assert_outcomes(passed=5, failed=1)
    sweep = sweeps["fit"]
    expected = [f"lr={lr},rep={r}" for lr in (0.1, 0.2) for r in range(3)]
    assert sweep.run_folders() == expected
    for lr in (0.1, 0.2):
        for repeat in range(3):
            run = sweep.folder / f"lr={lr},rep={repeat}"
            _check_seeded_run(archive, run, 100 + repeat, repeat, lr)
    table = sweep.table
    assert {"repeat", "seed"} <= set(table["columns"])
    rows = sweep.by_run()
    for run in expected:
        repeat = int(run[-1])
        assert (rows[run]["repeat"], rows[run]["seed"]) == (repeat, 100 + repeat)
    assert rows["lr=0.2,rep=1"]["status"] == "failed"
    assert rows["lr=0.2,rep=1"]["reason"] == "ValueError: diverged"
    _check_aggregate(table, ["loss", "results/draw"])
    by_lr = {entry["lr"]: entry for entry in table["aggregate"]}
    assert (by_lr[0.1]["n"], by_lr[0.1]["failures"]) == (3, 0)
    assert (by_lr[0.2]["n"], by_lr[0.2]["failures"]) == (2, 1)
    assert table["pivot"] is None  # one axis
    result.stdout.fnmatch_lines(
        ["fit: 6 runs (5 completed, 1 failed)*", "*", "over repeats (mean, std, n*, failures):"]
    )
    assert "over repeats" in sweep.markdown


UNSEEDED = """
    import pytest

    @pytest.mark.parametrize("k", [1, 2])
    def test_plain(exp, k):
        exp["results/draw"] = float(exp.rng.integers(1000))
        exp.track("loss", k + exp.rng.random())
"""


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_exp_repeats_option_runs_each_point_with_distinct_seeds(
    pytester: pytest.Pytester, archive: Archive, mode: list[str]
) -> None:
    pytester.makepyfile(test_unseeded=UNSEEDED)
    result, sweeps = session(pytester, *mode, "--exp-repeats", "3")
    result.assert_outcomes(passed=6)
    sweep = sweeps["plain"]
    assert sweep.run_folders() == [f"k={k},rep={r}" for k in (1, 2) for r in range(3)]
    for k in (1, 2):
        seeds = []
        for repeat in range(3):
            run = sweep.folder / f"k={k},rep={repeat}"
            header = archive.config(run)["experiment"]
            assert (header["repeat"], header["repeats"]) == (repeat, 3)
            seeds.append(header["seed"])
            draw = numpy.random.default_rng(header["seed"]).integers(1000)
            assert archive.data(run)["results"]["draw"] == draw
        assert seeds == [0, 1, 2], "no SEED constant: seeds 0 + repeat"
    _check_aggregate(sweep.table, ["loss", "results/draw"])
    assert [e["n"] for e in sweep.table["aggregate"]] == [3, 3]


# -- 6. --exp-sweep ------------------------------------------------------------------

SWEPT = """
    import pytest

    LR = 0.1
    MODE = "fast"

    @pytest.mark.parametrize("beta", [1, 2])
    def test_fit(exp, beta):
        exp["seen"] = {"lr": exp.LR, "module_lr_type": type(LR).__name__, "mode": MODE}
"""


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_sweep_option_adds_axes_to_the_grid(
    pytester: pytest.Pytester, archive: Archive, mode: list[str]
) -> None:
    pytester.makepyfile(test_swept=SWEPT)
    result, sweeps = session(
        pytester, *mode, "--exp-sweep", "LR=1e-3,0.5", "--exp-sweep", "MODE=fast,slow"
    )
    result.assert_outcomes(passed=8)
    sweep = sweeps["fit"]
    points = {
        f"beta={b},LR={lr!r},MODE={m}": (b, lr, m)
        for b in (1, 2)
        for lr in (0.001, 0.5)
        for m in ("fast", "slow")
    }
    assert sweep.run_folders() == sorted(points)
    for run, (beta, lr, kind) in points.items():
        config = archive.config(sweep.folder / run)
        assert config["experiment"]["axes"] == ["beta", "LR", "MODE"]
        assert config["parameters"] == {"LR": lr, "MODE": kind, "beta": beta}
        assert archive.data(sweep.folder / run)["seen"] == {
            "lr": lr,
            "module_lr_type": "float",
            "mode": kind,
        }
        row = sweep.by_run()[run]
        assert (row["beta"], row["LR"], row["MODE"]) == (beta, lr, kind)
        assert isinstance(row["LR"], float)
    assert sweep.table["axes"] == ["beta", "LR", "MODE"]
    result.stdout.fnmatch_lines(["fit: 8 runs (8 completed)", "*beta=2,LR=0.5,MODE=slow*"])


BAD_SWEEP_EXPERIMENT = """
    import pytest

    LR = 0.1
    EPOCHS: int = 3
    BETA = 1

    @pytest.mark.parametrize("BETA", [1, 2])
    def test_fit(exp, BETA):
        pass
"""

BAD_SWEEPS = [
    pytest.param(
        ["--exp-sweep", "LRR=1,2"],
        ["--exp-sweep LRR: not a parameter of", "(did you mean LR?)"],
        id="unknown-name",
    ),
    pytest.param(["--exp-sweep", "LR"], ["--exp-sweep 'LR': expected KEY=VALUE"], id="no-values"),
    pytest.param(["--exp-sweep", "LR="], ["--exp-sweep 'LR=': no values"], id="empty"),
    pytest.param(
        ["--exp-sweep", "EPOCHS=1,two"], ["--exp-sweep EPOCHS=two: expected int"], id="wrong-type"
    ),
    pytest.param(
        ["--exp-sweep", "LR=1,2", "--exp-set", "LR=3"],
        ["--exp-sweep LR and --exp-set LR: give one or the other"],
        id="sweep-and-set",
    ),
    pytest.param(
        ["--exp-sweep", "BETA=3,4"],
        ["--exp-sweep BETA: BETA is a parametrize axis of test_bad.py::test_fit"],
        id="parametrize-axis",
    ),
]


@pytest.mark.parametrize("mode", XDIST_MODES)
@pytest.mark.parametrize(("args", "messages"), BAD_SWEEPS)
def test_bad_sweep_is_a_usage_error_and_creates_nothing(
    pytester: pytest.Pytester, mode: list[str], args: list[str], messages: list[str]
) -> None:
    pytester.makepyfile(test_bad=BAD_SWEEP_EXPERIMENT)
    result = pytester.runpytest(*mode, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
    err = result.stderr.str()
    for message in messages:
        assert message in err
    _no_internal_error(result)
    assert "Traceback" not in err
    assert not (pytester.path / "results").exists()


# -- 7. failed, skipped and crashed rows -----------------------------------------

OUTCOMES = """
    import pytest

    @pytest.mark.parametrize("point", [1, 2, 3])
    def test_fit(exp, point):
        exp.track("loss", float(point))
        if point == 2:
            pytest.skip("not today")
        if point == 3:
            raise ValueError("bad point")
"""


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_failed_and_skipped_rows_stay_with_their_reason(
    pytester: pytest.Pytester, mode: list[str]
) -> None:
    pytester.makepyfile(test_outcomes=OUTCOMES)
    result, sweeps = session(pytester, *mode)
    result.assert_outcomes(passed=1, skipped=1, failed=1)
    sweep = sweeps["fit"]
    rows = sweep.by_run()
    assert set(rows) == {"point=1", "point=2", "point=3"}
    assert (rows["point=1"]["status"], rows["point=1"]["reason"]) == ("completed", None)
    assert (rows["point=2"]["status"], rows["point=2"]["reason"]) == ("skipped", "not today")
    assert rows["point=3"]["status"] == "failed"
    assert rows["point=3"]["reason"] == "ValueError: bad point"
    assert [rows[f"point={p}"]["loss"] for p in (1, 2, 3)] == [1.0, 2.0, 3.0]
    _csv_matches_json(sweep)
    _markdown_lists_every_run(sweep)
    assert "ValueError: bad point" in sweep.markdown
    result.stdout.fnmatch_lines(
        [
            "fit: 3 runs (1 completed, 1 failed, 1 skipped)",
            "run*status*point*duration_s*loss*reason",
        ]
    )
    result.stdout.fnmatch_lines(["point=2*skipped*not today"])
    result.stdout.fnmatch_lines(["point=3*failed*ValueError: bad point"])


CRASHING = """
    import os
    from pathlib import Path
    import pytest

    @pytest.mark.parametrize("point", [1, 2, 3, 4])
    def test_fit(exp, point):
        exp.track("loss", float(point))
        if point == 2 and not Path("fixed").exists():
            os._exit(1)
"""


def test_worker_killed_mid_run_leaves_a_crashed_row(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(test_crashing=CRASHING)
    result, sweeps = session(pytester, "-n", "2")
    result.assert_outcomes(passed=3, failed=1)
    sweep = sweeps["fit"]
    assert sweep.run_folders() == [f"point={p}" for p in (1, 2, 3, 4)]
    rows = sweep.by_run()
    crashed = rows.pop("point=2")
    assert crashed["status"] == "crashed"
    found = re.fullmatch(r"worker (gw\d+) died while running it", crashed["reason"] or "")
    assert found, crashed
    summary = archive.summary(sweep.folder / "point=2")
    assert summary["status"] == "crashed"
    assert summary["crash"]["worker"] == found.group(1)
    assert "last_heartbeat" in summary["crash"]
    assert {run: row["status"] for run, row in rows.items()} == dict.fromkeys(
        ("point=1", "point=3", "point=4"), "completed"
    )
    assert [rows[f"point={p}"]["loss"] for p in (1, 3, 4)] == [1.0, 3.0, 4.0]
    _csv_matches_json(sweep)
    result.stdout.fnmatch_lines(
        ["fit: 4 runs (3 completed, 1 crashed)", f"point=2*crashed*{crashed['reason']}"]
    )

    (pytester.path / "fixed").touch()
    result, sweeps = session(pytester, "-n", "2", "--exp-resume")
    result.assert_outcomes(passed=1, skipped=3)
    again = sweeps["fit"]
    assert again.run_folders() == ["point=2"], "only the crashed point runs again"
    statuses = {run: row["status"] for run, row in again.by_run().items()}
    assert statuses == {
        "point=1": "reused",
        "point=2": "completed",
        "point=3": "reused",
        "point=4": "reused",
    }


# -- 8. resume -------------------------------------------------------------------

RESUMABLE = """
    from pathlib import Path
    import pytest

    @pytest.mark.experiment(metric="loss")
    @pytest.mark.parametrize("point", [1, 2, 3])
    def test_fit(exp, point):
        exp.track("loss", point / 10)
        exp["results/tag"] = f"p{point}"
        if point == 2 and not Path("fixed").exists():
            raise ValueError("first time")
"""


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_resume_runs_only_the_failed_point_and_reuses_the_rest(
    pytester: pytest.Pytester, mode: list[str]
) -> None:
    pytester.makepyfile(test_resumable=RESUMABLE)
    result, sweeps = session(pytester, *mode)
    result.assert_outcomes(passed=2, failed=1)
    first = sweeps["fit"]
    before = first.by_run()
    assert before["point=2"]["status"] == "failed"

    (pytester.path / "fixed").touch()
    result, sweeps = session(pytester, *mode, "--exp-resume")
    result.assert_outcomes(passed=1, skipped=2)
    second = sweeps["fit"]
    assert second.run_folders() == ["point=2"], "only the failed point ran again"
    rows = second.by_run()
    assert set(rows) == {"point=1", "point=2", "point=3"}
    assert rows["point=2"]["status"] == "completed"
    assert rows["point=2"]["reason"] is None
    for run in ("point=1", "point=3"):
        assert rows[run]["status"] == "reused"
        assert rows[run]["reason"] == f"from session {first.folder.name}"
        for column in ("point", "loss", "results/tag", "duration_s"):
            assert rows[run][column] == before[run][column], (run, column)
    assert [row["run"] for row in second.rows] == ["point=1", "point=2", "point=3"]
    assert second.table["best"] == "point=1", "a reused run can be the best"
    _csv_matches_json(second)
    result.stdout.fnmatch_lines(
        ["fit: 3 runs (1 completed, 2 reused), main metric loss (min)", "*point=1*reused*"]
    )

    result, sweeps = session(pytester, *mode, "--exp-resume")
    result.assert_outcomes(skipped=3)
    third = sweeps["fit"]
    assert third.run_folders() == [], "every point was done"
    rows = third.by_run()
    assert {run: row["status"] for run, row in rows.items()} == dict.fromkeys(
        ("point=1", "point=2", "point=3"), "reused"
    )
    assert rows["point=2"]["reason"] == f"from session {second.folder.name}"
    assert [rows[f"point={p}"]["loss"] for p in (1, 2, 3)] == [0.1, 0.2, 0.3]


@pytest.mark.parametrize(
    ("mode", "subprocess"),
    [
        pytest.param(["-p", "no:xdist"], False, id="no-xdist"),
        pytest.param(["-p", "no:xdist"], True, id="no-xdist-subprocess"),
        pytest.param(["-n", "2"], False, id="xdist-2"),
    ],
)
def test_resume_after_editing_the_experiment_reuses_nothing(
    pytester: pytest.Pytester, mode: list[str], subprocess: bool
) -> None:
    """The in-process variant is two sessions in one process, as with pytest.main() twice."""
    path = pytester.makepyfile(test_resumable=RESUMABLE)
    (pytester.path / "fixed").touch()
    result, _ = session(pytester, *mode, subprocess=subprocess)
    result.assert_outcomes(passed=3)
    path.write_text(path.read_text() + "\n# a changed experiment\n")
    result, sweeps = session(pytester, *mode, "--exp-resume", subprocess=subprocess)
    result.assert_outcomes(passed=3)
    sweep = sweeps["fit"]
    assert sweep.run_folders() == ["point=1", "point=2", "point=3"]
    assert {row["status"] for row in sweep.rows} == {"completed"}


# -- 9. testing mode -------------------------------------------------------------

TESTED = """
    import pytest

    EPOCHS = 10

    @pytest.mark.experiment(testing={"EPOCHS": 1}, metric="loss")
    @pytest.mark.parametrize("point", [1, 2, 3])
    def test_fit(exp, point):
        exp.track("loss", point / exp.EPOCHS)
"""


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_testing_mode_tables_stay_under_testing(pytester: pytest.Pytester, mode: list[str]) -> None:
    pytester.makepyfile(test_tested=TESTED)
    root = pytester.path / "results"
    result, sweeps = session(pytester, *mode, "--exp-testing")
    result.assert_outcomes(passed=3)
    assert list(sweeps) == ["_testing/fit"]
    outside = [p.name for p in root.iterdir() if p.name != ".expharness"]  # the archive marker
    assert outside == ["_testing"], "nothing outside _testing/"
    assert (root / "_testing" / "index.sqlite").is_file(), "testing runs have their own index"
    testing = sweeps["_testing/fit"]
    assert testing.table["testing"] is True
    assert [row["loss"] for row in testing.rows] == [1.0, 2.0, 3.0]
    result.stdout.fnmatch_lines(
        [
            "fit: 3 runs (3 completed), main metric loss (min), testing mode",
            f"-> results/_testing/fit/{testing.folder.name}/comparison.md (.csv, .json), "
            "report.html",
        ]
    )

    result, sweeps = session(pytester, *mode, "--exp-resume")  # testing runs are not reusable
    result.assert_outcomes(passed=3)
    assert list(sweeps) == ["fit"], "a real session adds nothing under _testing/"
    real = sweeps["fit"]
    assert real.table["testing"] is False
    assert real.run_folders() == ["point=1", "point=2", "point=3"]
    assert [(row["status"], row["loss"]) for row in real.rows] == [
        ("completed", 0.1),
        ("completed", 0.2),
        ("completed", 0.3),
    ]
    assert "testing mode" not in real.markdown


# -- 10. Ctrl-C and -x -----------------------------------------------------------

STOPPED = """
    from pathlib import Path
    import pytest

    @pytest.mark.parametrize("point", [1, 2, 3, 4, 5])
    def test_fit(exp, point):
        exp.track("loss", point / 10)
        if point == 3 and not Path("resumed").exists():
            raise KeyboardInterrupt
"""


def test_ctrl_c_writes_a_partial_table_marked_interrupted(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_stopped=STOPPED)
    # in-process, the KeyboardInterrupt would stop this test session too
    result, sweeps = session(pytester, "-p", "no:xdist", subprocess=True)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    sweep = sweeps["fit"]
    assert sweep.run_folders() == ["point=1", "point=2", "point=3"]
    table = sweep.table
    assert table["interrupted"] is True
    assert [(row["run"], row["status"], row["loss"]) for row in table["rows"]] == [
        ("point=1", "completed", 0.1),
        ("point=2", "completed", 0.2),
        ("point=3", "interrupted", 0.3),
    ]
    assert "KeyboardInterrupt" in (table["rows"][2]["reason"] or "")
    _csv_matches_json(sweep)
    assert "INTERRUPTED: partial table" in sweep.markdown
    result.stdout.fnmatch_lines(
        ["fit: 3 runs (2 completed, 1 interrupted), INTERRUPTED: partial table"]
    )

    (pytester.path / "resumed").touch()
    result, sweeps = session(pytester, "-p", "no:xdist", "--exp-resume")
    result.assert_outcomes(passed=3, skipped=2)
    again = sweeps["fit"]
    assert again.run_folders() == ["point=3", "point=4", "point=5"], "only what is missing"
    assert again.table["interrupted"] is False
    statuses = [(row["run"], row["status"]) for row in again.rows]
    assert sorted(statuses) == [
        ("point=1", "reused"),
        ("point=2", "reused"),
        ("point=3", "completed"),
        ("point=4", "completed"),
        ("point=5", "completed"),
    ]


STOP_ON_FAILURE = """
    import pytest

    @pytest.mark.parametrize("point", [1, 2, 3, 4, 5])
    def test_fit(exp, point):
        exp.track("loss", point / 10)
        if point == 2:
            raise ValueError("stop here")
"""


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_exitfirst_writes_a_table_of_the_runs_that_ran(
    pytester: pytest.Pytester, mode: list[str]
) -> None:
    pytester.makepyfile(test_stop=STOP_ON_FAILURE)
    result, sweeps = session(pytester, *mode, "-x")
    assert result.ret != pytest.ExitCode.OK
    sweep = sweeps["fit"]
    ran = sweep.run_folders()
    if "no:xdist" in mode:
        assert result.ret == pytest.ExitCode.TESTS_FAILED
        assert ran == ["point=1", "point=2"]
    rows = sweep.by_run()
    assert sorted(rows) == ran, "one row per run that ran, no more"
    assert rows["point=2"]["status"] == "failed"
    assert rows["point=2"]["reason"] == "ValueError: stop here"
    assert {row["status"] for run, row in rows.items() if run != "point=2"} == {"completed"}
    _csv_matches_json(sweep)
    result.stdout.fnmatch_lines(["fit: * runs (*1 failed)*"])


def test_exitfirst_table_is_flagged_alike_with_and_without_xdist(
    pytester: pytest.Pytester,
) -> None:
    """Results are identical with and without xdist: so is the table's `interrupted` flag."""
    pytester.makepyfile(test_stop=STOP_ON_FAILURE)
    flags = {}
    for mode in (["-p", "no:xdist"], ["-n", "2"]):
        _, sweeps = session(pytester, *mode, "-x")
        flags[mode[-1]] = sweeps["fit"].table["interrupted"]
    assert flags["no:xdist"] == flags["2"], flags


# -- 11. a large synthetic sweep -------------------------------------------------


def _synthetic_records(folder: Path) -> list[dict[str, Any]]:
    records = []
    for i in range(1000):
        a, b, repeat = i // 100, (i // 10) % 10, i % 10
        status = "failed" if i % 97 == 5 else "completed"
        run_id = f"a={a},b={b},rep={repeat}"
        records.append(
            {
                "experiment": "big",
                "session": folder.name,
                "run_id": run_id,
                "path": str(folder / run_id),
                "sweep": str(folder),
                "node_id": f"test_big.py::test_big[{i}]",
                "status": status,
                "reason": "ValueError: boom" if status == "failed" else None,
                "testing": False,
                "axes": {"a": a, "b": b},
                "repeat": repeat,
                "repeats": 10,
                "seed": repeat,
                "duration": 0.001 * (i % 7),
                "metrics": {"loss": ((i * 7919) % 1000) / 1000 + a},
                "results": {"results/acc": ((i * 104729) % 997) / 997},
                "metric": "loss",
                "mode": "min",
                "source_hash": "0" * 64,
            }
        )
    return records


def test_thousand_run_sweep_files_are_complete(tmp_path: Path) -> None:
    folder = tmp_path / "big" / "2026-01-01_00-00-00_abcd"
    records = _synthetic_records(folder)
    table = sweeptable.build(records)
    sweepfiles.write(table)
    sweep = Sweep(folder)

    rows = sweep.csv_rows()
    assert len(rows) == 1000
    assert len({row["run"] for row in rows}) == 1000
    written = sweep.table
    assert len(written["rows"]) == 1000
    _csv_matches_json(sweep)
    _markdown_lists_every_run(sweep)

    good = [r for r in records if r["status"] == "completed"]
    losses = [row["loss"] for row in written["rows"][: len(good)]]
    assert losses == sorted(r["metrics"]["loss"] for r in good)
    assert {row["status"] for row in written["rows"][len(good) :]} == {"failed"}
    best = min(good, key=lambda r: r["metrics"]["loss"])
    assert written["best"] == best["run_id"]

    _check_aggregate(written, ["loss", "results/acc"])
    assert len(written["aggregate"]) == 100
    assert sum(e["failures"] for e in written["aggregate"]) == 1000 - len(good)

    cells = _cells(written["pivot"])
    assert len(cells) == 100
    for (a, b), value in cells.items():
        values = [r["metrics"]["loss"] for r in good if r["axes"] == {"a": a, "b": b}]
        assert value == pytest.approx(numpy.mean(values), rel=1e-12)


# -- fixes from the review of issue 3 ------------------------------------------------

ORDERED = """
    import pytest

    @pytest.mark.parametrize("k", list("abcdef"))
    def test_ord(exp, k):
        exp["results/k"] = k
"""


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_resume_survives_a_broken_archived_run_and_keeps_grid_order(
    pytester: pytest.Pytester, mode: list[str]
) -> None:
    pytester.makepyfile(test_ord=ORDERED)
    _, first = session(pytester, *mode, "test_ord.py::test_ord[e]", "test_ord.py::test_ord[f]")
    session(pytester, *mode, "test_ord.py::test_ord[a]")
    broken = first["ord"].folder / "k=e" / "config.yaml"
    broken.write_text("")
    result, sweeps = session(pytester, *mode, "--exp-resume")
    result.assert_outcomes(passed=4, skipped=2)
    rows = sweeps["ord"].rows
    assert [r["run"] for r in rows] == [f"k={k}" for k in "abcdef"], "the grid's order"
    statuses = {r["run"]: r["status"] for r in rows}
    assert statuses == {
        "k=a": "reused",
        "k=b": "completed",
        "k=c": "completed",
        "k=d": "completed",
        "k=e": "completed",
        "k=f": "reused",
    }, "the broken run's point ran again"
    assert sweeps["ord"].table["session"] == sweeps["ord"].folder.name


def test_reused_rows_take_the_current_grids_axes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_lr="""
        import pytest
        LR: float = 0.1

        @pytest.mark.experiment(metric="loss")
        @pytest.mark.parametrize("k", [0, 1])
        def test_lr(exp, k):
            exp.track("loss", exp.LR + k)
        """
    )
    session(pytester, "-p", "no:xdist", "--exp-set", "LR=0.01")
    result, sweeps = session(
        pytester, "-p", "no:xdist", "--exp-resume", "--exp-sweep", "LR=0.01,0.1"
    )
    result.assert_outcomes(passed=2, skipped=2)
    rows = sweeps["lr"].rows
    assert sorted((r["k"], r["LR"], r["status"]) for r in rows) == [
        (0, 0.01, "reused"),
        (0, 0.1, "completed"),
        (1, 0.01, "reused"),
        (1, 0.1, "completed"),
    ]
    pivot = sweeps["lr"].table["pivot"]
    assert pivot["columns"] == [0.01, 0.1] and None not in pivot["columns"]


def test_an_axis_named_like_a_table_column_is_kept_apart(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_col="""
        import pytest

        @pytest.mark.experiment(metric="loss", repeats=2)
        @pytest.mark.parametrize("seed", [1, 2])
        def test_col(exp, seed):
            exp.track("status", 0.5)
            exp.track("loss", float(seed))
        """
    )
    result, sweeps = session(pytester, "-p", "no:xdist")
    result.assert_outcomes(passed=4)
    table = sweeps["col"].table
    assert {"seed (axis)", "status (series)", "seed", "status"} <= set(table["columns"])
    assert {r["status"] for r in table["rows"]} == {"completed"}
    assert sorted(r["seed (axis)"] for r in table["rows"]) == [1, 1, 2, 2]
    assert table["best"] is not None
    assert len(sweeps["col"].csv_header()) == len(set(sweeps["col"].csv_header()))


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_points_that_never_start_a_run_keep_their_row(
    pytester: pytest.Pytester, mode: list[str]
) -> None:
    pytester.makepyfile(
        test_pre="""
        import pytest

        @pytest.fixture
        def data(k):
            if k == 1:
                raise OSError("no data for 1")
            if k == 2:
                pytest.skip("no GPU")
            return k

        @pytest.fixture
        def late(exp, k):
            if k == 4:
                pytest.skip("late skip")

        @pytest.mark.parametrize(
            "k", [0, 1, 2, pytest.param(3, marks=pytest.mark.skip(reason="later")), 4]
        )
        def test_pre(data, exp, late, k):
            exp.track("loss", float(k))
        """
    )
    result, sweeps = session(pytester, *mode)
    result.assert_outcomes(passed=1, errors=1, skipped=3)
    rows = {r["run"]: (r["status"], r["reason"]) for r in sweeps["pre"].rows}
    assert rows == {
        "k=0": ("completed", None),
        "k=1": ("failed", "OSError: no data for 1"),
        "k=2": ("skipped", "no GPU"),
        "k=3": ("skipped", "later"),
        "k=4": ("skipped", "late skip"),
    }
    assert sorted(p.name for p in sweeps["pre"].folder.iterdir() if p.is_dir()) == ["k=0", "k=4"]


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        ("repeats=0", "(repeats=0): a whole number of at least 1"),
        ("repeats=False", "(repeats=False): a whole number of at least 1"),
        ("mode='maximum'", "(mode='maximum'): use 'min' or 'max'"),
        ("metric=5", "(metric=5): name a series or a results/ key"),
    ],
)
@pytest.mark.parametrize("mode", XDIST_MODES)
def test_bad_marker_values_are_usage_errors(
    pytester: pytest.Pytester, mode: list[str], marker: str, message: str
) -> None:
    pytester.makepyfile(
        test_bad=f"""
        import pytest
        @pytest.mark.experiment({marker})
        def test_bad(exp):
            pass
        """
    )
    result = pytester.runpytest(*mode)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()
    assert not (pytester.path / "results").exists()


def test_a_repeated_sweep_value_is_refused(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_lr="LR = 0.1\ndef test_lr(exp):\n    pass\n")
    result = pytester.runpytest("--exp-sweep", "LR=0.1,0.10,1e-1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--exp-sweep 'LR=0.1,0.10,1e-1': 0.1 is given more than once" in result.stderr.str()


def test_ctrl_c_during_a_fixture_teardown_leaves_no_running_row(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_slow="""
        import pytest

        @pytest.fixture
        def after(exp):
            yield
            raise KeyboardInterrupt

        @pytest.mark.parametrize("k", [0, 1, 2])
        def test_slow(exp, after, k):
            exp.track("loss", float(k))
        """
    )
    result, sweeps = session(pytester, "-p", "no:xdist", subprocess=True)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    table = sweeps["slow"].table
    assert table["interrupted"] is True
    assert [r["status"] for r in table["rows"]] == ["completed"], "its run finished"
    assert "running" not in (sweeps["slow"].folder / "k=0" / "summary.json").read_text()
