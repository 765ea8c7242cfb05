"""GPUs: finding them, reading their memory and use, and giving each xdist worker its own.

`--exp-gpus auto|0,1,...` with `--exp-gpus-per-run K` splits the devices into
groups of K and gives worker gwN group N (round robin) through
CUDA_VISIBLE_DEVICES, set in the worker's pytest_configure, before any test
module imports a framework; the old value comes back when the session ends.
Under SLURM (SLURM_JOB_GPUS or SLURM_STEP_GPUS set) the allocation is the
scheduler's: it is recorded, never changed. Devices are found through NVML
(`pynvml`, from nvidia-ml-py) when it is installed, else `nvidia-smi -L`; NVML is
imported only when asked for, and its absence is remembered.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any

import pytest

VISIBLE = "CUDA_VISIBLE_DEVICES"
SLURM_GPU_VARS = ("SLURM_JOB_GPUS", "SLURM_STEP_GPUS", "SLURM_GPUS_ON_NODE", "SLURM_JOB_GRES")

_nvml: Any = None  # the initialised pynvml module, False once it is known to be absent
_assigned: dict[str, Any] | None = None  # what --exp-gpus did in this process


class GpuError(ValueError):
    """Bad --exp-gpus or --exp-gpus-per-run, or GPUs asked for and none found."""


def nvml() -> Any:
    """Return pynvml, initialised, or None when it is not installed or finds no driver."""
    global _nvml
    if _nvml is None:
        try:
            import pynvml

            pynvml.nvmlInit()
            _nvml = pynvml
        except Exception:  # not installed, no driver, no device: no GPU readings
            _nvml = False
    return _nvml or None


def detect() -> list[str]:
    """The device ids CUDA would number from 0: the visible ones, else NVML's, else nvidia-smi's."""
    visible = os.environ.get(VISIBLE)
    if visible is not None and visible.strip():
        return [d.strip() for d in visible.split(",") if d.strip()]
    lib = nvml()
    if lib is not None:
        try:
            return [str(i) for i in range(lib.nvmlDeviceGetCount())]
        except Exception:
            return []
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        done = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return []
    lines = [line for line in done.stdout.splitlines() if line.startswith("GPU ")]
    return [str(i) for i in range(len(lines))] if done.returncode == 0 else []


def _number(text: str) -> bool:
    return text.isascii() and text.isdigit()


def parse(spec: str, per_run: int) -> list[str] | None:
    """Check --exp-gpus and --exp-gpus-per-run; the device ids given, or None for auto."""
    if per_run < 1:
        raise GpuError(f"--exp-gpus-per-run {per_run}: give a whole number of 1 or more")
    if spec.strip() == "auto":
        return None
    ids = [part.strip() for part in spec.split(",")]
    bad = [part for part in ids if not _number(part)]
    if bad or not ids:
        raise GpuError(
            f"--exp-gpus {spec}: {bad[0] if bad else spec!r} is no device number; "
            "give 'auto' or device numbers separated by commas, as --exp-gpus 0,1,2,3"
        )
    if len(set(ids)) != len(ids):
        raise GpuError(f"--exp-gpus {spec}: a device is named twice")
    return ids


def slurm_allocation() -> dict[str, str] | None:
    """The GPU variables SLURM set for this process (its --gres allocation), if any."""
    found = {name: os.environ[name] for name in SLURM_GPU_VARS if os.environ.get(name)}
    return found or None


def configure(config: pytest.Config) -> None:
    """Apply --exp-gpus to this process (a usage error if it is wrong); undone at the end."""
    spec = config.getoption("exp_gpus")
    per_run = config.getoption("exp_gpus_per_run")
    workerinput = getattr(config, "workerinput", None)
    worker = workerinput.get("workerid") if workerinput is not None else None
    controller = worker is None and bool(getattr(config.option, "numprocesses", None))
    previous = os.environ.get(VISIBLE)
    try:
        if not spec:
            raise GpuError("--exp-gpus-per-run needs --exp-gpus (auto or device numbers)")
        assign(spec, per_run, worker, sets=not controller)
    except GpuError as error:
        raise pytest.UsageError(str(error)) from None
    config.add_cleanup(lambda: restore(previous))


def assign(spec: str, per_run: int, worker: str | None, sets: bool = True) -> dict[str, Any]:
    """Check the options and set this process's CUDA_VISIBLE_DEVICES; return what was done.

    worker: the xdist worker id (gw0, gw1...), None in the controller or a lone process
    (which takes the first group). sets=False (an xdist controller) only checks: its
    workers find the same devices and set their own.
    """
    global _assigned
    given = parse(spec, per_run)
    slurm = slurm_allocation()
    if slurm is not None and (slurm.get("SLURM_JOB_GPUS") or slurm.get("SLURM_STEP_GPUS")):
        _assigned = {"requested": spec, "per_run": per_run, "source": "slurm", "slurm": slurm}
        return _assigned
    devices = detect() if given is None else given
    if not devices:
        raise GpuError(
            f"--exp-gpus {spec}: no GPU found (no {VISIBLE}, no NVML through pynvml, "
            "no nvidia-smi); leave --exp-gpus out to run on the CPU"
        )
    if per_run > len(devices):
        raise GpuError(
            f"--exp-gpus-per-run {per_run}: more than the {len(devices)} device(s) of "
            f"--exp-gpus {spec} ({','.join(devices)})"
        )
    groups = [devices[i : i + per_run] for i in range(0, len(devices) - per_run + 1, per_run)]
    index = int(worker[2:]) if worker and worker[2:].isdigit() else 0
    group = ",".join(groups[index % len(groups)])
    _assigned = {"requested": spec, "per_run": per_run, "source": "expharness", "devices": group}
    if sets:
        os.environ[VISIBLE] = group
    return _assigned


def restore(previous: str | None) -> None:
    """Put CUDA_VISIBLE_DEVICES back as it was before assign (the session has ended)."""
    global _assigned
    _assigned = None
    if previous is None:
        os.environ.pop(VISIBLE, None)
    else:
        os.environ[VISIBLE] = previous


def header() -> dict[str, Any] | None:
    """What config.yaml records as `gpus`: the run's visible devices and who chose them."""
    visible = os.environ.get(VISIBLE)
    slurm = slurm_allocation()
    if _assigned is None and visible is None and slurm is None:
        return None
    found: dict[str, Any] = {"visible": visible, "source": "environment"}
    if _assigned is not None:
        found.update({k: v for k, v in _assigned.items() if k != "devices"})
    if slurm is not None:
        found["slurm"] = slurm
    return found


def readings(lib: Any, devices: list[Any]) -> list[dict[str, float]]:
    """Memory used (MB) and utilisation (%) of each device handle, now."""
    found = []
    for handle in devices:
        memory = lib.nvmlDeviceGetMemoryInfo(handle)
        rates = lib.nvmlDeviceGetUtilizationRates(handle)
        found.append({"memory_mb": memory.used / 2**20, "util_percent": float(rates.gpu)})
    return found


def handles(lib: Any) -> list[tuple[str, Any, str]]:
    """(id, NVML handle, name) of each device this process sees (CUDA_VISIBLE_DEVICES)."""
    count = lib.nvmlDeviceGetCount()
    visible = os.environ.get(VISIBLE)
    if visible is None:
        ids = [str(i) for i in range(count)]
    else:
        ids = [d.strip() for d in visible.split(",") if _number(d.strip())]  # not UUIDs
    found = []
    for ident in ids:
        if int(ident) < count:
            handle = lib.nvmlDeviceGetHandleByIndex(int(ident))
            name = lib.nvmlDeviceGetName(handle)
            found.append((ident, handle, name.decode() if isinstance(name, bytes) else str(name)))
    return found
