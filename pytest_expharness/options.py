"""Command-line options and ini keys, with their help texts in one place.

Imported when the plugin loads: it holds nothing but the option definitions.
"""

from __future__ import annotations

import argparse

import pytest

# options whose bad values are usage errors at once, before collection (plugin.py)
CHECKED_FIRST = (
    "exp_set",
    "exp_config",
    "exp_sweep",
    "exp_repeats",
    "exp_search",
    "exp_trials",
    "exp_columns",
    "exp_baseline",
    "exp_tolerance",
)
HELP_ROOT = (
    "folder that archives every run (default: results/ at the project root: the rootdir with "
    "a pytest config file, else the top of the git checkout, else the rootdir; ini: exp_root)"
)
HELP_TESTING = (
    "testing mode: apply each experiment's testing overrides and archive under <root>/_testing/"
)
HELP_TAG = "tag every run of this session (repeatable; ini: exp_tags)"
HELP_CONFIG = "YAML file of parameter overrides (KEY: value), applied before --exp-set"
HELP_SET = "override a parameter: KEY=VALUE, the value parsed as YAML (repeatable)"
HELP_DEBUG = "debug mode: runs go to <root>/<experiment>/debug/, replaced each session"
HELP_SWEEP = "make a parameter a sweep axis: NAME=v1,v2,... values parsed as YAML (repeatable)"
HELP_REPEATS = "run every grid point N times with distinct, recorded seeds"
HELP_RESUME = (
    "skip grid points that already have a completed run with the same parameters and "
    "experiment source under the root; the table shows them as reused"
)
HELP_REPRODUCIBLE = (
    "also keep, in every run's code/ folder, the conftest files, the uncommitted git "
    "changes (uncommitted.patch) and every installed package version (requirements.txt)"
)
HELP_REQUIRE_CLEAN = (
    "refuse to start a session that would run experiments on a git work tree with "
    "uncommitted changes (outside the archive), outside git, or without commits; by "
    "default such a session warns once (ini: exp_require_clean)"
)
HELP_NO_CACHE = "compute everything anew: exp.cache neither reads nor writes <root>/.cache/"
HELP_SLURM = (
    "run the selected tests on SLURM as one job array (sbatch), then wait and write the "
    "tables; the job files are kept in <root>/_slurm/<session>/"
)
HELP_SLURM_OPT = "an sbatch option for the job, e.g. --exp-slurm-opt=--partition=gpu (repeatable)"
HELP_SLURM_PARALLEL = "at most P array tasks at once (sbatch --array=0-N%%P)"
HELP_SLURM_GRACE = (
    "SLURM warns a task this long before its time limit (--signal=B:USR1@SECONDS): the run "
    "in flight ends preempted and the task requeues, to go on from its checkpoint "
    "(default 120; 0: no warning, no requeue)"
)
HELP_SLURM_CHUNK = "K tests per array task, run with -n $SLURM_CPUS_PER_TASK (default 1)"
HELP_SLURM_DETACH = "submit and exit at once; `expharness collect SESSION` writes the tables later"
HELP_SEARCH = (
    "search a parameter with Optuna: NAME=DIST, e.g. 'LR=loguniform(1e-4,1e-1)', "
    "'LAYERS=int(1,4)', 'KIND=choice(a,b)' (repeatable; needs pytest-expharness[search])"
)
HELP_TRIALS = "how many trials each search runs (default 20; 2 with --exp-testing)"
HELP_SAMPLER = "the search's sampler: tpe (default), random, cmaes, grid or qmc"
HELP_PRUNER = (
    "stop hopeless trials early: median (default; none for trials with repeats), hyperband or none"
)
HELP_SEED = "seed of the search's sampler (default: one drawn from the session stamp)"
HELP_PROGRESS = (
    "live view of the runs in flight: redrawn in place on a terminal; elsewhere printed as "
    "plain lines every SECONDS (default 30; 0: no live view; ini: exp_progress)"
)
HELP_SYS_INTERVAL = (
    "sample every run's CPU, memory and GPUs as sys/... series every SECONDS "
    "(default 10; 0: no series and no GPU readings)"
)
HELP_GPUS = (
    "give each xdist worker its own GPUs through CUDA_VISIBLE_DEVICES, round robin: auto "
    "(found through NVML or nvidia-smi) or device numbers, as 0,1,2,3; under SLURM the "
    "allocation is recorded, not changed"
)
HELP_COLUMNS = (
    "add columns to the comparison tables, comma-separated (repeatable): wall_s, cpu_s, "
    "peak_rss_mb, gpu_mem_mb, gpu_util_percent, resources (all five) or sys/NAME "
    "(ini: exp_columns)"
)
HELP_BASELINE = (
    "fail a run whose main metric (and each metric named in the marker's tolerance=) "
    "regressed from its point's baseline: the file baselines/<experiment>.json beside its "
    "module (no value), or the archive's runs labelled NAME (label:NAME; ini: exp_baseline)"
)
HELP_BASELINE_UPDATE = (
    "write baselines/<experiment>.json (.testing.json with --exp-testing) beside each "
    "module from this session's runs, to commit"
)
HELP_BASELINE_STRICT = "with --exp-baseline, fail a run whose point has no baseline"
HELP_TOLERANCE = (
    "how far a metric may move from its baseline when the marker's tolerance= says nothing: "
    "a number (absolute) or a percentage of the baseline (default 5%%)"
)
HELP_GPUS_PER_RUN = "how many GPUs each worker gets with --exp-gpus (default 1)"
HELP_MLFLOW = (
    "when the session ends, mirror its runs to this MLflow tracking URI (e.g. "
    "sqlite:///mlflow.db, http://host:5000): params, every metric point, tags, artifacts; "
    "done once by the controller, never during runs (needs pytest-expharness[mlflow])"
)
MARKER_HELP = (
    "experiment(name=None, description=None, tags=(), testing=None, repeats=None, "
    "metric=None, mode='min', steps=None, search=None): describe an experiment; testing is a "
    "dict of parameter overrides used with --exp-testing; metric names the main metric of its "
    "sweep table; steps names the parameter that says how many steps a run takes (live view); "
    "search maps parameters to distributions searched with Optuna (--exp-trials)"
)


