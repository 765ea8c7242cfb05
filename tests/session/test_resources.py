"""Every run's resources in summary.json, its sys/ series, and GPUs read through NVML."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_expharness.session import gpus

from conftest import XDIST_MODES, Archive

NO_GPU = importlib.util.find_spec("pynvml") is None and shutil.which("nvidia-smi") is None

SPIN = """
import time

def test_spin(exp):
    start = time.process_time()
    while time.process_time() - start < 0.2:  # 0.2 s of CPU
        pass
    end = time.time() + 1.0
    while time.time() < end:
        exp.track("loss", 1.0)
        time.sleep(0.01)
"""

# NVML as nvidia-ml-py's pynvml module shows it: two devices, their memory and use
FAKE_NVML = """
import os

class _Info:
    pass

def nvmlInit():
    if os.environ.get("FAKE_NVML_MARK"):
        open(os.environ["FAKE_NVML_MARK"], "a").write(f"{os.getpid()}\\n")

def nvmlDeviceGetCount():
    return 2

def nvmlDeviceGetHandleByIndex(index):
    return index

def nvmlDeviceGetName(handle):
    return b"Fake GPU %d" % handle

def nvmlDeviceGetMemoryInfo(handle):
    info = _Info()
    info.used = (handle + 1) * 512 * 2**20
    return info

def nvmlDeviceGetUtilizationRates(handle):
    info = _Info()
    info.gpu = 40 + handle
    return info
"""


@pytest.fixture
def fake_nvml(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake pynvml beside the test module: importable once the module is (workers too)."""
    fake = pytester.path / "pynvml.py"
    fake.write_text(FAKE_NVML)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(gpus, "_nvml", None)  # this process may have found none before
    return fake


def _series(run: Path) -> set[str]:
    return {name for _, name, _, _ in Archive.metrics(run)}


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_a_run_records_its_cpu_time_memory_and_sys_series(
    pytester: pytest.Pytester, archive: Archive, mode: list[str]
) -> None:
    pytester.makepyfile(test_spin=SPIN)
    pytester.runpytest(*mode, "-p", "no:randomly", "--exp-sys-interval", "0.2").assert_outcomes(
        passed=1
    )
    run = archive.run("spin")
    used = archive.summary(run)["resources"]
    assert used["cpu_user_s"] + used["cpu_system_s"] >= 0.15
    assert used["wall_s"] >= 1.0
    assert used["peak_rss_bytes"] > 10 * 2**20  # a Python process holds more than 10 MB
    assert used["peak_rss_scope"] in ("run", "process")
    assert {"sys/cpu_percent", "sys/rss_mb"} <= _series(run)
    rss = [v for _, name, v, _ in archive.metrics(run) if name == "sys/rss_mb"]
    assert len(rss) >= 2 and all(v > 10 for v in rss)
    table = (run.parent / "comparison.md").read_text()
    assert "loss" in table and "sys/" not in table  # resource series are no table columns
    page = (run.parent / "report.html").read_text()
    assert "<h2>Resources</h2>" in page and "peak RSS MB" in page


def test_interval_zero_samples_nothing_and_never_imports_nvml(
    pytester: pytest.Pytester, archive: Archive, fake_nvml: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mark = pytester.path / "nvml-imported"
    monkeypatch.setenv("FAKE_NVML_MARK", str(mark))
    pytester.makepyfile(test_spin=SPIN)
    pytester.runpytest("-p", "no:xdist", "--exp-sys-interval", "0").assert_outcomes(passed=1)
    run = archive.run("spin")
    assert _series(run) == {"loss"}
    used = archive.summary(run)["resources"]
    assert used["cpu_user_s"] + used["cpu_system_s"] > 0 and "gpus" not in used
    assert not mark.exists()


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_nvml_gives_each_gpu_its_memory_peak_and_use(
    pytester: pytest.Pytester, archive: Archive, fake_nvml: Path, mode: list[str]
) -> None:
    pytester.makepyfile(test_spin=SPIN)
    args = ("-p", "no:randomly", "--exp-sys-interval", "0.2")
    pytester.runpytest(*mode, *args).assert_outcomes(passed=1)
    run = archive.run("spin")
    found = archive.summary(run)["resources"]["gpus"]
    assert [(g["id"], g["name"], g["memory_peak_mb"]) for g in found] == [
        ("0", "Fake GPU 0", 512.0),
        ("1", "Fake GPU 1", 1024.0),
    ]
    assert [g["util_mean_percent"] for g in found] == [40.0, 41.0]
    assert all(g["samples"] >= 3 for g in found)
    assert {"sys/gpu0/memory_mb", "sys/gpu1/util_percent"} <= _series(run)
    assert "gpu1: 1024.0" in (run.parent / "report.html").read_text()


@pytest.mark.skipif(not NO_GPU, reason="this machine has pynvml or nvidia-smi")
def test_without_nvml_or_nvidia_smi_a_run_has_no_gpu_fields_and_no_error(
    pytester: pytest.Pytester, archive: Archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gpus, "_nvml", None)
    pytester.makepyfile(test_spin=SPIN)
    result = pytester.runpytest("-p", "no:xdist", "--exp-sys-interval", "0.2")
    result.assert_outcomes(passed=1)
    run = archive.run("spin")
    summary = archive.summary(run)
    assert "gpus" not in summary["resources"] and not summary["problems"]
    assert not [n for n in _series(run) if n.startswith("sys/gpu")]
    assert "WARNING" not in archive.log(run)
    assert gpus._nvml is False  # the absence is remembered: not looked for again


def test_a_bad_sys_interval_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_spin=SPIN)
    result = pytester.runpytest("-p", "no:xdist", "--exp-sys-interval", "-1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--exp-sys-interval*give seconds, 0 or more*"])
    assert not (pytester.path / "results").exists()


