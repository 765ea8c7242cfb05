"""What a run used: wall and CPU time, peak memory, GPU memory and use; `sys/` series as it goes.

CPU time is the process's (resource.getrusage) between the run's start and end:
runs of one process one after the other (an xdist worker's) each get their own,
and runs that overlap in one process share it. Peak RSS is the kernel's
high-water mark (VmHWM of /proc/self/status), reset when the run starts where
Linux allows it (`peak_rss_scope: run`), else the process's peak so far
(`process`). The flusher thread calls `sample` every `--exp-sys-interval`
seconds (at the flusher's 0.25 s resolution): CPU percent and RSS of the process,
and memory and use of each visible GPU when NVML answers (session/gpus.py);
those samples make the GPU peaks and means of the summary. An interval of 0
samples nothing and never imports NVML.
"""

from __future__ import annotations

import contextlib
import os
import resource
import time
from typing import Any

from . import gpus

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _cpu() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


def _reset_peak() -> bool:
    """Reset the kernel's peak RSS of this process (Linux 4.0+); whether it could."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def peak_rss() -> int | None:
    """The peak resident memory of this process, in bytes (VmHWM, else ru_maxrss)."""
    try:
        with open("/proc/self/status", "rb") as handle:
            for line in handle:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss if os.uname().sysname == "Darwin" else maxrss * 1024


def rss() -> int | None:
    """The resident memory of this process now, in bytes."""
    try:
        with open("/proc/self/statm", "rb") as handle:
            return int(handle.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


class Usage:
    """One run's resource accounting, from its start to `final`."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.started = time.time()
        self._cpu0 = _cpu()
        self._scope = "run" if _reset_peak() else "process"
        self._last = (self.started, sum(self._cpu0))
        self.due = self.started + interval if interval > 0 else float("inf")
        self._gpus: list[tuple[str, Any, str]] = []
        self._gpu_stats: list[dict[str, float]] = []
        self._lib = gpus.nvml() if interval > 0 else None
        if self._lib is not None:
            with contextlib.suppress(Exception):  # a driver that fails reads as no GPU
                self._gpus = gpus.handles(self._lib)
        self._seen = list(self._gpus)  # names kept if a GPU stops answering
        self._gpu_stats = [{"peak": 0.0, "util_sum": 0.0, "util_max": 0.0, "n": 0}
                           for _ in self._gpus]  # fmt: skip
        self._read_gpus()

    def sample(self, now: float) -> dict[str, float]:
        """The `sys/` values of now (the flusher tracks them); the next sample is due later."""
        self.due = now + self.interval
        cpu = sum(_cpu())
        last_now, last_cpu = self._last
        self._last = (now, cpu)
        values = {"sys/cpu_percent": 100.0 * (cpu - last_cpu) / max(now - last_now, 1e-6)}
        current = rss()
        if current is not None:
            values["sys/rss_mb"] = current / 2**20
        for (ident, _, _), reading in zip(self._gpus, self._read_gpus(), strict=False):
            values[f"sys/gpu{ident}/memory_mb"] = reading["memory_mb"]
            values[f"sys/gpu{ident}/util_percent"] = reading["util_percent"]
        return values

    def _read_gpus(self) -> list[dict[str, float]]:
        if not self._gpus:
            return []
        try:
            found = gpus.readings(self._lib, [handle for _, handle, _ in self._gpus])
        except Exception:  # a GPU gone (reset, lost): stop asking
            self._gpus = []
            return []
        for stats, reading in zip(self._gpu_stats, found, strict=False):
            stats["peak"] = max(stats["peak"], reading["memory_mb"])
            stats["util_sum"] += reading["util_percent"]
            stats["util_max"] = max(stats["util_max"], reading["util_percent"])
            stats["n"] += 1
        return found

    def final(self, ended: float) -> dict[str, Any]:
        """summary.json's `resources`: wall, CPU, peak RSS and, when NVML answered, each GPU."""
        user, system = _cpu()
        self._read_gpus()
        found: dict[str, Any] = {
            "wall_s": round(ended - self.started, 6),
            "cpu_user_s": round(user - self._cpu0[0], 6),
            "cpu_system_s": round(system - self._cpu0[1], 6),
            "peak_rss_bytes": peak_rss(),
            "peak_rss_scope": self._scope,
            "sys_interval_s": self.interval,
        }
        if self._gpu_stats:
            found["gpus"] = [
                {
                    "id": ident,
                    "name": name,
                    "memory_peak_mb": round(stats["peak"], 3),
                    "util_mean_percent": round(stats["util_sum"] / stats["n"], 3)
                    if stats["n"]
                    else None,
                    "util_max_percent": stats["util_max"],
                    "samples": int(stats["n"]),
                }
                for (ident, _, name), stats in zip(self._seen, self._gpu_stats, strict=True)
            ]
        return found