def add_options(parser: pytest.Parser) -> None:
    """Register the exp command-line options and ini keys."""
    group = parser.getgroup("expharness", "experiment harness")
    group.addoption("--exp-root", dest="exp_root", metavar="DIR", default=None, help=HELP_ROOT)
    group.addoption("--exp-testing", dest="exp_testing", action="store_true", help=HELP_TESTING)
    group.addoption(
        "--exp-tag", dest="exp_tags", action="append", default=[], metavar="TAG", help=HELP_TAG
    )
    group.addoption(
        "--exp-config", dest="exp_config", metavar="FILE", default=None, help=HELP_CONFIG
    )
    group.addoption(
        "--exp-set", dest="exp_set", action="append", default=[], metavar="KEY=VALUE", help=HELP_SET
    )
    group.addoption("--exp-debug", dest="exp_debug", action="store_true", help=HELP_DEBUG)
    group.addoption(
        "--exp-sweep",
        dest="exp_sweep",
        action="append",
        default=[],
        metavar="NAME=V1,V2",
        help=HELP_SWEEP,
    )
    group.addoption(
        "--exp-repeats", dest="exp_repeats", type=int, default=None, metavar="N", help=HELP_REPEATS
    )
    group.addoption(
        "--exp-search",
        dest="exp_search",
        action="append",
        default=[],
        metavar="NAME=DIST",
        help=HELP_SEARCH,
    )
    group.addoption(
        "--exp-trials", dest="exp_trials", type=int, default=None, metavar="N", help=HELP_TRIALS
    )
    group.addoption(
        "--exp-sampler",
        dest="exp_sampler",
        default="tpe",
        choices=("tpe", "random", "cmaes", "grid", "qmc"),
        help=HELP_SAMPLER,
    )
    group.addoption(
        "--exp-pruner",
        dest="exp_pruner",
        default=None,
        choices=("median", "hyperband", "none"),
        help=HELP_PRUNER,
    )
    group.addoption(
        "--exp-seed", dest="exp_seed", type=int, default=None, metavar="N", help=HELP_SEED
    )
    group.addoption("--exp-resume", dest="exp_resume", action="store_true", help=HELP_RESUME)
    group.addoption(
        "--exp-reproducible", dest="exp_reproducible", action="store_true", help=HELP_REPRODUCIBLE
    )
    group.addoption("--exp-no-cache", dest="exp_no_cache", action="store_true", help=HELP_NO_CACHE)
    group.addoption(
        "--exp-require-clean",
        dest="exp_require_clean",
        action="store_true",
        default=None,
        help=HELP_REQUIRE_CLEAN,
    )
    group.addoption("--exp-slurm", dest="exp_slurm", action="store_true", help=HELP_SLURM)
    group.addoption(
        "--exp-slurm-opt",
        dest="exp_slurm_opt",
        action="append",
        default=[],
        metavar="OPTION",
        help=HELP_SLURM_OPT,
    )
    group.addoption(
        "--exp-slurm-parallel",
        dest="exp_slurm_parallel",
        type=int,
        default=None,
        metavar="P",
        help=HELP_SLURM_PARALLEL,
    )
    group.addoption(
        "--exp-slurm-grace",
        dest="exp_slurm_grace",
        type=int,
        default=120,
        metavar="SECONDS",
        help=HELP_SLURM_GRACE,
    )
    group.addoption(
        "--exp-slurm-chunk",
        dest="exp_slurm_chunk",
        type=int,
        default=1,
        metavar="K",
        help=HELP_SLURM_CHUNK,
    )
    group.addoption(
        "--exp-slurm-detach", dest="exp_slurm_detach", action="store_true", help=HELP_SLURM_DETACH
    )
    group.addoption("--exp-slurm-task", dest="exp_slurm_task", default=None, help=argparse.SUPPRESS)
    group.addoption(
        "--exp-progress",
        dest="exp_progress",
        type=_seconds,
        default=None,
        metavar="SECONDS",
        help=HELP_PROGRESS,
    )
    group.addoption(
        "--exp-sys-interval",
        dest="exp_sys_interval",
        type=_interval,
        default=10.0,
        metavar="SECONDS",
        help=HELP_SYS_INTERVAL,
    )
    group.addoption("--exp-gpus", dest="exp_gpus", default=None, metavar="auto|IDS", help=HELP_GPUS)
    group.addoption(
        "--exp-gpus-per-run",
        dest="exp_gpus_per_run",
        type=int,
        default=1,
        metavar="K",
        help=HELP_GPUS_PER_RUN,
    )
    group.addoption(
        "--exp-columns",
        dest="exp_columns",
        action="append",
        default=[],
        metavar="NAMES",
        help=HELP_COLUMNS,
    )
    group.addoption(
        "--exp-baseline",
        dest="exp_baseline",
        nargs="?",
        const="file",
        default=None,
        metavar="label:NAME",
        help=HELP_BASELINE,
    )
    group.addoption(
        "--exp-baseline-update",
        dest="exp_baseline_update",
        action="store_true",
        help=HELP_BASELINE_UPDATE,
    )
    group.addoption(
        "--exp-baseline-strict",
        dest="exp_baseline_strict",
        action="store_true",
        help=HELP_BASELINE_STRICT,
    )
    group.addoption(
        "--exp-tolerance", dest="exp_tolerance", default=None, metavar="TOL", help=HELP_TOLERANCE
    )
    parser.addini("exp_baseline", HELP_BASELINE, default="")
    group.addoption("--exp-mlflow", dest="exp_mlflow", metavar="URI", help=HELP_MLFLOW)
    parser.addini("exp_progress", HELP_PROGRESS, default="30")
    parser.addini("exp_columns", HELP_COLUMNS, type="args", default=[])
    parser.addini("exp_slurm_options", HELP_SLURM_OPT, type="linelist", default=[])
    parser.addini("exp_root", HELP_ROOT, default=None)
    parser.addini("exp_tags", HELP_TAG, type="linelist", default=[])
    parser.addini("exp_require_clean", HELP_REQUIRE_CLEAN, type="bool", default=False)


def _seconds(text: str) -> float:
    """Parse --exp-progress: seconds, at least 0."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: give seconds, 0 or more (0: no live view)")
    return value


def _interval(text: str) -> float:
    """Parse --exp-sys-interval: seconds, at least 0."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: give seconds, 0 or more (0: no sampling)")
    return value
