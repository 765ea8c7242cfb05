"""The end of a session at scale: report.html reads what its charts show, and shows every curve."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_expharness.sweep.html import sample

from conftest import Archive


def _write_run(folder: Path, series: dict[str, list[float]]) -> dict[str, Any]:
    """A metrics.csv grouped by series as a finished run writes it; return its summary."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "metrics.csv", "w", encoding="utf-8") as out:
        out.write("step,name,value,time\n")
        for name, values in series.items():
            out.writelines(f"{s},{name},{v!r},1.0\n" for s, v in enumerate(values))
    metrics = {
        name: {"final": values[-1], "count": len(values), "last_step": len(values) - 1}
        for name, values in series.items()
    }
    return {"metrics": metrics}


def test_a_million_point_run_is_sampled_not_read(tmp_path: Path, monkeypatch: Any) -> None:
    n = 1_000_000
    values = [math.sin(i / 1000.0) for i in range(n)]
    summary = _write_run(tmp_path / "run", {"loss": values, "acc": values[:1000]})
    size = (tmp_path / "run" / "metrics.csv").stat().st_size
    read: list[int] = []
    real_pread = sample.os.pread

    def counting(fd: int, length: int, offset: int) -> bytes:
        read.append(length)
        return real_pread(fd, length, offset)

    def no_open(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a large metrics.csv was opened to be read whole")

    monkeypatch.setattr(sample.os, "pread", counting)
    monkeypatch.setattr(sample, "open", no_open, raising=False)
    curves = sample.read_curves(tmp_path / "run", summary, 1000, 1000)
    assert sum(read) < size / 20  # a bounded sample, not the file
    assert curves.thinned
    loss = curves["loss"]
    assert 500 <= len(loss) <= 2001
    assert loss.steps[-1] == n - 1 and loss[-1] == values[-1]  # ends on its final value
    assert loss.steps == sorted(loss.steps)
    assert all(v == values[s] for s, v in zip(loss.steps, loss, strict=True))


@settings(max_examples=60, deadline=None)
@given(
    series=st.dictionaries(
        st.from_regex(r"[a-z][a-z0-9_.]{0,8}", fullmatch=True),
        st.lists(
            st.floats(allow_nan=True, allow_infinity=False, width=32), min_size=1, max_size=300
        ),
        min_size=1,
        max_size=3,
    ),
    budget=st.integers(min_value=sample.MIN_POINTS, max_value=120),
    limit=st.integers(min_value=0, max_value=400),
)
def test_curves_read_back_within_their_budget(
    tmp_path_factory: Any, series: dict[str, list[float]], budget: int, limit: int
) -> None:
    folder = tmp_path_factory.mktemp("run")
    summary = _write_run(folder, series)
    curves = sample.read_curves(folder, summary, budget, limit)
    assert list(curves) == list(series)
    for name, values in series.items():
        curve = curves[name]
        assert len(curve) <= budget
        assert len(curve) == len(curve.steps)
        assert curve.steps[-1] == len(values) - 1  # the final point is always drawn
        assert repr(curve[-1]) == repr(values[-1])
        if len(values) <= budget:  # short enough: every point, as tracked
            assert [repr(v) for v in curve] == [repr(v) for v in values]
            assert list(curve.steps) == list(range(len(values)))
        elif len(values) <= limit:  # read whole, thinned by extremes: the extremes stay
            finite = [v for v in values if math.isfinite(v)]
            if finite:
                assert min(finite) in curve and max(finite) in curve
    assert curves.thinned == any(len(v) > budget for v in series.values())


def test_an_interleaved_metrics_csv_is_read_whole(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    lines = ["step,name,value,time\n"]
    for step in range(50):
        lines += [f"{step},a,{step * 1.0},1.0\n", f"{step},b,{-step * 1.0},1.0\n"]
    (folder / "metrics.csv").write_text("".join(lines))
    summary = {"metrics": {"a": {"count": 50}, "b": {"count": 50}}}
    curves = sample.read_curves(folder, summary, 10, 10)
    assert curves["a"].steps[-1] == 49 and curves["a"][-1] == 49.0
    assert curves["b"][-1] == -49.0 and min(curves["b"]) == -49.0
    assert len(curves["a"]) <= 10


LONG = """
import pytest

@pytest.mark.parametrize("lr", [1, 2, 3])
def test_long(exp, lr):
    for step in range(exp.POINTS):
        exp.track("loss", lr + (step % 97) / 97.0)
        exp.track("acc", float(step))

POINTS = {points}
"""


def _curves_per_chart(page: str) -> list[set[str]]:
    charts = re.findall(r"<figure class='chart' data-series='[^']*'>(.*?)</figure>", page, re.S)
    return [set(re.findall(r'<g class="curve[^"]*" data-run="([^"]+)"', c)) for c in charts]


@pytest.mark.parametrize("mode", [["-p", "no:xdist"], ["-n", "2"]], ids=["no-xdist", "xdist"])
def test_every_curve_is_drawn_and_thinning_is_said(
    pytester: pytest.Pytester, archive: Archive, mode: list[str]
) -> None:
    pytester.makepyfile(test_long=LONG.format(points=3000))
    pytester.runpytest(*mode).assert_outcomes(passed=3)
    (page,) = archive.root.glob("long/*/report.html")
    text = page.read_text()
    assert _curves_per_chart(text) == [{"lr=1", "lr=2", "lr=3"}] * 2
    assert "every curve is drawn from at most 1000 of its points" in text
    assert "metrics.csv holds every point" in text
    for points in re.findall(r'points="([^"]+)"', text):
        assert len(points.split()) <= 1000
    summary = json.loads(next(page.parent.glob("lr=1/summary.json")).read_text())
    assert summary["metrics"]["loss"]["count"] == 3000  # the run itself keeps every point


def test_short_curves_are_drawn_whole_without_a_note(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(test_long=LONG.format(points=40))
    pytester.runpytest("-p", "no:xdist").assert_outcomes(passed=3)
    (page,) = archive.root.glob("long/*/report.html")
    text = page.read_text()
    assert _curves_per_chart(text) == [{"lr=1", "lr=2", "lr=3"}] * 2
    assert "class='thinned'" not in text
    lines = re.findall(r'<g class="curve[^"]*" data-run="lr=2"[^>]*><title>[^<]*</title>'
                       r'<polyline id="[^"]+" points="([^"]+)"', text)  # fmt: skip
    assert [len(p.split()) for p in lines] == [40, 40]


def test_the_collector_pauses_then_restores_the_garbage_collector(tmp_path: Path) -> None:
    import gc

    from pytest_expharness.sweep import end

    seen: list[bool] = []
    real = end._finalize
    try:
        end._finalize = lambda *a: seen.append(gc.isenabled()) or []  # type: ignore[assignment]
        assert gc.isenabled()
        assert end.finalize([], tmp_path, "stamp", False) == []
    finally:
        end._finalize = real  # type: ignore[assignment]
    assert seen == [False] and gc.isenabled()


def test_a_run_with_series_is_read_by_offset_exactly(tmp_path: Path, monkeypatch: Any) -> None:
    from pytest_expharness.archive import seriesfiles

    n = 1_000_000
    folder = tmp_path / "run"
    folder.mkdir()
    values = [math.sin(i / 1000.0) for i in range(n)]
    flat: list[Any] = []
    for i, v in enumerate(values):
        flat += [v, i * 2, 1.0]
    seriesfiles.write(folder, iter([("loss", flat), ("acc", flat[: 3 * 500])]), columnar=True)
    size = (folder / "series" / "loss.npy").stat().st_size
    read: list[int] = []
    real_open = open

    def counting_open(*args: Any, **kwargs: Any) -> Any:
        handle = real_open(*args, **kwargs)
        real_read = handle.read

        def counted(length: int = -1) -> bytes:
            data: bytes = real_read(length)
            read.append(len(data))
            return data

        handle.read = counted
        return handle

    monkeypatch.setattr(seriesfiles, "open", counting_open, raising=False)
    (folder / "metrics.csv").unlink()  # series/ is read, never the CSV
    curves = sample.read_curves(folder, {}, 1000, 1000)
    assert sum(read) < size / 100  # a thousand records and a few headers, not 24 MB
    loss = curves["loss"]
    assert curves.thinned and len(loss) <= 1000
    assert loss.steps[0] == 0 and loss.steps[-1] == 2 * (n - 1) and loss[-1] == values[-1]
    assert all(v == values[s // 2] for s, v in zip(loss.steps, loss, strict=True))
    acc = curves["acc"]  # short: whole, exact
    assert list(acc) == values[:500] and list(acc.steps) == [2 * i for i in range(500)]


MANY = """
import pytest

@pytest.mark.experiment(metric="loss")
@pytest.mark.parametrize("beta", range(10))
@pytest.mark.parametrize("lr", [0.001 * (i + 1) for i in range(12)])
def test_many(exp, lr, beta):
    for step in range(30):
        exp.track_many({"loss": lr / (step + 1) + beta, "accuracy": step * lr, "grad_norm": beta})
    if beta == 3:
        exp.commit_json("a & <b> #1.json", {"beta": beta})
"""
RUN_DATA = re.compile(r'<script type="application/json" id="run-data">(.*?)</script>', re.S)


def _outside_charts(page: str) -> str:
    return re.sub(r"<figure class='chart'.*?</figure>", "", page, flags=re.S)


def test_run_sections_are_one_data_block_of_bounded_size(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(test_many=MANY)
    pytester.runpytest("-p", "no:xdist").assert_outcomes(passed=120)
    (page,) = archive.root.glob("many/*/report.html")
    text = page.read_text()
    assert "<section class='run' id=" not in text.split("<script>")[0], "the script builds them"
    block = json.loads(RUN_DATA.findall(text)[0])
    rows = json.loads((page.parent / "comparison.json").read_text())["rows"]
    assert [entry[1] for entry in block["runs"]] == [row["run"] for row in rows]
    assert block["always"] == ["config.yaml", "summary.json", "run.log", "metrics.csv", "REPORT.md"]
    entry = next(e for e in block["runs"] if e[1] == "lr=0.002,beta=3")
    assert entry[8] == [["lr", "0.002"], ["beta", "3"]]
    assert [row[0] for row in entry[9]] == ["loss", "accuracy", "grad_norm"]
    assert entry[9][2] == ["grad_norm", ["3"], ["3"], ["3"], ["30"]], "final, min, max, count"
    artifact = ["artifacts/a & <b> #1.json", "artifacts/a%20&%20%3Cb%3E%20%231.json"]
    assert entry[11] == [artifact, "plots/loss.svg", "plots/accuracy.svg", "plots/grad_norm.svg"]
    # per run, beside its curves: a table row, a legend entry and its data (was 3 KB with sections)
    per_run = len(_outside_charts(text).encode()) / 120
    assert per_run < 1600, f"{per_run:.0f} bytes a run outside the charts"


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=90),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=80, deadline=None)
@given(records=st.lists(st.dictionaries(st.text(max_size=6), JSON, max_size=5), max_size=4))
def test_shared_records_read_as_they_were_and_share_their_keys(
    records: list[dict[str, Any]],
) -> None:
    from pytest_expharness.catalog.records import Sharer

    sharer = Sharer()
    shared = [sharer.share(json.loads(json.dumps(r))) for r in records]
    assert shared == records
    keys: dict[str, str] = {}
    for record in shared:
        for key in record:
            assert keys.setdefault(key, key) is key, "one string for a key, whatever the record"


@settings(max_examples=80, deadline=None)
@given(
    table=st.fixed_dictionaries(
        {
            "experiment": st.text(),
            "rows": st.lists(st.dictionaries(st.text(), JSON)),
            "pivot": JSON,
        },
        optional={"aggregate": st.lists(st.dictionaries(st.text(), JSON))},
    )
)
def test_comparison_json_reads_back_a_row_a_line(table: dict[str, Any]) -> None:
    from pytest_expharness.sweep.tablefiles import json_text

    text = json_text(table)
    assert json.loads(text) == table
    lines = set(text.split("\n"))
    for row in table["rows"] + (table.get("aggregate") or []):
        assert {f"    {json.dumps(row)}", f"    {json.dumps(row)},"} & lines, "a row a line"
