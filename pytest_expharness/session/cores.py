"""Sharing the cores between xdist workers: BLAS threads limited inside runs only.

Every worker's numpy would otherwise start one BLAS thread per core: with -n 2 on
2 cores, four threads fight for two cores and a sweep runs at half speed or worse.
So while a run runs, its BLAS libraries (OpenBLAS, MKL, BLIS, through threadpoolctl)
get the worker's share of the cores this process may use (a SLURM or cgroup
allocation, not the machine's), and their old limits come back when it ends. The
environment is never changed: other tests of the session, and processes they start,
see what the user set. A user who set OMP_NUM_THREADS, OPENBLAS_NUM_THREADS or
MKL_NUM_THREADS has chosen, and is left alone.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

BLAS_THREADS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

_controller: Any = None
_controller_saw_numpy = False


def available_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def blas_share(environ: dict[str, str] | os._Environ[str] = os.environ) -> int | None:
    """The BLAS threads one run of this worker may use; None when nothing is to be limited."""
    workers = environ.get("PYTEST_XDIST_WORKER_COUNT")
    if not workers or any(name in environ for name in BLAS_THREADS):
        return None
    try:
        count = int(workers)
    except ValueError:
        return None
    cores = available_cores()
    return max(1, cores // count) if count > 1 else None


def _blas_controller() -> Any:
    """One threadpoolctl controller per process, made again once numpy has been loaded."""
    global _controller, _controller_saw_numpy
    has_numpy = "numpy" in sys.modules
    if _controller is None or (has_numpy and not _controller_saw_numpy):
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:  # pragma: no cover - a core dependency
            return None
        _controller, _controller_saw_numpy = ThreadpoolController(), has_numpy
    return _controller


@contextmanager
def limited_blas() -> Iterator[int | None]:
    """Limit BLAS threads to this worker's share while the block runs; yield the share."""
    share = blas_share()
    controller = _blas_controller() if share is not None else None
    if controller is None or not controller.select(user_api="blas").lib_controllers:
        yield None
        return
    limits = controller.limit(limits=share, user_api="blas")
    try:
        yield share
    finally:
        limits.restore_original_limits()
