"""--exp-gpus: each xdist worker its own CUDA_VISIBLE_DEVICES, recorded; SLURM's left alone."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_expharness.session import gpus

from conftest import XDIST_MODES, Archive

# the module reads the variable when it is imported: before any test body runs
RECORD = """
import os
import pytest

AT_IMPORT = os.environ.get("CUDA_VISIBLE_DEVICES")

@pytest.mark.parametrize("point", range(4))
def test_gpu(exp, point):
    exp["results/at_import"] = AT_IMPORT
    exp["results/in_run"] = os.environ.get("CUDA_VISIBLE_DEVICES")
"""

FAKE_SMI = """#!/bin/sh
[ "$1" = "-L" ] || exit 2
echo "GPU 0: Fake A (UUID: GPU-0)"
echo "GPU 1: Fake B (UUID: GPU-1)"
echo "GPU 2: Fake C (UUID: GPU-2)"
"""


@pytest.fixture(autouse=True)
def _no_gpus_around(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (gpus.VISIBLE, *gpus.SLURM_GPU_VARS):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(gpus, "_nvml", None)


def _seen(archive: Archive) -> list[tuple[int, str, str, dict[str, object]]]:
    """(pid, CUDA_VISIBLE_DEVICES at import, in the run, config.yaml's gpus) of each run."""
    found = []
    for run in archive.runs("gpu"):
        results = archive.summary(run)["results"]
        header = archive.config(run)["experiment"]["gpus"]
        found.append(
            (
                archive.summary(run)["pid"],
                results["results/at_import"],
                results["results/in_run"],
                header,
            )
        )
    return found


def test_each_worker_gets_its_own_devices_before_test_modules_import(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(test_gpu=RECORD)
    args = ("-n", "2", "-p", "no:randomly", "--exp-gpus", "0,1,2,3", "--exp-gpus-per-run", "2")
    pytester.runpytest(*args).assert_outcomes(passed=4)
    seen = _seen(archive)
    assert len(seen) == 4
    by_pid: dict[int, set[str]] = {}
    for pid, at_import, in_run, header in seen:
        assert at_import == in_run == header["visible"]
        assert header["source"] == "expharness" and header["requested"] == "0,1,2,3"
        assert header["per_run"] == 2
        by_pid.setdefault(pid, set()).add(in_run)
    assert all(len(values) == 1 for values in by_pid.values())  # one device set per worker
    assert set().union(*by_pid.values()) <= {"0,1", "2,3"}
    if len(by_pid) == 2:  # both workers ran some
        assert set().union(*by_pid.values()) == {"0,1", "2,3"}
    assert gpus.VISIBLE not in os.environ  # the controller changed nothing


def test_a_lone_process_takes_the_first_set_and_gives_it_back(
    pytester: pytest.Pytester, archive: Archive
) -> None:
    pytester.makepyfile(test_gpu=RECORD)
    pytester.runpytest("-p", "no:xdist", "--exp-gpus", "3,1").assert_outcomes(passed=4)
    assert {(s[1], s[2], s[3]["visible"]) for s in _seen(archive)} == {("3", "3", "3")}
    assert gpus.VISIBLE not in os.environ and gpus._assigned is None


def test_auto_finds_the_devices_through_nvidia_smi(
    pytester: pytest.Pytester, archive: Archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = pytester.path / "bin"
    bin_dir.mkdir()
    smi = bin_dir / "nvidia-smi"
    smi.write_text(FAKE_SMI)
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    pytester.makepyfile(test_gpu=RECORD)
    pytester.runpytest("-n", "2", "-p", "no:randomly", "--exp-gpus", "auto").assert_outcomes(
        passed=4
    )
    values = {s[2] for s in _seen(archive)}
    assert values <= {"0", "1"} and values  # gw0 takes device 0, gw1 device 1
    assert {s[3]["requested"] for s in _seen(archive)} == {"auto"}


@pytest.mark.parametrize("mode", XDIST_MODES)
def test_a_slurm_allocation_is_recorded_not_changed(
    pytester: pytest.Pytester, archive: Archive, monkeypatch: pytest.MonkeyPatch, mode: list[str]
) -> None:
    monkeypatch.setenv("SLURM_JOB_GPUS", "5,7")
    monkeypatch.setenv(gpus.VISIBLE, "0,1")  # as SLURM sets it for --gres=gpu:2
    pytester.makepyfile(test_gpu=RECORD)
    pytester.runpytest(*mode, "-p", "no:randomly", "--exp-gpus", "auto").assert_outcomes(passed=4)
    for _, at_import, in_run, header in _seen(archive):
        assert at_import == in_run == "0,1"
        assert header["source"] == "slurm" and header["slurm"] == {"SLURM_JOB_GPUS": "5,7"}
    assert os.environ[gpus.VISIBLE] == "0,1"


def test_without_the_option_config_records_the_environment_only(
    pytester: pytest.Pytester, archive: Archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_gpu=RECORD)
    pytester.runpytest("-p", "no:xdist", "-k", "0").assert_outcomes(passed=1, deselected=3)
    assert archive.config(archive.run("gpu"))["experiment"]["gpus"] is None
    monkeypatch.setenv(gpus.VISIBLE, "2")
    pytester.runpytest("-p", "no:xdist", "-k", "1").assert_outcomes(passed=1, deselected=3)
    headers = [archive.config(r)["experiment"]["gpus"] for r in archive.runs("gpu")]
    assert {"visible": "2", "source": "environment"} in headers


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--exp-gpus", "0,x"], "*--exp-gpus 0,x: 'x' is no device number*"),
        (["--exp-gpus", "0,0"], "*--exp-gpus 0,0: a device is named twice*"),
        (["--exp-gpus", "0", "--exp-gpus-per-run", "0"], "*--exp-gpus-per-run 0: give *1 or more*"),
        (["--exp-gpus", "0,1", "--exp-gpus-per-run", "3"], "*more than the 2 device(s)*"),
        (["--exp-gpus-per-run", "2"], "*--exp-gpus-per-run needs --exp-gpus*"),
        (["--exp-gpus", "auto"], "*--exp-gpus auto: no GPU found*"),
    ],
)
def test_bad_gpu_options_are_usage_errors_before_any_run(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    message: str,
) -> None:
    monkeypatch.setenv("PATH", str(pytester.path / "no-bin"))  # no nvidia-smi
    monkeypatch.setattr(gpus, "_nvml", False)  # no NVML
    pytester.makepyfile(test_gpu=RECORD)
    result = pytester.runpytest("-p", "no:xdist", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert not (pytester.path / "results").exists()
    assert gpus.VISIBLE not in os.environ


@given(st.lists(st.integers(0, 10_000), min_size=1, max_size=16, unique=True))
def test_device_lists_read_back(devices: list[int]) -> None:
    text = ",".join(map(str, devices))
    assert gpus.parse(text, 1) == [str(d) for d in devices]


@given(st.text(min_size=1).filter(lambda t: t.strip() != "auto"))
def test_anything_else_is_refused_or_read_as_device_numbers(text: str) -> None:
    try:
        found = gpus.parse(text, 1)
    except gpus.GpuError as error:
        assert "--exp-gpus" in str(error)
    else:
        assert found is not None and all(part.isascii() and part.isdigit() for part in found)


def test_groups_go_round_robin(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(os, "environ", dict(os.environ))
    taken = [gpus.assign("0,1,2,3,4", 2, f"gw{n}")["devices"] for n in range(5)]
    assert taken == ["0,1", "2,3", "0,1", "2,3", "0,1"]  # device 4 makes no whole pair
    gpus.restore(None)
