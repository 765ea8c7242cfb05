"""Sharing the cores between xdist workers."""

from __future__ import annotations

from typing import Any

BLAS_THREADS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def share_cores(config: Any) -> None:
    """Give each xdist worker its share of the cores for BLAS threads (unless set already).

    Every worker's numpy would otherwise start one BLAS thread per core: with
    -n 2 on 2 cores, four threads fight for two cores and a sweep can run at
    half speed. Workers inherit the environment when they start, after this.
    """
    import os

    workers = getattr(config.option, "numprocesses", None)
    if not workers or hasattr(config, "workerinput"):
        return
    try:  # the cores this process may use (a SLURM or cgroup allocation), not the machine's
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    count = cores if workers in ("auto", "logical") else int(workers)
    share = str(max(1, cores // max(count, 1)))
    for name in BLAS_THREADS:
        os.environ.setdefault(name, share)
