"""Our names as MLflow keys: always valid for MLflow, distinct within a run, stable across runs."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import mlflow  # noqa: F401  (loaded before any pytester session: tests/conftest.py)
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.utils.validation import _validate_metric_name, _validate_param_name, _validate_tag_name

from pytest_expharness.archive.metricsfile import Columns, csv_text
from pytest_expharness.mirror.keys import MAX_KEY, Keys, metric_name, mlflow_key
from pytest_expharness.mirror.mlflow import export

NAMES = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters=",\r\n\x85\u2028\u2029"),
    min_size=1,
    max_size=300,
)


def _valid(key: str) -> bool:
    try:
        for check in (_validate_metric_name, _validate_param_name, _validate_tag_name):
            check(key)
    except MlflowException:
        return False
    return len(key) <= MAX_KEY


@given(st.lists(NAMES | st.sampled_from(["a/b", "a_b", "a+b", "sys/cpu", "system/cpu", "."])))
def test_keys_are_valid_distinct_and_keep_valid_names(names: list[str]) -> None:
    names = list(dict.fromkeys(names))
    keys = Keys(names)
    mapped = [keys[n] for n in names]
    assert all(_valid(k) for k in mapped), [k for k in mapped if not _valid(k)]
    assert len(set(mapped)) == len(names), "two names, one key"
    for name in names:
        if _valid(name) and ":" not in name:  # `:` goes too: Windows servers refuse it
            assert keys[name] == name, "a valid key stays as it is"
    assert not any(":" in k for k in mapped)
    if len({mlflow_key(n) for n in names}) == len(names):  # no two collide: order is no matter
        again = Keys(reversed(names))
        assert {n: again[n] for n in names} == {n: keys[n] for n in names}


def test_the_documented_mapping() -> None:
    assert [mlflow_key(n) for n in ("loss.kl.z", "acc/top1", "loss[0]", "/a//b/", "a/../b")] == [
        "loss.kl.z", "acc/top1", "loss_0_", "a/b", "a/__/b",
    ]  # fmt: skip
    assert metric_name("sys/rss_mb") == "system/rss_mb" and metric_name("sysx") == "sysx"
    keys = Keys(["a+b", "a_b"])
    assert keys["a_b"] == "a_b" and keys["a+b"].startswith("a_b-") and len(keys["a+b"]) == 12


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MlflowClient, str]]:
    uri = f"sqlite:///{tmp_path_factory.mktemp('store') / 'mlflow.db'}"
    yield MlflowClient(uri), uri


POINTS = st.lists(
    st.tuples(
        st.floats(allow_nan=True, allow_infinity=False, width=64),
        st.integers(-(2**63), 2**63 - 1),
        st.floats(0, 4e9, allow_nan=False),
    ),
    min_size=1,
    max_size=5,
)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(series=st.dictionaries(NAMES.filter(lambda n: len(n) <= 40), POINTS, min_size=1, max_size=3))
def test_any_series_reads_back_from_mlflow_under_its_key(
    tmp_path_factory: pytest.TempPathFactory,
    client: tuple[MlflowClient, str],
    series: dict[str, list[tuple[float, int, float]]],
) -> None:
    mlflow_client, uri = client
    folder = _run_folder(tmp_path_factory.mktemp("fit"), series)
    done = export([folder], uri)
    assert len(done.added) == 1
    (mirror,) = [
        r
        for r in mlflow_client.search_runs(
            [mlflow_client.get_experiment_by_name("fit").experiment_id]
        )
        if r.data.tags["expharness.session"] == folder.parent.name
    ]
    keys = Keys(metric_name(n) for n in series)
    for name, points in series.items():
        history = mlflow_client.get_metric_history(mirror.info.run_id, keys[metric_name(name)])
        got = sorted((m.step, int(m.timestamp)) for m in history)
        assert got == sorted((s, int(t * 1000)) for _, s, t in points)
        values = sorted((m.step, int(m.timestamp), m.value) for m in history)
        for (_, _, value), (wrote, _, _) in zip(
            values, sorted(points, key=lambda p: (p[1], int(p[2] * 1000))), strict=True
        ):
            assert math.isnan(value) if math.isnan(wrote) else value == wrote


def _run_folder(base: Path, series: dict[str, list[tuple[float, int, float]]]) -> Path:
    """A finished run folder holding the series (the files a run writes that a mirror reads)."""
    import json

    folder = base / base.name / "r"
    folder.mkdir(parents=True)
    columns = {n: Columns.of(*map(list, zip(*p, strict=True))) for n, p in series.items()}
    (folder / "metrics.csv").write_text(csv_text(columns), "utf-8")
    header = {"name": "fit", "run_id": "r", "session": base.name, "tags": []}
    (folder / "config.yaml").write_text(json.dumps({"experiment": header, "parameters": {}}))
    summary = {"status": "completed", "metrics": {n: {} for n in series}}
    (folder / "summary.json").write_text(json.dumps(summary))
    return folder