def test_summary_resources_read_back_as_json(tmp_path: Path) -> None:
    from pytest_expharness.session.resources import Usage

    usage = Usage(0.0)
    found = usage.final(usage.started + 1.5)
    assert json.loads(json.dumps(found)) == found and found["wall_s"] == 1.5


def test_the_live_view_shows_the_runs_own_series_before_its_sys_ones(tmp_path: Path) -> None:
    from pytest_expharness.run.tracking import Tracker

    tracker = Tracker(tmp_path)
    for name in ("sys/cpu_percent", "sys/rss_mb", "loss", "acc"):
        tracker.track_slow(name, 1.0, None)
    tracker.flush()
    step, values = tracker.live_state(None)
    assert list(values) == ["loss", "acc", "sys/cpu_percent", "sys/rss_mb"] and step == 1
    tracker.close()


# -- the table's resource columns (--exp-columns) -----------------------------------------

TWO_POINTS = """
import pytest

@pytest.mark.parametrize("n", [1, 2])
def test_pair(exp, n):
    for i in range(3):
        exp.track("loss", 1.0 / (i + n))
    exp.track("cpu_s", 7.0)  # a series that shares a column's name keeps its own column
"""


def _table(run: Path) -> tuple[list[str], list[dict[str, str]]]:
    import csv

    with open(run.parent / "comparison.csv", newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_exp_columns_add_what_each_run_used_to_the_tables(
    pytester: pytest.Pytester, archive: Archive, mode: list[str]
) -> None:
    pytester.makepyfile(test_pair=TWO_POINTS)
    args = ("--exp-columns", "cpu_s,peak_rss_mb", "--exp-columns", "wall_s")
    result = pytester.runpytest(*mode, "-p", "no:randomly", *args)
    result.assert_outcomes(passed=2)
    runs = archive.runs("pair")
    headers, rows = _table(runs[0])
    assert headers[headers.index("loss") :] == [
        "loss",
        "cpu_s (series)",
        "cpu_s",
        "peak_rss_mb",
        "wall_s",
        "reason",
    ]
    for row, run in zip(rows, runs, strict=True):
        used = archive.summary(run)["resources"]
        assert float(row["cpu_s"]) == round(used["cpu_user_s"] + used["cpu_system_s"], 3)
        assert float(row["peak_rss_mb"]) == round(used["peak_rss_bytes"] / 2**20, 1) > 10
        assert float(row["wall_s"]) == round(used["wall_s"], 3)
        assert row["cpu_s (series)"] == "7.0"
    printed = result.stdout.str()
    assert "peak_rss_mb" in printed and "wall_s" in printed
    saved = json.loads((runs[0].parent / "comparison.json").read_text())
    assert saved["columns"] == headers


def test_ini_resources_and_a_sys_series_as_columns(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(test_spin=SPIN)
    pytester.makeini("[pytest]\nexp_columns = resources sys/rss_mb\n")
    result = pytester.runpytest("-p", "no:xdist", "--exp-sys-interval", "0.2")
    result.assert_outcomes(passed=1)
    run = archive.run("spin")
    headers, [row] = _table(run)
    if NO_GPU:  # no GPU reading in any run: `resources` leaves the GPU columns out
        assert headers[-5:] == ["wall_s", "cpu_s", "peak_rss_mb", "sys/rss_mb", "reason"]
    rss = [v for _, name, v, _ in archive.metrics(run) if name == "sys/rss_mb"]
    assert float(row["sys/rss_mb"]) == pytest.approx(rss[-1])
    assert float(row["cpu_s"]) >= 0.15 and float(row["wall_s"]) >= 1.0


def test_gpu_columns_sum_memory_and_average_use_over_the_runs_gpus(
    pytester: pytest.Pytester, archive: Archive, fake_nvml: Path
) -> None:
    pytester.makepyfile(test_spin=SPIN)
    args = ("--exp-sys-interval", "0.2", "--exp-columns", "resources")
    pytester.runpytest("-p", "no:xdist", *args).assert_outcomes(passed=1)
    headers, [row] = _table(archive.run("spin"))
    assert headers[-3:] == ["gpu_mem_mb", "gpu_util_percent", "reason"]
    assert (row["gpu_mem_mb"], row["gpu_util_percent"]) == ("1536.0", "40.5")


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_an_unknown_column_is_a_usage_error_before_any_run(
    pytester: pytest.Pytester, mode: list[str]
) -> None:
    pytester.makepyfile(test_spin=SPIN)
    result = pytester.runpytest(*mode, "--exp-columns", "cpu_s,gpu_memory")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--exp-columns: no column 'gpu_memory'; known: wall_s, cpu_s*"])
    assert not (pytester.path / "results").exists()


NAMES = st.sampled_from(["wall_s", "cpu_s", "peak_rss_mb", "gpu_mem_mb", "resources", "sys/x"])


@given(st.lists(st.lists(NAMES, max_size=4), max_size=3), st.sampled_from([",", ", ", " ,"]))
def test_parse_keeps_the_order_asked_for_once_each(groups: list[list[str]], sep: str) -> None:
    from pytest_expharness.session.columns import parse

    items = [sep.join(group) for group in groups]
    assert parse(items) == tuple(dict.fromkeys(n for group in groups for n in group))


@given(st.text(max_size=30))
def test_parse_refuses_every_name_it_does_not_know(text: str) -> None:
    from pytest_expharness.session.columns import RESOURCES, ColumnError, parse

    try:
        found = parse([text])
    except ColumnError as error:
        assert "--exp-columns: no column" in str(error)
    else:
        assert all(n in (*RESOURCES, "resources") or n.startswith("sys/") for n in found)
